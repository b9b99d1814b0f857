// The 'wasm' backend: GEMM, im2col, col2im and max pooling in WebAssembly SIMD (AssemblyScript, assembly/kernels.ts),
// GEMM split over worker threads; the other kernels are the reference TypeScript ones (memory-bound, and they run on
// views of the wasm memory without copies). im2col/col2im/pooling use wasm when all their arrays are in its memory.
//
// Data movement: allocFloat32() hands out views into the backend's shared wasm memory, and Blob allocates its data and
// diff through it, so layer operands are usually already there: a kernel detects that (the array's buffer is one of the
// memory's) and passes byteOffset as the pointer. Any other Float32Array is copied into a scratch area first (and C
// copied back), which is correct, only slower.
//
// Threads: TSCAFFE_THREADS (default os.availableParallelism()) threads, the caller included. GEMMs of at least
// TSCAFFE_WASM_PAR_MIN (100000) multiply-adds are cut into chunks that the caller and idle workers claim through
// Atomics (protocol.ts, pool.ts); per shape, the runtime times split and lone runs and keeps the faster (runtime.ts;
// TSCAFFE_WASM_ADAPTIVE=0 always splits). Memory and its growth: heap.ts.
// SIMD: the relaxed-SIMD build (FMA) where V8 supports it (enabled at runtime on Node 20), else plain SIMD128;
// TSCAFFE_WASM_SIMD=simd forces the plain build.
import type { Backend, ConvGeometry } from '../backend.js';
import { registerBackend } from '../backend.js';
import { createTsBackend } from '../ts/index.js';
import { ADAPTIVE_DEFAULT, VARIANTS, defaultThreads, shutdownWasmWorkers, wasmRuntime, type SimdVariant,
  type WasmRuntime } from './runtime.js';

export { shutdownWasmWorkers, type SimdVariant };

export interface WasmBackendOptions {
  /** Threads for GEMM, the calling thread included (default: TSCAFFE_THREADS or os.availableParallelism()). */
  threads?: number;
  /** Kernel build: 'relaxed' (FMA; falls back to 'simd' where unsupported) or 'simd' (default: TSCAFFE_WASM_SIMD or 'relaxed'). */
  simd?: SimdVariant;
  /**
   * Choose per GEMM shape between splitting over threads and running alone by measured time (default: true unless
   * TSCAFFE_WASM_ADAPTIVE=0); false always splits large GEMMs when workers are free.
   */
  adaptive?: boolean;
}

export interface WasmBackend extends Backend {
  readonly threads: number;
  /** The kernel build in use. */
  readonly simd: SimdVariant;
  allocFloat32(n: number): Float32Array;
  /** Whether `arr` lives in the backend's memory (kernels then use it in place). */
  inMemory(arr: Float32Array): boolean;
  /** Resolves once the worker threads have started (GEMMs before that run on fewer threads). */
  ready(): Promise<void>;
  /** Process-wide GEMM counters (all wasm backend objects share one runtime). */
  readonly stats: { readonly parallelGemms: number; readonly serialGemms: number; readonly workerChunks: number };
}

/** A reusable scratch block for operands that live outside the wasm memory. */
class Scratch {
  private ptr = -1;
  private cap = 0;
  private view: Float32Array = new Float32Array(0);
  constructor(private readonly rt: WasmRuntime) {}
  /** A view of at least n floats (contents undefined) at a stable pointer until the next larger request. */
  get(n: number): Float32Array {
    if (n > this.cap) {
      if (this.ptr >= 0) this.rt.heap.release(this.ptr);
      this.cap = Math.max(n, Math.ceil(this.cap * 1.5));
      this.ptr = this.rt.heap.alloc(this.cap * 4);
      this.view = this.rt.heap.f32(this.ptr, this.cap);
    }
    return this.view;
  }
}

function convOut(g: ConvGeometry): [number, number] {
  const outH = Math.floor((g.height + 2 * g.padH - (g.dilationH * (g.kernelH - 1) + 1)) / g.strideH) + 1;
  const outW = Math.floor((g.width + 2 * g.padW - (g.dilationW * (g.kernelW - 1) + 1)) / g.strideW) + 1;
  return [outH, outW];
}

function need(arr: Float32Array, n: number, what: string): void {
  if (arr.length < n) throw new RangeError(`wasm backend: ${what} has ${arr.length} elements, ${n} needed`);
}

