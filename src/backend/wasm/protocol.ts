// The control block shared by the main thread and the 'wasm' backend's workers (a SharedArrayBuffer apart from the
// wasm memory), BLOCK int32 slots (128 bytes, so no two threads write one cache line) per thread.
//
// Block 0 holds the job-wide counters and the main thread's copy of the job's arguments:
//   NEXT      (generation << 16) | index of the next unclaimed chunk; claimed with compareExchange
//   FINISHED  chunks completed (the last thread to finish one notifies the main thread, which waits on it)
//   FAILED    1 if a chunk threw
// Block w >= 1 is worker w's mailbox:
//   SEQ    bumped by the main thread after writing a job into the mailbox (the worker waits on it)
//   DONE   set to SEQ by the worker when it has no more chunks to take (the mailbox may then be rewritten)
//   READY  1 once the worker has instantiated its modules
//   OP, VARIANT, ARGS...  the job; floats are stored through a Float32Array over the same buffer.
//
// A GEMM is cut into chunks (column or row ranges of C); the main thread and every idle worker claim chunks until none
// is left, so a worker that is slow to wake (or descheduled) simply takes fewer. Jobs are tagged with a generation: a
// late worker still holding an old job fails to claim (the generation in NEXT moved on) and just reports DONE. The
// main thread starts a job only after all chunks of the previous one finished, and never rewrites a mailbox whose
// DONE lags its SEQ (that worker sits the job out), so no locks are needed.
import { WA, type WasmMemory, type WasmModule } from './wasm_api.js';

export const BLOCK = 32;
// block 0
export const NEXT = 0;
export const FINISHED = 1;
export const FAILED = 2;
// mailboxes
export const SEQ = 0;
export const DONE = 1;
export const READY = 2;
export const OP = 3;
export const VARIANT = 4;
export const ARGS = 8;

export const OP_GEMM = 1;
export const OP_QUIT = 2;

/** Most workers a pool can hold (the control block is sized for them). */
export const MAX_WORKERS = 63;
/** Most chunks of one job (the chunk index has 16 bits in NEXT). */
export const MAX_CHUNKS = 1024;

/** GEMM job arguments, relative to ARGS. SPLIT_N: chunks are column ranges (else row ranges) of TILE columns/rows. */
export const G_TRANS_A = 0, G_TRANS_B = 1, G_M = 2, G_N = 3, G_K = 4, G_ALPHA = 5, G_A = 6, G_B = 7, G_BETA = 8,
  G_C = 9, G_SPLIT_N = 10, G_TILE = 11, G_CHUNKS = 12, G_GEN = 13;
/** The operands' storage (leading dimension, block, block stride of A, B, C; see Backend.gemmEx): 9 slots from here. */
export const G_LAYOUT = 14;
export const G_COUNT = 23;

/** The kernels each module exports (see assembly/kernels.ts). */
export interface KernelExports {
  workFloats(): number;
  zero(ptr: number, bytes: number): void;
  heapBase(): number;
  gemm(transA: number, transB: number, M: number, N: number, K: number, alpha: number, a: number, b: number,
    beta: number, c: number, i0: number, i1: number, j0: number, j1: number, work: number, lda: number, ablk: number,
    abs: number, ldb: number, bblk: number, bbs: number, ldc: number, cblk: number, cbs: number): void;
  im2col(im: number, channels: number, height: number, width: number, kernelH: number, kernelW: number, padH: number,
    padW: number, strideH: number, strideW: number, dilationH: number, dilationW: number, col: number): void;
  col2im(col: number, channels: number, height: number, width: number, kernelH: number, kernelW: number, padH: number,
    padW: number, strideH: number, strideW: number, dilationH: number, dilationW: number, im: number): void;
  maxPoolForward(bottom: number, planes: number, height: number, width: number, pooledH: number, pooledW: number,
    kernelH: number, kernelW: number, padH: number, padW: number, strideH: number, strideW: number, top: number,
    mask: number): void;
  reluForward(x: number, y: number, n: number, slope: number): void;
  reluBackward(x: number, dy: number, dx: number, n: number, slope: number): void;
  sgdStep(w: number, g: number, h: number, n: number, decay: number, momentum: number, lr: number): void;
  maxPoolBackward(topDiff: number, mask: number, planes: number, height: number, width: number, pooledH: number,
    pooledW: number, bottomDiff: number): void;
  addChannelBias(x: number, num: number, channels: number, spatial: number, bias: number): void;
  sumChannels(x: number, num: number, channels: number, spatial: number, sums: number): void;
}

