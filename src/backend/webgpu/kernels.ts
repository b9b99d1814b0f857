/// <reference types="@webgpu/types" />
// GpuKernels: tscaffe's primitive kernels in WGSL over GPUBuffer operands. Every kernel method only records a dispatch
// (dispatcher.ts); submit() sends everything recorded at once, so a whole training iteration can run without a host
// round trip. download() is the only way back to the host. Operand offsets and sizes are in floats. Reductions, losses and accuracy
// write their results into device buffers (see wgsl/reduce.ts), so the host reads only the numbers it logs.
import { BATCH_SIZE, FULL, NONE, VALID, normalizer } from '../../layers/loss_normalization.js';
import type { ConvGeometry, MatrixLayout, PoolGeometry } from '../backend.js';
import { convOutputSize, layoutExtent } from '../backend.js';
import { convKernels } from './wgsl/conv.js';
import { elementwiseKernels } from './wgsl/elementwise.js';
import { GEMM_KT, gemmDirectKernel, gemmKernel, gemmSplitSumKernel } from './wgsl/gemm.js';
import { lossKernels } from './wgsl/loss.js';
import { poolKernels } from './wgsl/pool.js';
import { reduceKernels } from './wgsl/reduce.js';
import type { KernelDef } from './wgsl/shader.js';
import { Dispatcher, type Operand } from './dispatcher.js';
import { softmaxKernels } from './wgsl/softmax.js';
import { SOLVER_HISTORY, type SolverRule, solverKernels } from './wgsl/solver.js';
import { adamCorrection } from '../../solver/updates.js';

export type { SolverRule };

/** A solver step's hyperparameters (see GpuKernels.solverStep); a rule needing one that is missing is an error. */
export interface SolverStepOptions {
  /** Multiplies the gradient first (1 / iter_size). Default 1. */
  gradScale?: number;
  /** The parameter's weight decay; 0 (default) skips regularization. */
  decay?: number;
  /** L1 regularization (decay * sign(w)) instead of L2 (decay * w). */
  l1?: boolean;
  /** The parameter's learning rate. */
  lr: number;
  /** SGD/Nesterov momentum, AdaDelta's decay, Adam's beta1. Default 0. */
  momentum?: number;
  /** Adam's beta2. */
  momentum2?: number;
  /** AdaGrad/RMSProp/AdaDelta/Adam's delta. */
  delta?: number;
  /** RMSProp's rms_decay. */
  rmsDecay?: number;
  /** The 0-based iteration (Adam's bias correction). */
  iter?: number;
}

/** Caffe's LossParameter normalization modes (loss_util.ts), by name. */
export type LossNormalization = 'full' | 'valid' | 'batch_size' | 'none';

/** The labels of a loss or accuracy: per position of an (outer, channels, inner) array. */
export interface LabelOptions {
  outer: number;
  channels: number;
  inner: number;
  /** Caffe's ignore_label: positions with this label count neither in the loss nor in the normalizer. */
  ignoreLabel?: number;
}

export class GpuKernels {
  readonly device: GPUDevice;
  /** Invocations of a 1-D kernel's workgroup. */
  readonly wg: number;
  private readonly gemmSide: number;
  /** Invocations of a reduction's workgroup (the largest power of two <= wg). */
  private readonly rwg: number;
  private readonly ew; private readonly conv; private readonly pool; private readonly soft; private readonly red; private readonly loss;
  /** Workgroups of a reduction's first pass, at most (its partial pairs fill the scratch buffer). */
  private static readonly MAX_PARTIALS = 256;
  /** The reductions' partial pairs. */
  private scratchBuffer: GPUBuffer | undefined;
  private solverDefs: Record<SolverRule, KernelDef> | undefined;
  private splitBuffer: GPUBuffer | undefined;
  private readonly splitSum: KernelDef;
  /** Records and sends the dispatches. */
  readonly dispatcher: Dispatcher;
  /** The first WebGPU error no error scope caught (e.g. a shader that failed to compile); download() reports it. */
  private error: string | undefined;