export function createWasmBackend(opts: WasmBackendOptions = {}): WasmBackend {
  const rt = wasmRuntime();
  const threads = Math.max(1, Math.floor(opts.threads ?? defaultThreads()));
  const envSimd = process.env.TSCAFFE_WASM_SIMD;
  const wanted: SimdVariant = opts.simd ?? (envSimd === 'simd' || envSimd === 'plain' ? 'simd' : 'relaxed');
  const simd: SimdVariant = rt.supports(wanted) ? wanted : VARIANTS.find((v) => rt.supports(v))!;
  const variant = VARIANTS.indexOf(simd);
  const adaptive = opts.adaptive ?? ADAPTIVE_DEFAULT;
  const kernels = rt.main(variant);
  const heap = rt.heap;
  const ts = createTsBackend();
  const scratchA = new Scratch(rt), scratchB = new Scratch(rt), scratchC = new Scratch(rt);
  if (threads > 1) rt.pool.grow(threads - 1);

  /** Pointer to the first n floats of arr, copied into scratch if arr is not in the wasm memory. */
  const input = (arr: Float32Array, n: number, s: Scratch): number => {
    if (heap.owns(arr)) return arr.byteOffset;
    const v = s.get(n);
    v.set(n === arr.length ? arr : arr.subarray(0, n));
    return v.byteOffset;
  };

  const geometryArgs = (g: ConvGeometry) => [g.channels, g.height, g.width, g.kernelH, g.kernelW, g.padH, g.padW,
    g.strideH, g.strideW, g.dilationH, g.dilationW] as const;

  return {
    ...ts,
    name: 'wasm',
    threads,
    simd,
    stats: rt.stats,

    gemm(transA, transB, M, N, K, alpha, A, B, beta, C) {
      if (M <= 0 || N <= 0) return;
      const mn = M * N;
      need(C, mn, 'C');
      if (K <= 0 || alpha === 0) {
        if (beta === 0) C.fill(0, 0, mn);
        else if (beta !== 1) for (let i = 0; i < mn; i++) C[i]! *= beta;
        return;
      }
      need(A, M * K, 'A');
      need(B, K * N, 'B');
      const pa = input(A, M * K, scratchA);
      const pb = input(B, K * N, scratchB);
      if (heap.owns(C)) {
        rt.gemm(variant, threads, adaptive, transA, transB, M, N, K, alpha, pa, pb, beta, C.byteOffset);
        return;
      }
      const c = scratchC.get(mn);
      if (beta !== 0) c.set(C.subarray(0, mn));
      rt.gemm(variant, threads, adaptive, transA, transB, M, N, K, alpha, pa, pb, beta, c.byteOffset);
      C.set(c.subarray(0, mn));
    },

    im2col(im, g, col) {
      if (!heap.owns(im) || !heap.owns(col)) return ts.im2col(im, g, col);
      const [outH, outW] = convOut(g);
      need(im, g.channels * g.height * g.width, 'im');
      need(col, g.channels * g.kernelH * g.kernelW * outH * outW, 'col');
      kernels.im2col(im.byteOffset, ...geometryArgs(g), col.byteOffset);
    },

    col2im(col, g, im) {
      if (!heap.owns(im) || !heap.owns(col)) return ts.col2im(col, g, im);
      const [outH, outW] = convOut(g);
      need(im, g.channels * g.height * g.width, 'im');
      need(col, g.channels * g.kernelH * g.kernelW * outH * outW, 'col');
      kernels.col2im(col.byteOffset, ...geometryArgs(g), im.byteOffset);
    },

    maxPoolForward(bottom, g, top, mask) {
      if (!heap.owns(bottom) || !heap.owns(top) || !heap.owns(mask)) return ts.maxPoolForward(bottom, g, top, mask);
      const planes = g.num * g.channels;
      need(bottom, planes * g.height * g.width, 'bottom');
      need(top, planes * g.pooledH * g.pooledW, 'top');
      need(mask, planes * g.pooledH * g.pooledW, 'mask');
      kernels.maxPoolForward(bottom.byteOffset, planes, g.height, g.width, g.pooledH, g.pooledW, g.kernelH, g.kernelW,
        g.padH, g.padW, g.strideH, g.strideW, top.byteOffset, mask.byteOffset);
    },

    maxPoolBackward(topDiff, mask, g, bottomDiff) {
      if (!heap.owns(topDiff) || !heap.owns(mask) || !heap.owns(bottomDiff)) return ts.maxPoolBackward(topDiff, mask, g, bottomDiff);
      const planes = g.num * g.channels;
      need(bottomDiff, planes * g.height * g.width, 'bottomDiff');
      need(topDiff, planes * g.pooledH * g.pooledW, 'topDiff');
      need(mask, planes * g.pooledH * g.pooledW, 'mask');
      kernels.maxPoolBackward(topDiff.byteOffset, mask.byteOffset, planes, g.height, g.width, g.pooledH, g.pooledW,
        bottomDiff.byteOffset);
    },

    allocFloat32(n) {
      return heap.allocFloat32(n);
    },

    inMemory(arr) {
      return heap.owns(arr);
    },

    async ready() {
      if (threads > 1) {
        rt.pool.grow(threads - 1);
        await rt.pool.whenReady(threads - 1);
      }
    },
  };
}

registerBackend('wasm', () => createWasmBackend());
