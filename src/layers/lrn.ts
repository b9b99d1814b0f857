// LRN: local response normalization, as Caffe's LRNLayer.
// ACROSS_CHANNELS: scale = k + alpha/n * sum of x^2 over n neighbouring channels; y = x * scale^-beta.
// WITHIN_CHANNEL: Caffe composes square -> AVE pooling (n x n, pad (n-1)/2, stride 1) -> power(shift 1, scale alpha,
// power -beta) -> product, so scale = 1 + alpha/n^2 * sum of x^2 over the n x n window (zero padded; k unused) and
// y = x * scale^-beta. Computed directly here, with the same result.
import type { LRNParameter } from '../proto/types.generated.js';
import { paramOf } from '../proto/caffe.js';
import { Blob } from '../blob/blob.js';
import { Layer, registerLayer } from './layer.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import { copyOnDevice, normOf } from './device_util.js';

const ACROSS_CHANNELS = 0;
const WITHIN_CHANNEL = 1;

export class LRNLayer extends Layer {
  private size = 5;
  private prePad = 2;
  private alpha = 1;
  private beta = 0.75;
  private k = 1;
  private region = ACROSS_CHANNELS;
  /** The per-element denominator base ("scale" in Caffe) from the last forward. */
  private scale = new Blob();
  private tmp = new Float32Array(0);
  private scaleDev = new Blob();
  private tmpDev = new Blob();

  override exactNumBottomBlobs(): number { return 1; }
  override exactNumTopBlobs(): number { return 1; }

  override layerSetUp(): void {
    const p = paramOf<LRNParameter>('LRNParameter', this.param.lrn_param);
    this.size = p.local_size ?? 5;
    if (this.size % 2 !== 1) throw new Error(`Layer ${this.name} (LRN): LRN only supports odd values for local_size (got ${this.size})`);
    this.prePad = (this.size - 1) / 2;
    this.alpha = p.alpha ?? 1;
    this.beta = p.beta ?? 0.75;
    this.k = p.k ?? 1;
    this.region = p.norm_region ?? ACROSS_CHANNELS;
    if (this.region !== ACROSS_CHANNELS && this.region !== WITHIN_CHANNEL) {
      throw new Error(`Layer ${this.name} (LRN): unknown normalization region ${this.region}`);
    }
  }

  reshape(bottom: Blob[], top: Blob[]): void {
    const b = bottom[0]!;
    if (b.numAxes !== 4) {
      throw new Error(`Layer ${this.name} (LRN): input must have 4 axes, corresponding to (num, channels, height, width); got ${b.shapeString()}`);
    }
    if (top[0] !== b) top[0]!.reshapeLike(b);
    this.scale.reshapeLike(b);
  }

  forward(bottom: Blob[], top: Blob[]): void {
    if (this.region === ACROSS_CHANNELS) this.acrossForward(bottom[0]!, top[0]!);
    else this.withinForward(bottom[0]!, top[0]!);
  }

  backward(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    if (this.region === ACROSS_CHANNELS) this.acrossBackward(top[0]!, bottom[0]!);
    else this.withinBackward(top[0]!, bottom[0]!);
  }

  private dims(b: Blob): [number, number, number] {
    return [b.shape[0]!, b.shape[1]!, b.shape[2]! * b.shape[3]!];
  }

  /** out[c] = sum of src over channels [c - prePad, c + prePad] (clipped), per image, as a running sum. */
  private channelWindowSum(src: Float32Array, N: number, C: number, S: number, out: Float32Array): void {
    const acc = new Float64Array(S);
    for (let n = 0; n < N; n++) {
      const base = n * C * S;
      acc.fill(0);
      for (let c = 0; c < Math.min(this.prePad, C); c++) {
        const o = base + c * S;
        for (let s = 0; s < S; s++) acc[s]! += src[o + s]!;
      }
      for (let c = 0; c < C; c++) {
        const head = c + this.prePad;
        if (head < C) { const o = base + head * S; for (let s = 0; s < S; s++) acc[s]! += src[o + s]!; }
        const tail = c - this.prePad - 1;
        if (tail >= 0) { const o = base + tail * S; for (let s = 0; s < S; s++) acc[s]! -= src[o + s]!; }
        const o = base + c * S;
        for (let s = 0; s < S; s++) out[o + s] = acc[s]!;
      }
    }
  }

  private tmpOf(n: number): Float32Array {
    if (this.tmp.length < n) this.tmp = new Float32Array(n);
    return this.tmp;
  }

  private acrossForward(bottom: Blob, top: Blob): void {
    const [N, C, S] = this.dims(bottom);
    const x = bottom.data, scale = this.scale.data, y = top.data;
    const sq = this.tmpOf(x.length).subarray(0, x.length);
    for (let i = 0; i < x.length; i++) sq[i] = x[i]! * x[i]!;
    this.channelWindowSum(sq, N, C, S, scale);
    const aOverN = this.alpha / this.size;
    for (let i = 0; i < x.length; i++) {
      scale[i] = this.k + aOverN * scale[i]!;
      y[i] = x[i]! * Math.pow(scale[i]!, -this.beta);
    }
  }

  private acrossBackward(top: Blob, bottom: Blob): void {
    const [N, C, S] = this.dims(bottom);
    this.backwardFrom(top, bottom, (ratio, acc) => this.channelWindowSum(ratio, N, C, S, acc), (2 * this.alpha * this.beta) / this.size);
  }