  /** maxComputeWorkgroupsPerDimension, or less where the caller asks (tests use that to exercise split dispatches). */
  readonly maxGroups: number;

  /** maxBufferSize, read once (each read of device.limits crosses into Dawn). */
  private readonly maxBufferSize: number;
  /** GEMMs without workgroup memory (wgsl/gemm.ts): for CPU renderers. */
  private readonly directGemm: boolean;

  constructor(device: GPUDevice, opts: { maxWorkgroupsPerDimension?: number; software?: boolean } = {}) {
    this.device = device;
    this.directGemm = opts.software ?? false;
    const l = device.limits;
    this.maxBufferSize = l.maxBufferSize;
    this.dispatcher = new Dispatcher(device);
    this.splitSum = gemmSplitSumKernel(Math.min(256, l.maxComputeInvocationsPerWorkgroup, l.maxComputeWorkgroupSizeX));
    this.maxGroups = Math.min(l.maxComputeWorkgroupsPerDimension, opts.maxWorkgroupsPerDimension ?? Infinity);
    this.wg = Math.min(256, l.maxComputeInvocationsPerWorkgroup, l.maxComputeWorkgroupSizeX);
    this.gemmSide = l.maxComputeInvocationsPerWorkgroup >= 256 && l.maxComputeWorkgroupSizeY >= 16 ? 16 : 8;
    this.ew = elementwiseKernels(this.wg);
    this.conv = convKernels(this.wg);
    this.pool = poolKernels(this.wg);
    this.soft = softmaxKernels(this.wg);
    const rwg = 2 ** Math.floor(Math.log2(this.wg)); // tree sums halve the workgroup
    this.rwg = rwg;
    this.red = reduceKernels(rwg);
    this.loss = lossKernels(rwg, this.wg);
    device.addEventListener('uncapturederror', (e) => { this.error ??= (e as GPUUncapturedErrorEvent).error.message; });
  }

  /** A new STORAGE buffer holding `data` (also usable as a copy source and destination). */
  upload(data: Float32Array): GPUBuffer {
    const buffer = this.createBuffer(data.length);
    this.device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    return buffer;
  }

