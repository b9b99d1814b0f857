// The backend interface: the primitive kernels every layer and solver does its heavy math through. Layers never see
// how a backend computes; a new backend (WASM, WebGPU) implements this interface in its own folder.
// Arrays are Float32Array views; offsets are expressed by the caller with subarray().
import { envVar } from '../util/env.js';

export interface ConvGeometry {
  channels: number;
  height: number;
  width: number;
  kernelH: number;
  kernelW: number;
  padH: number;
  padW: number;
  strideH: number;
  strideW: number;
  dilationH: number;
  dilationW: number;
}

/** Output height and width of a convolution over the geometry's image (im2col's column count is their product). */
export function convOutputSize(g: ConvGeometry): [number, number] {
  return [
    Math.floor((g.height + 2 * g.padH - (g.dilationH * (g.kernelH - 1) + 1)) / g.strideH) + 1,
    Math.floor((g.width + 2 * g.padW - (g.dilationW * (g.kernelW - 1) + 1)) / g.strideW) + 1,
  ];
}

export interface PoolGeometry {
  num: number;
  channels: number;
  height: number;
  width: number;
  pooledH: number;
  pooledW: number;
  kernelH: number;
  kernelW: number;
  padH: number;
  padW: number;
  strideH: number;
  strideW: number;
}

/**
 * Storage of a gemmEx operand: element (r, t) of the stored matrix (row r, column t) is at
 * floor(t / block) * blockStride + r * ld + t % block. Without block it is plain row-major with leading dimension ld.
 * Blocked storage lets a GEMM run on several images side by side without copies: e.g. N images of C x P each, as one
 * C x (N*P) matrix, are { ld: P, block: P, blockStride: C * P }.
 */
export interface MatrixLayout {
  ld: number;
  block?: number;
  blockStride?: number;
  /**
   * Offset tables instead (gemmEx's B operand only): element (r, t) at rowOffsets[r] + colOffsets[t] (both >= 0; ld,
   * block and blockStride are then ignored). E.g. the im2col matrix of unpadded images, read straight from the images:
   * rowOffsets over (channel, kh, kw), colOffsets over (image, oh, ow).
   */
  rowOffsets?: Int32Array;
  colOffsets?: Int32Array;
}

function maxOf(a: Int32Array, n: number): number {
  let m = 0;
  for (let i = 0; i < n; i++) if (a[i]! > m) m = a[i]!;
  return m;
}

/** Floats a rows x cols matrix stored with layout `l` spans (from its first element to its last, inclusive). */
export function layoutExtent(rows: number, cols: number, l: MatrixLayout): number {
  if (rows <= 0 || cols <= 0) return 0;
  if (l.rowOffsets && l.colOffsets) return maxOf(l.rowOffsets, rows) + maxOf(l.colOffsets, cols) + 1;
  const blk = l.block && l.block < cols ? l.block : cols;
  const bs = l.blockStride ?? 0;
  const q = Math.floor((cols - 1) / blk);
  let last = q * bs + ((cols - 1) % blk);
  if (q > 0) last = Math.max(last, (q - 1) * bs + blk - 1);
  return last + (rows - 1) * l.ld + 1;
}

