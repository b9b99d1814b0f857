// The 'wasm' backend's process-wide runtime in Node: the compiled kernel modules (relaxed-SIMD and plain-SIMD builds)
// read from their files, and on top of the thread-free part shared with browsers (kernel_runtime.ts: the shared memory
// and its allocator, the main thread's instances) the worker pool. One per process, made on first use: every backend
// object created by createBackend('wasm') shares it, so blobs allocated by one work with all. Browser bundles use
// src/browser/wasm_runtime_default.ts in its place (package.json "browser" field).
import { readFileSync } from 'node:fs';
import os from 'node:os';
import v8 from 'node:v8';
import { performance } from 'node:perf_hooks';
import { KernelRuntime, VARIANTS, type SimdVariant } from './kernel_runtime.js';
import { nodeHeapGc } from './node_gc.js';
import { WorkerPool } from './pool.js';
import { WA, type WasmModule } from './wasm_api.js';
import { ARGS, G_LAYOUT, G_A, G_ALPHA, G_B, G_BETA, G_C, G_K, G_M, G_N, G_SPLIT_N, G_TILE, G_TRANS_A, G_TRANS_B } from './protocol.js';

export { VARIANTS, type SimdVariant };

/** GEMMs with fewer multiply-adds than this run on the calling thread only. */
const PARALLEL_MIN_FMA = Number(process.env.TSCAFFE_WASM_PAR_MIN ?? 100_000);
/** Chunks per participating thread: more balance the load when a thread is late, fewer repack less. */
const CHUNKS_PER_THREAD = Number(process.env.TSCAFFE_WASM_CHUNKS ?? 2);
/**
 * Adaptive parallelism. On a loaded machine (more runnable threads than cores) splitting a GEMM can be slower than
 * running it alone: a woken worker may even preempt the main thread. So for each GEMM shape the runtime keeps running
 * averages of the call time alone and split, runs the faster way, and every PROBE_EVERY calls re-tries the other way
 * for PROBE_BURST calls. A call made in the other way than the GEMM before it pays for the switch (a worker waking up,
 * caches) and is not counted, unless that way has no measurement yet. TSCAFFE_WASM_ADAPTIVE=0 turns this off (always
 * split when workers are free).
 */
export const ADAPTIVE_DEFAULT = process.env.TSCAFFE_WASM_ADAPTIVE !== '0';
const PROBE_EVERY = 64;
const PROBE_BURST = 4;
const MAX_SHAPES = 4096;

interface ShapeTiming {
  calls: number;
  /** Running averages of the call time (ms) alone and split; 0 = not measured yet. */
  serialMs: number;
  parallelMs: number;
}

/** Register tile of the kernels (assembly/kernels.ts): threads split C in multiples of it. */
const MR = 4;
const NR = 8;

function readModuleBytes(variant: SimdVariant): Uint8Array {
  const name = `kernels-${variant}.wasm`;
  // Beside this file (source layout), or in src/ when running the compiled dist/src/backend/wasm/index.js.
  const candidates = [new URL(`./${name}`, import.meta.url), new URL(`../../../../src/backend/wasm/${name}`, import.meta.url)];
  for (const u of candidates) {
    try {
      return readFileSync(u);
    } catch { /* next */ }
  }
  throw new Error(`wasm backend: ${name} not found (run npm run build:wasm)`);
}

/**
 * Compile a module, enabling relaxed SIMD in V8 first if needed: Node 20 (V8 11.3) has it behind
 * --experimental-wasm-relaxed-simd, which takes effect for modules compiled after it is set; Node 22 ships it on.
 * Returns undefined where this V8 cannot compile the module.
 */
function compile(variant: SimdVariant): WasmModule | undefined {
  const bytes = readModuleBytes(variant);
  if (!WA.validate(bytes) && variant === 'relaxed') {
    try { v8.setFlagsFromString('--experimental-wasm-relaxed-simd'); } catch { /* unknown flag: not available */ }
  }
  if (!WA.validate(bytes)) return undefined;
  return new WA.Module(bytes);
}

export class WasmRuntime extends KernelRuntime {
  override readonly pool: WorkerPool;
  private readonly timings = new Map<string, ShapeTiming>();
  private lastShape = '';
  private lastTiming: ShapeTiming | undefined;
  /** Whether the previous (large, adaptive) GEMM was split. */
  private lastSplit = false;

  constructor() {
    const modules = VARIANTS.map(compile);
    if (!modules.some((m) => m)) throw new Error('wasm backend: this Node.js cannot compile WebAssembly SIMD (needs SSE4.1 and SIMD128)');
    super(modules, { shared: true, gc: nodeHeapGc });
    // Workers get every module, with a placeholder where one is unsupported (they are never asked to run it).
    const first = modules.find((m) => m)!;
    this.pool = new WorkerPool(this.heap, modules.map((m) => m ?? first), this.workFloats, 50, 200);
  }

