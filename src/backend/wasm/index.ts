// The 'wasm' backend: GEMM (plain, and gemmEx's blocked and offset-table layouts, which let convolution run on the
// images in place), im2col, col2im, max pooling, ReLU and the fused SGD step in WebAssembly SIMD (AssemblyScript,
// assembly/kernels.ts), GEMM split over worker threads; the other kernels are the reference TypeScript ones
// (memory-bound, and they run on views of the wasm memory without copies). The non-GEMM kernels use wasm when all
// their arrays are in its memory.
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
import type { Backend, ConvGeometry, MatrixLayout } from '../backend.js';
import { convOutputSize, layoutExtent, registerBackend } from '../backend.js';
import { createTsBackend } from '../ts/index.js';
import { envVar } from '../../util/env.js';
import type { KernelRuntime } from './kernel_runtime.js';
import { ADAPTIVE_DEFAULT, VARIANTS, defaultThreads, shutdownWasmWorkers, wasmRuntime, type SimdVariant } from './runtime.js';

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
  /**
   * The kernels' runtime (default: the process-wide one, runtime.ts). A runtime without worker threads (a browser's,
   * src/browser/wasm_runtime.ts) runs every GEMM on the calling thread.
   */
  runtime?: KernelRuntime;
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
  constructor(private readonly rt: KernelRuntime) {}
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

function need(arr: Float32Array, n: number, what: string): void {
  if (arr.length < n) throw new RangeError(`wasm backend: ${what} has ${arr.length} elements, ${n} needed`);
}