export interface Backend {
  readonly name: string;
  /**
   * C = alpha * op(A) * op(B) + beta * C, row-major; op(A) is M x K, op(B) is K x N, C is M x N.
   * transA/transB: the stored matrix is the transpose (A stored K x M, B stored N x K).
   */
  gemm(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
    A: Float32Array, B: Float32Array, beta: number, C: Float32Array): void;
  /**
   * gemm on operands with explicit storage (see MatrixLayout): the stored matrices are A: M x K (K x M if transA),
   * B: K x N (N x K if transB), C: M x N; each array starts at the operand's first element.
   */
  gemmEx(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
    A: Float32Array, la: MatrixLayout, B: Float32Array, lb: MatrixLayout, beta: number, C: Float32Array, lc: MatrixLayout): void;
  /** Caffe's im2col for one image: col is (C*kh*kw) x (outH*outW). */
  im2col(im: Float32Array, g: ConvGeometry, col: Float32Array): void;
  /** Caffe's col2im: accumulates col into im (im is zeroed first). */
  col2im(col: Float32Array, g: ConvGeometry, im: Float32Array): void;
  /** Max pooling; mask receives the argmax index within the input plane (as float, like Caffe's top mask). */
  maxPoolForward(bottom: Float32Array, g: PoolGeometry, top: Float32Array, mask: Float32Array): void;
  maxPoolBackward(topDiff: Float32Array, mask: Float32Array, g: PoolGeometry, bottomDiff: Float32Array): void;
  avePoolForward(bottom: Float32Array, g: PoolGeometry, top: Float32Array): void;
  avePoolBackward(topDiff: Float32Array, g: PoolGeometry, bottomDiff: Float32Array): void;
  /** x (num images of channels x spatial) += bias[c] on channel c: a convolution's bias. */
  addChannelBias(x: Float32Array, num: number, channels: number, spatial: number, bias: Float32Array): void;
  /** sums[c] += the sum of channel c over num images of channels x spatial: a convolution's bias gradient. */
  sumChannels(x: Float32Array, num: number, channels: number, spatial: number, sums: Float32Array): void;
  /** y = max(x, 0) + slope * min(x, 0). */
  reluForward(x: Float32Array, y: Float32Array, slope: number): void;
  /** dx = dy * (x > 0 ? 1 : slope). */
  reluBackward(x: Float32Array, dy: Float32Array, dx: Float32Array, slope: number): void;
  /** Softmax over the channel axis of an (outer, channels, inner) array. */
  softmax(x: Float32Array, outer: number, channels: number, inner: number, y: Float32Array): void;
  /** y += alpha * x */
  axpy(alpha: number, x: Float32Array, y: Float32Array): void;
  /** y = alpha * x + beta * y */
  axpby(alpha: number, x: Float32Array, beta: number, y: Float32Array): void;
  /** x *= alpha */
  scal(alpha: number, x: Float32Array): void;
  dot(x: Float32Array, y: Float32Array): number;
  asum(x: Float32Array): number;
  /** SGD with momentum: h = momentum * h + lr * g; g = h (Caffe's SGD ComputeUpdateValue). */
  sgdUpdate(g: Float32Array, h: Float32Array, momentum: number, lr: number): void;
  /** w -= g (Caffe's Blob::Update). */
  applyUpdate(w: Float32Array, g: Float32Array): void;
  /**
   * One parameter's plain SGD step in one pass: g += decay * w (L2 weight decay); h = momentum * h + lr * g; g = h;
   * w -= h (Caffe's Regularize, SGD ComputeUpdateValue and Blob::Update, fused).
   */
  sgdStep(w: Float32Array, g: Float32Array, h: Float32Array, decay: number, momentum: number, lr: number): void;
  /**
   * Optional: n zeroed floats in the backend's own memory (e.g. the wasm backend's linear memory), so that its kernels
   * use them in place; Blob allocates through it. Without it, storage is a plain new Float32Array(n).
   */
  allocFloat32?(n: number): Float32Array;
}

let current: Backend | undefined;
const factories = new Map<string, () => Backend>();

export function registerBackend(name: string, make: () => Backend): void {
  factories.set(name, make);
}

export function availableBackends(): string[] {
  return [...factories.keys()];
}

/** The default CPU backend: WebAssembly SIMD, multi-threaded. */
export const DEFAULT_BACKEND = 'wasm';

/**
 * The active backend: TSCAFFE_BACKEND, else the default; if the default cannot start here (e.g. a runtime without
 * WebAssembly SIMD), the TypeScript reference backend with a warning.
 */
export function backend(): Backend {
  if (current) return current;
  const asked = envVar('TSCAFFE_BACKEND');
  if (asked) return (current = createBackend(asked));
  try {
    current = createBackend(DEFAULT_BACKEND);
  } catch (e) {
    const msg = `tscaffe: the ${DEFAULT_BACKEND} backend is unavailable (${(e as Error).message}); using the TypeScript backend`;
    if (typeof process === 'undefined') console.warn(msg);
    else process.stderr.write(msg + '\n');
    current = createBackend('ts');
  }
  return current;
}

export function createBackend(name: string): Backend {
  const f = factories.get(name);
  if (!f) throw new Error(`unknown backend '${name}' (available: ${availableBackends().join(', ')})`);
  return f();
}

/** n zeroed floats, in the active backend's memory when it has one (see Backend.allocFloat32). */
export function allocFloat32(n: number): Float32Array {
  const b = backend();
  return b.allocFloat32 ? b.allocFloat32(n) : new Float32Array(n);
}

export function setBackend(b: Backend): void {
  current = b;
}