/** What a worker is started with. */
export interface WorkerInit {
  id: number;
  memory: WasmMemory;
  modules: WasmModule[];
  ctrl: SharedArrayBuffer;
  /** The worker's private GEMM workspace (pointer). */
  work: number;
  /** Microseconds to spin on SEQ before sleeping in Atomics.wait. */
  spinMicros: number;
}

export function instantiate(module: WasmModule, memory: WasmMemory): KernelExports {
  return new WA.Instance(module, { env: { memory } }).exports as unknown as KernelExports;
}

/** Claim the next chunk of job `gen`, or -1 when none is left (or the job is no longer current). */
function claim(ctrl: Int32Array, gen: number, chunks: number): number {
  for (;;) {
    const v = Atomics.load(ctrl, NEXT);
    const idx = v & 0xffff;
    if (v >>> 16 !== gen || idx >= chunks) return -1;
    if (Atomics.compareExchange(ctrl, NEXT, v, v + 1) === v) return idx;
  }
}

/**
 * Take and run chunks of the GEMM whose arguments are at ctrl[args...] until none is left (main thread and workers).
 * Returns how many chunks this thread ran and the error of one that threw (also flagged in FAILED), if any.
 * `release` (a worker marking itself DONE) runs once no chunk is left but BEFORE this thread's last chunk is counted
 * as finished, so by the time the main thread sees every chunk finished, every worker that took part is idle again.
 */
export function runGemmChunks(ctrl: Int32Array, ctrlF: Float32Array, args: number, kernels: KernelExports,
  work: number, release?: () => void): { claimed: number; error: unknown } {
  const tA = ctrl[args + G_TRANS_A]!, tB = ctrl[args + G_TRANS_B]!;
  const M = ctrl[args + G_M]!, N = ctrl[args + G_N]!, K = ctrl[args + G_K]!;
  const alpha = ctrlF[args + G_ALPHA]!, beta = ctrlF[args + G_BETA]!;
  const a = ctrl[args + G_A]!, b = ctrl[args + G_B]!, c = ctrl[args + G_C]!;
  const splitN = ctrl[args + G_SPLIT_N]! !== 0, tile = ctrl[args + G_TILE]!;
  const chunks = ctrl[args + G_CHUNKS]!, gen = ctrl[args + G_GEN]!;
  const l = args + G_LAYOUT;
  const lda = ctrl[l]!, ablk = ctrl[l + 1]!, abs = ctrl[l + 2]!, ldb = ctrl[l + 3]!, bblk = ctrl[l + 4]!, bbs = ctrl[l + 5]!;
  const ldc = ctrl[l + 6]!, cblk = ctrl[l + 7]!, cbs = ctrl[l + 8]!;
  const dim = splitN ? N : M;
  const tiles = Math.ceil(dim / tile);
  let error: unknown;
  let claimed = 0;
  let i = claim(ctrl, gen, chunks);
  while (i >= 0) {
    claimed++;
    const lo = Math.floor((i * tiles) / chunks) * tile;
    const hi = Math.min(dim, Math.floor(((i + 1) * tiles) / chunks) * tile);
    try {
      if (splitN) kernels.gemm(tA, tB, M, N, K, alpha, a, b, beta, c, 0, M, lo, hi, work, lda, ablk, abs, ldb, bblk, bbs, ldc, cblk, cbs);
      else kernels.gemm(tA, tB, M, N, K, alpha, a, b, beta, c, lo, hi, 0, N, work, lda, ablk, abs, ldb, bblk, bbs, ldc, cblk, cbs);
    } catch (e) {
      error ??= e;
      Atomics.store(ctrl, FAILED, 1);
    }
    i = claim(ctrl, gen, chunks);
    if (i < 0) release?.();
    if (Atomics.add(ctrl, FINISHED, 1) + 1 === chunks) Atomics.notify(ctrl, FINISHED);
  }
  if (claimed === 0) release?.();
  return { claimed, error };
}