export function createWasmBackend(opts: WasmBackendOptions = {}): WasmBackend {
  const rt = opts.runtime ?? wasmRuntime();
  const threads = rt.pool ? Math.max(1, Math.floor(opts.threads ?? defaultThreads())) : 1;
  const envSimd = envVar('TSCAFFE_WASM_SIMD');
  const wanted: SimdVariant = opts.simd ?? (envSimd === 'simd' || envSimd === 'plain' ? 'simd' : 'relaxed');
  const simd: SimdVariant = rt.supports(wanted) ? wanted : VARIANTS.find((v) => rt.supports(v))!;
  const variant = VARIANTS.indexOf(simd);
  const adaptive = opts.adaptive ?? ADAPTIVE_DEFAULT;
  const kernels = rt.main(variant);
  const heap = rt.heap;
  const ts = createTsBackend();
  const scratchA = new Scratch(rt), scratchB = new Scratch(rt), scratchC = new Scratch(rt);
  if (threads > 1) rt.pool?.grow(threads - 1);

  /** Pointer to the first n floats of arr, copied into scratch if arr is not in the wasm memory. */
  const input = (arr: Float32Array, n: number, s: Scratch): number => {
    if (heap.owns(arr)) return arr.byteOffset;
    const v = s.get(n);
    v.set(n === arr.length ? arr : arr.subarray(0, n));
    return v.byteOffset;
  };

  // The operands' storage for the kernel: [lda, ablk, abs, ldb, bblk, bbs, ldc, cblk, cbs] (blk 0 = plain).
  const layout = new Int32Array(9);
  const scratchTab = new Scratch(rt);
  const setLayout = (at: number, l: MatrixLayout, cols: number, rows = 0): void => {
    if (l.rowOffsets || l.colOffsets) {
      // B only: copy the tables into wasm memory for the kernel (a few KB per call)
      if (at !== 3 || !l.rowOffsets || !l.colOffsets || l.rowOffsets.length < rows || l.colOffsets.length < cols) {
        throw new RangeError('wasm backend: offset tables are for B only and need rows + cols entries');
      }
      if (heap.owns(l.rowOffsets) && heap.owns(l.colOffsets)) {
        layout[at] = l.rowOffsets.byteOffset;
        layout[at + 1] = -1;
        layout[at + 2] = l.colOffsets.byteOffset;
        return;
      }
      const v = scratchTab.get(rows + cols);
      const t = new Int32Array(v.buffer, v.byteOffset, rows + cols);
      t.set(l.rowOffsets.subarray(0, rows));
      t.set(l.colOffsets.subarray(0, cols), rows);
      layout[at] = v.byteOffset;
      layout[at + 1] = -1;
      layout[at + 2] = v.byteOffset + rows * 4;
      return;
    }
    if (!(l.ld >= 0) || (l.block !== undefined && !(l.block >= 0)) || !((l.blockStride ?? 0) >= 0)) {
      throw new RangeError('wasm backend: bad matrix layout');
    }
    layout[at] = l.ld;
    layout[at + 1] = l.block && l.block < cols ? l.block : 0;
    layout[at + 2] = l.blockStride ?? 0;
  };

  /** The GEMM on operands of the given extents (floats), layout in `layout`. */
  const gemmLaid = (transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number, A: Float32Array,
    B: Float32Array, beta: number, C: Float32Array, na: number, nb: number, nc: number): void => {
    need(C, nc, 'C');
    if (K <= 0 || alpha === 0) {
      if (beta === 1) return;
      const scale = (c: number) => kernels.gemm(0, 0, M, N, 0, 0, 0, 0, beta, c, 0, M, 0, N, rt.mainWorkPtr, 0, 0, 0, 0, 0, 0,
        layout[6]!, layout[7]!, layout[8]!);
      if (heap.owns(C)) return scale(C.byteOffset);
      const c = scratchC.get(nc);
      c.set(C.subarray(0, nc));
      scale(c.byteOffset);
      C.set(c.subarray(0, nc));
      return;
    }
    need(A, na, 'A');
    need(B, nb, 'B');
    const pa = input(A, na, scratchA);
    const pb = input(B, nb, scratchB);
    if (heap.owns(C)) {
      rt.gemm(variant, threads, adaptive, transA, transB, M, N, K, alpha, pa, pb, beta, C.byteOffset, layout);
      return;
    }
    const c = scratchC.get(nc);
    c.set(C.subarray(0, nc));
    rt.gemm(variant, threads, adaptive, transA, transB, M, N, K, alpha, pa, pb, beta, c.byteOffset, layout);
    C.set(c.subarray(0, nc));
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
      layout.fill(0);
      layout[0] = transA ? M : K;
      layout[3] = transB ? K : N;
      layout[6] = N;
      gemmLaid(transA, transB, M, N, K, alpha, A, B, beta, C, M * K, K * N, M * N);
    },

    gemmEx(transA, transB, M, N, K, alpha, A, la, B, lb, beta, C, lc) {
      if (M <= 0 || N <= 0) return;
      setLayout(0, la, transA ? M : K);
      setLayout(3, lb, transB ? K : N, transB ? N : K);
      setLayout(6, lc, N);
      gemmLaid(transA, transB, M, N, K, alpha, A, B, beta, C, K > 0 ? layoutExtent(transA ? K : M, transA ? M : K, la) : 0,
        K > 0 ? layoutExtent(transB ? N : K, transB ? K : N, lb) : 0, layoutExtent(M, N, lc));
    },

    im2col(im, g, col) {
      if (!heap.owns(im) || !heap.owns(col)) return ts.im2col(im, g, col);
      const [outH, outW] = convOutputSize(g);
      need(im, g.channels * g.height * g.width, 'im');
      need(col, g.channels * g.kernelH * g.kernelW * outH * outW, 'col');
      kernels.im2col(im.byteOffset, ...geometryArgs(g), col.byteOffset);
    },

    col2im(col, g, im) {
      if (!heap.owns(im) || !heap.owns(col)) return ts.col2im(col, g, im);
      const [outH, outW] = convOutputSize(g);
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

    addChannelBias(x, num, channels, spatial, bias) {
      if (!heap.owns(x) || !heap.owns(bias)) return ts.addChannelBias(x, num, channels, spatial, bias);
      need(x, num * channels * spatial, 'x');
      need(bias, channels, 'bias');
      kernels.addChannelBias(x.byteOffset, num, channels, spatial, bias.byteOffset);
    },

    sumChannels(x, num, channels, spatial, sums) {
      if (!heap.owns(x) || !heap.owns(sums)) return ts.sumChannels(x, num, channels, spatial, sums);
      need(x, num * channels * spatial, 'x');
      need(sums, channels, 'sums');
      kernels.sumChannels(x.byteOffset, num, channels, spatial, sums.byteOffset);
    },

    reluForward(x, y, slope) {
      if (!heap.owns(x) || !heap.owns(y) || y.length < x.length) return ts.reluForward(x, y, slope);
      kernels.reluForward(x.byteOffset, y.byteOffset, x.length, slope);
    },

    reluBackward(x, dy, dx, slope) {
      if (!heap.owns(x) || !heap.owns(dy) || !heap.owns(dx) || dy.length < x.length || dx.length < x.length) {
        return ts.reluBackward(x, dy, dx, slope);
      }
      kernels.reluBackward(x.byteOffset, dy.byteOffset, dx.byteOffset, x.length, slope);
    },

    sgdStep(w, g, h, decay, momentum, lr) {
      if (!heap.owns(w) || !heap.owns(g) || !heap.owns(h) || g.length < w.length || h.length < w.length) {
        return ts.sgdStep(w, g, h, decay, momentum, lr);
      }
      kernels.sgdStep(w.byteOffset, g.byteOffset, h.byteOffset, w.length, decay, momentum, lr);
    },

    allocFloat32(n) {
      return heap.allocFloat32(n);
    },

    inMemory(arr) {
      return heap.owns(arr);
    },

    async ready() {
      if (threads > 1) {
        rt.pool?.grow(threads - 1);
        await rt.pool?.whenReady(threads - 1);
      }
    },
  };
}

registerBackend('wasm', () => createWasmBackend());