  /** A zeroed STORAGE buffer of n floats. */
  createBuffer(n: number): GPUBuffer {
    const size = Math.max(4, n * 4); // WebGPU buffers are never empty
    if (size > this.maxBufferSize) {
      throw new RangeError(`a buffer of ${n} floats (${size} bytes) exceeds the adapter's maxBufferSize (${this.maxBufferSize})`);
    }
    return this.device.createBuffer({ size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  }

  /** n floats from `offset` of the buffer, after everything recorded so far has run. */
  async download(buffer: GPUBuffer, n: number, offset = 0): Promise<Float32Array> {
    this.submit();
    const size = n * 4;
    if (size === 0) return new Float32Array(0);
    const staging = this.device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(buffer, offset * 4, staging, 0, size);
    this.device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const out = new Float32Array(staging.getMappedRange().slice(0));
    staging.unmap();
    staging.destroy();
    if (this.error) throw new Error(`WebGPU: ${this.error}`);
    return out;
  }

  /** Sends every recorded dispatch, in order, in one command buffer. */
  submit(): void {
    this.dispatcher.submit();
  }

  /** Waits until the GPU has finished everything submitted. */
  async finish(): Promise<void> {
    this.submit();
    await this.device.queue.onSubmittedWorkDone();
  }

  private record(k: KernelDef, ops: Operand[], lens: number[], values: number[], groups: [number, number, number]): void {
    this.dispatcher.record(k, ops, lens, values, groups);
  }

  /** n invocations of a 1-D kernel, split over workgroups in x and y beyond maxComputeWorkgroupsPerDimension. */
  private groups1d(n: number): [number, number, number] {
    const max = this.maxGroups;
    const g = Math.ceil(n / this.wg);
    const x = Math.min(g, max), y = Math.ceil(g / x);
    if (y > max) throw new RangeError(`${n} invocations exceed the adapter's dispatch limits`);
    return [x, y, 1];
  }

  /**
   * n invocations of a 1-D kernel (its first field is n; `values` are the rest), each operand touching lens[j] floats:
   * how layer-specific elementwise kernels (wgsl/*.ts) are run.
   */
  run1d(k: KernelDef, n: number, ops: Operand[], lens: number[], values: number[]): void {
    if (n > 0) this.record(k, ops, lens, [n, ...values], this.groups1d(n));
  }

  /** C = alpha * op(A) op(B) + beta * C, row-major (A stored K x M when transA, B stored N x K when transB). */
  gemm(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
    A: Operand, B: Operand, beta: number, C: Operand): void {
    this.gemmEx(transA, transB, M, N, K, alpha, A, { ld: transA ? M : K }, B, { ld: transB ? K : N }, beta, C, { ld: N });
  }

  /**
   * gemm on operands stored with MatrixLayout's leading dimensions and blocks (Backend.gemmEx), e.g. a convolution's
   * batch: the column matrix and the top images side by side. Offset tables are not supported (im2col instead).
   */
  gemmEx(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
    A: Operand, la: MatrixLayout, B: Operand, lb: MatrixLayout, beta: number, C: Operand, lc: MatrixLayout): void {
    if (M <= 0 || N <= 0) return;
    const stored: [MatrixLayout, number, number][] = [[la, transA ? K : M, transA ? M : K], [lb, transB ? N : K, transB ? K : N], [lc, M, N]];
    let blocked = false;
    const layoutValues = stored.flatMap(([l, , cols]) => {
      if (l.rowOffsets || l.colOffsets) throw new RangeError('gemmEx: offset tables are not supported by the WebGPU kernels (im2col instead)');
      const blk = l.block && l.block < cols ? l.block : Math.max(1, cols);
      if (blk < cols) blocked = true;
      return [l.ld, blk, blk < cols ? l.blockStride ?? 0 : 0];
    });
    const lens = stored.map(([l, rows, cols]) => layoutExtent(rows, cols, l));
    const t = this.gemmSide, ts = 4 * t, max = this.maxGroups;
    const k = this.directGemm ? gemmDirectKernel(t, blocked) : gemmKernel(t, blocked);
    const gx = Math.ceil(N / ts), gy = Math.ceil(M / ts);
    if (gx > max) throw new RangeError(`gemm: N = ${N} exceeds the adapter's dispatch limit (${max * ts})`);
    const split = this.splitK(gx * gy, M * N, K);
    if (split.S > 1) {
      // Too few tiles of C to fill the device (e.g. a weight gradient: small M x N, long K): S workgroups per tile,
      // each on its own range of k, into S partial products; then one pass sums them in order (deterministic).
      const P = this.splitScratch(split.S * M * N);
      const plain = [N, Math.max(1, N), 0];
      for (let y0 = 0; y0 < gy; y0 += max) {
        this.record(k, [A, B, P], [lens[0]!, lens[1]!, split.S * M * N],
          [M, N, K, transA ? 1 : 0, transB ? 1 : 0, 1, 0, y0 * ts, split.chunk, M * N, ...layoutValues.slice(0, 6), ...plain],
          [gx, Math.min(max, gy - y0), split.S]);
      }
      this.run1d(this.splitSum, M * N, [P, C], [split.S * M * N, lens[2]!], [N, split.S, alpha, beta, ...layoutValues.slice(6)]);
      return;
    }
    for (let y0 = 0; y0 < gy; y0 += max) {
      this.record(k, [A, B, C], lens,
        [M, N, K, transA ? 1 : 0, transB ? 1 : 0, alpha, beta, y0 * ts, Math.max(K, 1), 0, ...layoutValues], [gx, Math.min(max, gy - y0), 1]);
    }
  }

  /** Workgroups a GEMM should have at least to keep a GPU busy; below that, k is split (gemmEx). */
  private static readonly GEMM_MIN_GROUPS = 128;
  /** Floats of split-K partial products, at most. */
  private static readonly SPLIT_MAX_FLOATS = 1 << 24;

  /** How many ranges of k (S, each `chunk` long) a GEMM with `tiles` workgroups, C of `mn` floats and depth K gets. */
  private splitK(tiles: number, mn: number, K: number): { S: number; chunk: number } {
    const minChunk = 16 * GEMM_KT; // each range long enough to amortize its pass over C
    let S = Math.min(Math.ceil(GpuKernels.GEMM_MIN_GROUPS / tiles), Math.floor(K / minChunk), this.maxGroups,
      Math.floor(GpuKernels.SPLIT_MAX_FLOATS / Math.max(1, mn)));
    if (S < 2) return { S: 1, chunk: K };
    const chunk = Math.ceil(K / S / GEMM_KT) * GEMM_KT;
    S = Math.ceil(K / chunk);
    return { S, chunk };
  }

  private splitScratch(n: number): GPUBuffer {
    if (!this.splitBuffer || this.splitBuffer.size < n * 4) {
      const old = this.splitBuffer;
      // Recorded GEMMs may still use the old one: destroy it once everything submitted so far is done.
      if (old) { this.submit(); void this.device.queue.onSubmittedWorkDone().then(() => old.destroy()); }
      this.splitBuffer = this.createBuffer(n);
    }
    return this.splitBuffer;
  }

  private convValues(g: ConvGeometry, n: number): number[] {
    const [outH, outW] = convOutputSize(g);
    return [n, g.height, g.width, g.kernelH, g.kernelW, g.padH, g.padW, g.strideH, g.strideW, g.dilationH, g.dilationW, outH, outW];
  }

  // A batch of images is a taller image of num * channels channels, and its column matrices (one after the other) are
  // then that image's: the kernels index channels globally, so one dispatch covers the batch.

  /** Caffe's im2col for num consecutive images: col holds their (channels*kernelH*kernelW) x (outH*outW) matrices. */
  im2col(im: Operand, g: ConvGeometry, col: Operand, num = 1): void {
    const [outH, outW] = convOutputSize(g);
    const n = num * g.channels * g.kernelH * g.kernelW * outH * outW, imN = num * g.channels * g.height * g.width;
    if (n > 0) this.record(this.conv.im2col, [im, col], [imN, n], this.convValues(g, n), this.groups1d(n));
  }

  /** Caffe's col2im for num images: each image element (overwritten) is the sum of the column entries over it. */
  col2im(col: Operand, g: ConvGeometry, im: Operand, num = 1): void {
    const [outH, outW] = convOutputSize(g);
    const colN = num * g.channels * g.kernelH * g.kernelW * outH * outW, n = num * g.channels * g.height * g.width;
    if (n > 0) this.record(this.conv.col2im, [col, im], [colN, n], this.convValues(g, n), this.groups1d(n));
  }

  private poolValues(g: PoolGeometry, n: number): number[] {
    return [n, g.height, g.width, g.pooledH, g.pooledW, g.kernelH, g.kernelW, g.padH, g.padW, g.strideH, g.strideW];
  }

  maxPoolForward(bottom: Operand, g: PoolGeometry, top: Operand, mask: Operand): void {
    const nb = g.num * g.channels * g.height * g.width, nt = g.num * g.channels * g.pooledH * g.pooledW;
    if (nt > 0) this.record(this.pool.maxPoolForward, [bottom, top, mask], [nb, nt, nt], this.poolValues(g, nt), this.groups1d(nt));
  }

  /** bottomDiff (overwritten) gathers topDiff where mask points at it. */
  maxPoolBackward(topDiff: Operand, mask: Operand, g: PoolGeometry, bottomDiff: Operand): void {
    const nb = g.num * g.channels * g.height * g.width, nt = g.num * g.channels * g.pooledH * g.pooledW;
    if (nb > 0) this.record(this.pool.maxPoolBackward, [topDiff, mask, bottomDiff], [nt, nt, nb], this.poolValues(g, nb), this.groups1d(nb));
  }

  avePoolForward(bottom: Operand, g: PoolGeometry, top: Operand): void {
    const nb = g.num * g.channels * g.height * g.width, nt = g.num * g.channels * g.pooledH * g.pooledW;
    if (nt > 0) this.record(this.pool.avePoolForward, [bottom, top], [nb, nt], this.poolValues(g, nt), this.groups1d(nt));
  }

  /** bottomDiff (overwritten). */
  avePoolBackward(topDiff: Operand, g: PoolGeometry, bottomDiff: Operand): void {
    const nb = g.num * g.channels * g.height * g.width, nt = g.num * g.channels * g.pooledH * g.pooledW;
    if (nb > 0) this.record(this.pool.avePoolBackward, [topDiff, bottomDiff], [nt, nb], this.poolValues(g, nb), this.groups1d(nb));
  }

  /** y = max(x, 0) + slope * min(x, 0) over n floats (y may be x). */
  reluForward(n: number, x: Operand, y: Operand, slope: number): void {
    this.run1d(this.ew.reluForward, n, [x, y], [n, n], [slope]);
  }

  /** dx = dy * (x > 0 ? 1 : slope) over n floats (dx may be dy). */
  reluBackward(n: number, x: Operand, dy: Operand, dx: Operand, slope: number): void {
    this.run1d(this.ew.reluBackward, n, [x, dy, dx], [n, n, n], [slope]);
  }

  /** Softmax over the channel axis of an (outer, channels, inner) array. */
  softmax(x: Operand, outer: number, channels: number, inner: number, y: Operand): void {
    const total = outer * channels * inner;
    if (channels > 0) this.run1d(this.soft.softmax, outer * inner, [x, y], [total, total], [channels, inner]);
  }

  /** Softmax's gradient over the channel axis: dx = y * (dy - sum_c dy * y) (dx may be dy). */
  softmaxBackward(y: Operand, dy: Operand, outer: number, channels: number, inner: number, dx: Operand): void {
    const total = outer * channels * inner;
    if (channels > 0) this.run1d(this.soft.softmaxBackward, outer * inner, [y, dy, dx], [total, total, total], [channels, inner]);
  }

  /** y += alpha * x over n floats. */
  axpy(n: number, alpha: number, x: Operand, y: Operand): void {
    this.run1d(this.ew.axpy, n, [x, y], [n, n], [alpha]);
  }

  /** y = alpha * x + beta * y over n floats. */
  axpby(n: number, alpha: number, x: Operand, beta: number, y: Operand): void {
    this.run1d(this.ew.axpby, n, [x, y], [n, n], [alpha, beta]);
  }

  /** x *= alpha over n floats. */
  scal(n: number, alpha: number, x: Operand): void {
    this.run1d(this.ew.scal, n, [x], [n], [alpha]);
  }

  /**
   * One parameter's solver step over n floats, as the solver's applyUpdate: g *= gradScale (1 / iter_size);
   * g += decay * (l1 ? sign(w) : w); the rule turns g into the step, updating hist (its history sets: Adam m, v;
   * AdaDelta h, hu; the others h); w -= g. lr is the parameter's rate; iter (0-based) sets Adam's bias correction.
   */
  solverStep(rule: SolverRule, n: number, w: Operand, g: Operand, hist: Operand[], o: SolverStepOptions): void {
    const names = SOLVER_HISTORY[rule];
    if (!names) throw new RangeError(`solverStep: unknown rule '${rule}' (${Object.keys(SOLVER_HISTORY).join(', ')})`);
    if (hist.length !== names.length) throw new RangeError(`solverStep: ${rule} takes ${names.length} history operands, got ${hist.length}`);
    const k = (this.solverDefs ??= solverKernels(this.wg))[rule];
    const m1 = o.momentum ?? 0, m2 = o.momentum2, rd = o.rmsDecay;
    const lr = rule === 'Adam' && m2 !== undefined ? o.lr * adamCorrection(m1, m2, o.iter ?? 0) : o.lr;
    const c = (x: number | undefined) => (x === undefined ? undefined : 1 - x);
    const values: Record<string, number | undefined> = {
      gradScale: o.gradScale ?? 1, decay: o.decay ?? 0, l1: o.l1 ? 1 : 0, lr, delta: o.delta,
      momentum: m1, momentumC: 1 - m1, momentum2: m2, momentum2C: c(m2), rmsDecay: rd, rmsDecayC: c(rd),
    };
    this.run1d(k, n, [w, g, ...hist], [n, n, ...hist.map(() => n)], k.fields.slice(1).map(([f]) => {
      const v = values[f];
      if (v === undefined) throw new RangeError(`solverStep: ${rule} needs option ${f}`);
      return v;
    }));
  }

  /** x (num x channels x spatial) += bias[c] on channel c. */
  addChannelBias(x: Operand, num: number, channels: number, spatial: number, bias: Operand): void {
    const n = num * channels * spatial;
    this.run1d(this.ew.addChannelBias, n, [x, bias], [n, channels], [channels, spatial]);
  }

  /** sums[c] += the sum of channel c over num images of channels x spatial (a convolution's bias gradient). */
  sumChannels(x: Operand, num: number, channels: number, spatial: number, sums: Operand): void {
    if (channels <= 0) return;
    this.record(this.red.sumChannels, [x, sums], [num * channels * spatial, channels], [num, channels, spatial], this.perChannel(channels, 'sumChannels'));
  }

  /** One workgroup per channel, split over x and y beyond maxComputeWorkgroupsPerDimension. */
  private perChannel(channels: number, what: string): [number, number, number] {
    const x = Math.min(channels, this.maxGroups), y = Math.ceil(channels / x);
    if (y > this.maxGroups) throw new RangeError(`${what}: ${channels} channels exceed the adapter's dispatch limits`);
    return [x, y, 1];
  }

  /** out[0] = x . y over n floats (plus the old out[0] when accumulate). */
  dot(n: number, x: Operand, y: Operand, out: Operand, accumulate = false): void {
    this.reduce(this.red.dot, n, [x, y], [n, n], [], out, { what: 0, accumulate });
  }

  /** out[0] = the sum of |x| over n floats (plus the old out[0] when accumulate). */
  asum(n: number, x: Operand, out: Operand, accumulate = false): void {
    this.reduce(this.red.asum, n, [x], [n], [], out, { what: 0, accumulate });
  }

  /** out[0] = the sum of x * x over n floats (plus the old out[0] when accumulate: one sum over several blobs). */
  sumsq(n: number, x: Operand, out: Operand, accumulate = false): void {
    this.reduce(this.red.sumsq, n, [x], [n], [], out, { what: 0, accumulate });
  }

  /**
   * SoftmaxWithLoss forward: prob = softmax(x) over the channels; loss[0] = the sum of -log(max(prob[label], FLT_MIN))
   * over the valid labels, divided by Caffe's normalizer; rnorm[0] = 1 / the normalizer (for the backward pass). A label
   * outside [0, channels) makes the loss NaN.
   */
  softmaxLossForward(x: Operand, label: Operand, o: LabelOptions, normalization: LossNormalization, prob: Operand, loss: Operand,
    rnorm: Operand): void {
    const n = o.outer * o.inner;
    this.softmax(x, o.outer, o.channels, o.inner, prob);
    this.lossReduce(this.loss.nll, n, [prob, label], [n * o.channels, n], this.labelValues(o), this.norm(o, normalization), loss, rnorm);
  }

  /**
   * SoftmaxWithLoss backward: dx = (prob - onehot(label)) * topDiff[0] * rnorm[0] (1 / the normalizer, which the forward
   * pass wrote); 0 at ignored positions.
   */
  softmaxLossBackward(prob: Operand, label: Operand, o: LabelOptions, rnorm: Operand, topDiff: Operand, dx: Operand): void {
    const n = o.outer * o.inner, total = n * o.channels;
    this.run1d(this.loss.softmaxLossBackward, total, [prob, label, topDiff, rnorm, dx], [total, n, 1, 1, total],
      this.labelValues(o).slice(0, 4));
  }

  /** Accuracy: out[0] = the fraction of valid labels among the topK scores of their position (0 without any). */
  accuracy(x: Operand, label: Operand, o: LabelOptions, topK: number, out: Operand): void {
    const n = o.outer * o.inner;
    this.reduce(this.loss.accuracy, n, [x, label], [n * o.channels, n], [...this.labelValues(o), topK], out, { what: 2 });
  }

  /** Accuracy's per-class top: out[c] = the accuracy over the valid labels of class c (0 where there are none). */
  accuracyPerClass(x: Operand, label: Operand, o: LabelOptions, topK: number, out: Operand): void {
    const n = o.outer * o.inner;
    if (o.channels <= 0) return;
    this.record(this.loss.accuracyPerClass, [x, label, out], [n * o.channels, n, o.channels],
      [n, ...this.labelValues(o), topK], this.perChannel(o.channels, 'accuracyPerClass'));
  }

  private labelValues(o: LabelOptions): number[] {
    if (o.ignoreLabel !== undefined && !Number.isInteger(o.ignoreLabel)) throw new RangeError(`ignore_label ${o.ignoreLabel} is not an integer`);
    return [o.channels, o.inner, o.ignoreLabel === undefined ? 0 : 1, o.ignoreLabel ?? 0, NaN];
  }

  /** Caffe's LossLayer::GetNormalizer, as reduceFinal's fields: the count of valid labels, or a fixed number. */
  private norm(o: LabelOptions, mode: LossNormalization): { useCount: boolean; norm: number } {
    const code = { full: FULL, valid: VALID, batch_size: BATCH_SIZE, none: NONE }[mode];
    if (code === undefined) throw new RangeError(`unknown loss normalization '${mode}'`);
    // 'valid' divides by the count of valid labels, computed on the device
    return { useCount: code === VALID, norm: code === VALID ? 0 : normalizer(code, o.outer, o.inner, -1) };
  }

  private scratch(): GPUBuffer {
    return (this.scratchBuffer ??= this.createBuffer(2 * GpuKernels.MAX_PARTIALS));
  }

  /**
   * Both passes of a reduction into out[0]: partial kernel k over n items (its own values after n), then reduceFinal.
   * The scratch buffer is reused by every reduction: dispatches run in order, so that is safe within a submission.
   */
  private reduce(k: KernelDef, n: number, ops: Operand[], lens: number[], values: number[], out: Operand,
    f: { what: number; accumulate?: boolean; useCount?: boolean; norm?: number }): number {
    const s = this.scratch();
    const groups = n > 0 ? Math.min(GpuKernels.MAX_PARTIALS, Math.ceil(n / this.rwg)) : 0;
    if (groups > 0) this.record(k, [...ops, s], [...lens, 2 * groups], [n, ...values], [groups, 1, 1]);
    this.reduceFinal(groups, out, f);
    return groups;
  }

  /** reduce's second pass over the partial pairs of `groups` workgroups in the scratch buffer. */
  private reduceFinal(groups: number, out: Operand, f: { what: number; accumulate?: boolean; useCount?: boolean; norm?: number }): void {
    this.record(this.red.reduceFinal, [this.scratch(), out], [2 * groups, 1],
      [groups, f.useCount ? 1 : 0, f.norm ?? 1, f.what, f.accumulate ? 1 : 0], [1, 1, 1]);
  }

  /**
   * A loss layer's reduction: partial kernel k (wgsl/reduce.ts partialKernel; its item adds the loss to a and the valid
   * count to b) over n items, then out[0] = the loss sum / Caffe's normalizer (max(1, the valid count) with useCount,
   * else max(1, norm)) and rnorm[0] = 1 / that normalizer, for the backward pass.
   */
  lossReduce(k: KernelDef, n: number, ops: Operand[], lens: number[], values: number[], o: { useCount: boolean; norm: number },
    out: Operand, rnorm: Operand): void {
    const groups = this.reduce(k, n, ops, lens, values, out, { what: 0, ...o });
    this.reduceFinal(groups, rnorm, { what: 1, ...o });
  }
}
