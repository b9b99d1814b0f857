// The thread-free core of the 'wasm' backend's runtime, shared by Node (runtime.ts adds the worker pool and splits
// large GEMMs over it) and browsers (src/browser/wasm_runtime.ts): the compiled kernel modules instantiated on one
// heap, the calling thread's GEMM workspace, and GEMMs run whole on the calling thread.
import { WasmHeap, type HeapOptions } from './heap.js';
import { instantiate, type KernelExports } from './protocol.js';
import { WA, type WasmModule } from './wasm_api.js';

export type SimdVariant = 'relaxed' | 'simd';
/** The kernel builds, by variant index (the index is what the backend and the workers pass around). */
export const VARIANTS: readonly SimdVariant[] = ['relaxed', 'simd'];

/** What a runtime with worker threads offers on top (runtime.ts's WorkerPool). */
export interface ThreadPool {
  grow(n: number): void;
  whenReady(n: number): Promise<void>;
}

export class KernelRuntime {
  readonly heap: WasmHeap;
  /** Compiled modules by variant index (undefined: not supported here). */
  readonly modules: (WasmModule | undefined)[];
  private readonly kernels: (KernelExports | undefined)[];
  /** Floats of GEMM workspace each thread needs. */
  protected readonly workFloats: number;
  private readonly mainWork: number;
  /** The main thread's GEMM workspace (pointer). */
  get mainWorkPtr(): number { return this.mainWork; }
  /** Worker threads, where the runtime has them. */
  readonly pool?: ThreadPool;
  /** GEMM calls so far that were cut into chunks for several threads / ran on the calling thread only; chunks run by workers. */
  readonly stats = { parallelGemms: 0, serialGemms: 0, workerChunks: 0 };

  /** `modules` by variant index (undefined where unsupported); `memory` describes the heap they share. */
  constructor(modules: (WasmModule | undefined)[], memory: HeapOptions & { shared: boolean }) {
    this.modules = modules;
    const first = modules.find((m) => m);
    if (!first) throw new Error('wasm backend: no kernel module compiled here (WebAssembly SIMD needs SSE4.1 and SIMD128)');
    // Probe the static layout with a throw-away memory, then make the real one.
    const probe = instantiate(first, new WA.Memory({ initial: 1, maximum: 1, ...(memory.shared ? { shared: true } : {}) }));
    this.heap = new WasmHeap(probe.heapBase(), memory);
    this.kernels = modules.map((m) => (m ? instantiate(m, this.heap.memory) : undefined));
    const zero = this.kernels.find((k) => k)!.zero;
    this.heap.zeroBytes = (ptr, bytes) => zero(ptr, bytes);
    this.workFloats = probe.workFloats();
    this.mainWork = this.heap.alloc(this.workFloats * 4);
  }

  supports(variant: SimdVariant): boolean {
    return this.modules[VARIANTS.indexOf(variant)] !== undefined;
  }

  /** Kernels of `variant` on the calling (main) thread. */
  main(variant: number): KernelExports {
    return this.kernels[variant]!;
  }

  /**
   * C = alpha op(A) op(B) + beta C on pointers into the heap; layout: [lda, ablk, abs, ldb, bblk, bbs, ldc, cblk, cbs]
   * (see Backend.gemmEx; blk 0 = plain). Here on the calling thread; runtime.ts splits large ones over `threads`.
   */
  gemm(variant: number, _threads: number, _adaptive: boolean, transA: boolean, transB: boolean, M: number, N: number,
    K: number, alpha: number, a: number, b: number, beta: number, c: number, layout: ArrayLike<number>): void {
    this.gemmHere(this.kernels[variant]!, transA ? 1 : 0, transB ? 1 : 0, M, N, K, alpha, a, b, beta, c, layout);
  }

  /** The whole GEMM on the calling thread. */
  protected gemmHere(k: KernelExports, tA: number, tB: number, M: number, N: number, K: number, alpha: number, a: number,
    b: number, beta: number, c: number, layout: ArrayLike<number>): void {
    this.stats.serialGemms++;
    k.gemm(tA, tB, M, N, K, alpha, a, b, beta, c, 0, M, 0, N, this.mainWork, layout[0]!, layout[1]!, layout[2]!,
      layout[3]!, layout[4]!, layout[5]!, layout[6]!, layout[7]!, layout[8]!);
  }
}