  /**
   * dx = dy * scale^-beta - coef * x * sum over the windows holding x of (dy * y / scale); the windows are symmetric, so
   * that sum is the window sum around x. In place (top === bottom), x is recovered as y * scale^beta.
   */
  private backwardFrom(top: Blob, bottom: Blob, windowSum: (src: Float32Array, out: Float32Array) => void, coef: number): void {
    const x = bottom.data, y = top.data, dy = top.diff, dx = bottom.diff, scale = this.scale.data;
    const n = x.length;
    const inPlace = top === bottom;
    const tmp = this.tmpOf(2 * n);
    const ratio = tmp.subarray(0, n), acc = tmp.subarray(n, 2 * n);
    for (let i = 0; i < n; i++) ratio[i] = (dy[i]! * y[i]!) / scale[i]!;
    windowSum(ratio, acc);
    for (let i = 0; i < n; i++) {
      const sc = scale[i]!;
      const xi = inPlace ? y[i]! * Math.pow(sc, this.beta) : x[i]!;
      dx[i] = dy[i]! * Math.pow(sc, -this.beta) - coef * xi * acc[i]!;
    }
  }

  /** Sum over the size x size window centred on each pixel (zero padding), of `src`, per plane. */
  private windowSum(src: Float32Array, planes: number, H: number, W: number, out: Float32Array): void {
    const p = this.prePad;
    const rows = new Float64Array(H * W);
    for (let q = 0; q < planes; q++) {
      const o = q * H * W;
      for (let h = 0; h < H; h++) {
        for (let w = 0; w < W; w++) {
          let s = 0;
          for (let ww = Math.max(0, w - p); ww <= Math.min(W - 1, w + p); ww++) s += src[o + h * W + ww]!;
          rows[h * W + w] = s;
        }
      }
      for (let h = 0; h < H; h++) {
        for (let w = 0; w < W; w++) {
          let s = 0;
          for (let hh = Math.max(0, h - p); hh <= Math.min(H - 1, h + p); hh++) s += rows[hh * W + w]!;
          out[o + h * W + w] = s;
        }
      }
    }
  }

  private withinForward(bottom: Blob, top: Blob): void {
    const [N, C] = this.dims(bottom);
    const H = bottom.shape[2]!, W = bottom.shape[3]!;
    const x = bottom.data, y = top.data, scale = this.scale.data;
    const sq = this.tmpOf(x.length).subarray(0, x.length);
    for (let i = 0; i < x.length; i++) sq[i] = x[i]! * x[i]!;
    this.windowSum(sq, N * C, H, W, scale);
    // AVE pooling divides by the full (padded) window size^2; then the Power layer: (1 + alpha * avg)^-beta.
    const a = this.alpha / (this.size * this.size);
    for (let i = 0; i < x.length; i++) {
      scale[i] = 1 + a * scale[i]!;
      y[i] = x[i]! * Math.pow(scale[i]!, -this.beta);
    }
  }

  private withinBackward(top: Blob, bottom: Blob): void {
    const [N, C] = this.dims(bottom);
    const H = bottom.shape[2]!, W = bottom.shape[3]!;
    this.backwardFrom(top, bottom, (ratio, acc) => this.windowSum(ratio, N * C, H, W, acc), (2 * this.alpha * this.beta) / (this.size * this.size));
  }

  /** The device kernels' geometry fields, and the window's divisor (size, or size^2 within a channel). */
  private deviceGeometry(b: Blob): { fields: number[]; div: number } {
    const within = this.region === WITHIN_CHANNEL;
    return { fields: [b.shape[1]!, b.shape[2]!, b.shape[3]!, this.prePad, within ? 1 : 0], div: within ? this.size * this.size : this.size };
  }

  // The device path keeps scale in `scaleDev` and uses `tmpDev` for the input (in place) and backward's ratio.
  override forwardGpu(bottom: Blob[], top: Blob[], gpu: WebGpuDevice): void {
    const b = bottom[0]!, n = b.count(), { fields, div } = this.deviceGeometry(b);
    this.scaleDev.reshape([n]);
    let x = b.deviceData(gpu);
    if (top[0] === b) {
      // In place, the window sums must read the input while the output is written: read a copy.
      this.tmpDev.reshape([n]);
      const copy = this.tmpDev.deviceData(gpu, true);
      copyOnDevice(gpu, n, x, copy);
      x = copy;
    }
    const k = this.region === WITHIN_CHANNEL ? 1 : this.k;
    gpu.kernels.run1d(normOf(gpu).lrnForward, n, [x, this.scaleDev.deviceData(gpu, true), top[0]!.deviceData(gpu, true)], [n, n, n],
      [...fields, this.alpha / div, k, -this.beta]);
  }

  override backwardGpu(top: Blob[], propagateDown: boolean[], bottom: Blob[], gpu: WebGpuDevice): void {
    if (!propagateDown[0]) return;
    const b = bottom[0]!, t = top[0]!, n = b.count(), { fields, div } = this.deviceGeometry(b), kn = normOf(gpu);
    this.tmpDev.reshape([n]);
    const y = t.deviceData(gpu), dy = t.deviceDiff(gpu), scale = this.scaleDev.deviceData(gpu), ratio = this.tmpDev.deviceData(gpu, true);
    gpu.kernels.run1d(kn.lrnRatio, n, [y, dy, scale, ratio], [n, n, n, n], []);
    gpu.kernels.run1d(kn.lrnBackward, n, [b.deviceData(gpu), y, scale, dy, ratio, b.deviceDiff(gpu, true)], [n, n, n, n, n, n],
      [...fields, this.beta, (2 * this.alpha * this.beta) / div, t === b ? 1 : 0]);
  }
}

registerLayer('LRN', LRNLayer);