  /**
   * C = alpha op(A) op(B) + beta C on pointers into the heap; layout: [lda, ablk, abs, ldb, bblk, bbs, ldc, cblk, cbs]
   * (see Backend.gemmEx; blk 0 = plain). Large problems are cut into chunks (column ranges of C,
   * or row ranges, in multiples of the register tile) that this thread and up to threads - 1 idle workers claim
   * dynamically; small ones run here only.
   */
  override gemm(variant: number, threads: number, adaptive: boolean, transA: boolean, transB: boolean, M: number, N: number,
    K: number, alpha: number, a: number, b: number, beta: number, c: number, layout: ArrayLike<number>): void {
    const k = this.main(variant);
    const tA = transA ? 1 : 0, tB = transB ? 1 : 0;
    let helpers = 0;
    let timing: ShapeTiming | undefined;
    if (threads > 1 && M * N * K >= PARALLEL_MIN_FMA) {
      if (this.pool.size < threads - 1) this.pool.grow(threads - 1);
      if (adaptive) timing = this.timingOf(tA, tB, M, N, K);
      if (!timing || this.shouldSplit(timing)) helpers = this.pool.available(threads - 1);
    }
    // Split the dimension whose operand is cheaper to pack again per chunk: along N every chunk packs all of op(A)
    // (M x K), along M all of op(B) (K x N). Fall back to the other one if it has too few tiles.
    const tilesN = Math.ceil(N / NR), tilesM = Math.ceil(M / MR);
    const want = CHUNKS_PER_THREAD * (helpers + 1);
    let splitN = M <= N;
    if ((splitN ? tilesN : tilesM) < want && (splitN ? tilesM : tilesN) > (splitN ? tilesN : tilesM)) splitN = !splitN;
    const chunks = Math.min(want, splitN ? tilesN : tilesM);
    const split = helpers > 0 && chunks > 1;
    const t0 = timing ? performance.now() : 0;
    if (!split) {
      this.gemmHere(k, tA, tB, M, N, K, alpha, a, b, beta, c, layout);
      if (timing) this.record(timing, false, performance.now() - t0);
      return;
    }
    this.stats.parallelGemms++;
    const { ctrl, ctrlF } = this.pool;
    ctrl[ARGS + G_TRANS_A] = tA; ctrl[ARGS + G_TRANS_B] = tB;
    ctrl[ARGS + G_M] = M; ctrl[ARGS + G_N] = N; ctrl[ARGS + G_K] = K;
    ctrlF[ARGS + G_ALPHA] = alpha; ctrlF[ARGS + G_BETA] = beta;
    ctrl[ARGS + G_A] = a; ctrl[ARGS + G_B] = b; ctrl[ARGS + G_C] = c;
    for (let i = 0; i < 9; i++) ctrl[ARGS + G_LAYOUT + i] = layout[i]!;
    ctrl[ARGS + G_SPLIT_N] = splitN ? 1 : 0;
    ctrl[ARGS + G_TILE] = splitN ? NR : MR;
    this.stats.workerChunks += this.pool.runGemm(k, variant, this.mainWorkPtr, chunks, helpers);
    if (timing) this.record(timing, true, performance.now() - t0);
  }

  private record(t: ShapeTiming, split: boolean, ms: number): void {
    const switched = split !== this.lastSplit;
    this.lastSplit = split;
    if (split && (!switched || t.parallelMs === 0)) t.parallelMs = average(t.parallelMs, ms);
    if (!split && (!switched || t.serialMs === 0)) t.serialMs = average(t.serialMs, ms);
  }

  private timingOf(tA: number, tB: number, M: number, N: number, K: number): ShapeTiming {
    const key = `${tA}${tB}:${M}:${N}:${K}`;
    if (key === this.lastShape) return this.lastTiming!;
    let t = this.timings.get(key);
    if (!t) {
      if (this.timings.size >= MAX_SHAPES) this.timings.clear();
      t = { calls: 0, serialMs: 0, parallelMs: 0 };
      this.timings.set(key, t);
    }
    this.lastShape = key;
    this.lastTiming = t;
    return t;
  }

  /** Split this call? PROBE_BURST calls each way first, then the faster way, with bursts of the other (see above). */
  private shouldSplit(t: ShapeTiming): boolean {
    const n = t.calls++;
    if (n < 2 * PROBE_BURST) return n < PROBE_BURST;
    const splitFaster = t.parallelMs < t.serialMs;
    return n % PROBE_EVERY < PROBE_BURST ? !splitFaster : splitFaster;
  }
}

function average(avg: number, sample: number): number {
  return avg === 0 ? sample : 0.7 * avg + 0.3 * sample;
}

let runtime: WasmRuntime | undefined;

/** The process-wide runtime (created on first call). */
export function wasmRuntime(): WasmRuntime {
  return (runtime ??= new WasmRuntime());
}

/** Default thread count: TSCAFFE_THREADS, else the number of CPUs Node may use. */
export function defaultThreads(): number {
  const env = Number(process.env.TSCAFFE_THREADS);
  if (Number.isInteger(env) && env >= 1) return env;
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

/** Stop the worker threads (they restart on the next large GEMM). Never required: workers do not hold the process. */
export async function shutdownWasmWorkers(): Promise<void> {
  if (runtime) await runtime.pool.shutdown();
}
