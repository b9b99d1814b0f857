// MVN: mean-variance normalization, as Caffe's MVNLayer. Each image (across_channels) or each channel of each image is
// shifted to zero mean and, with normalize_variance, divided by (standard deviation + eps).
import type { MVNParameter } from '../proto/types.generated.js';
import { paramOf } from '../proto/caffe.js';
import { Blob } from '../blob/blob.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import { SUM, SUM_PRODUCT, SUM_SQDEV, channelSumOnDevice, lossOpsOf } from './device_util.js';
import { Layer, registerLayer } from './layer.js';

export class MVNLayer extends Layer {
  private normalizeVariance = true;
  private acrossChannels = false;
  private eps = 1e-9;
  /** Per row: standard deviation + eps, from the last forward. */
  private std = new Float64Array(0);
  private dyCopy = new Float32Array(0);
  /** The device path's per-row numbers: mean, std, then backward's two means as double-float pairs (6 per row). */
  private stats = new Blob();

  override exactNumBottomBlobs(): number { return 1; }
  override exactNumTopBlobs(): number { return 1; }

  override layerSetUp(): void {
    const p = paramOf<MVNParameter>('MVNParameter', this.param.mvn_param);
    this.normalizeVariance = p.normalize_variance ?? true;
    this.acrossChannels = p.across_channels ?? false;
    this.eps = p.eps ?? 1e-9;
  }

  reshape(bottom: Blob[], top: Blob[]): void {
    if (top[0] !== bottom[0]) top[0]!.reshapeLike(bottom[0]!);
  }

  /** [rows, dim]: one row per image (across_channels) or per image channel. */
  private rows(b: Blob): [number, number] {
    const num = this.acrossChannels ? b.num : b.num * b.channels;
    return [num, num === 0 ? 0 : b.count() / num];
  }

  forward(bottom: Blob[], top: Blob[]): void {
    const [R, D] = this.rows(bottom[0]!);
    const x = bottom[0]!.data, y = top[0]!.data;
    const f = Math.fround;
    if (this.std.length !== R) this.std = new Float64Array(R);
    for (let r = 0; r < R; r++) {
      const o = r * D;
      let s = 0;
      for (let j = 0; j < D; j++) s += x[o + j]!;
      const mean = f(s / D);
      for (let j = 0; j < D; j++) y[o + j] = x[o + j]! - mean;
      if (!this.normalizeVariance) continue;
      let v = 0;
      for (let j = 0; j < D; j++) v += y[o + j]! * y[o + j]!;
      const sd = f(f(Math.sqrt(f(v / D))) + this.eps);
      this.std[r] = sd;
      for (let j = 0; j < D; j++) y[o + j] = y[o + j]! / sd;
    }
  }

  backward(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    const [R, D] = this.rows(bottom[0]!);
    const y = top[0]!.data, dx = bottom[0]!.diff;
    let dy = top[0]!.diff;
    if (dy === dx || top[0] === bottom[0]) {
      if (this.dyCopy.length !== dy.length) this.dyCopy = new Float32Array(dy.length);
      this.dyCopy.set(dy);
      dy = this.dyCopy;
    }
    for (let r = 0; r < R; r++) {
      const o = r * D;
      let sdy = 0;
      for (let j = 0; j < D; j++) sdy += dy[o + j]!;
      if (!this.normalizeVariance) {
        const m = sdy / D;
        for (let j = 0; j < D; j++) dx[o + j] = dy[o + j]! - m;
        continue;
      }
      // Caffe's formula: (dy - mean(dy) - mean(dy * y) * y) / (std + eps).
      let sdyy = 0;
      for (let j = 0; j < D; j++) sdyy += dy[o + j]! * y[o + j]!;
      const m = sdy / D, myy = sdyy / D, sd = this.std[r]!;
      for (let j = 0; j < D; j++) dx[o + j] = (dy[o + j]! - m - myy * y[o + j]!) / sd;
    }
  }

  // Rows are channelSum's channels (one image of R channels of D). In place, every row statistic is taken before the
  // elementwise kernel, which reads each element before writing it. eps is a double: it goes to the kernel as hi + lo.
  override forwardGpu(bottom: Blob[], top: Blob[], gpu: WebGpuDevice): void {
    const [R, D] = this.rows(bottom[0]!), n = R * D, k = lossOpsOf(gpu), geo = { num: 1, channels: R, spatial: D };
    this.stats.reshape([6 * R]);
    const st = this.stats.deviceData(gpu, true), mean = { buffer: st, offset: 0 }, std = { buffer: st, offset: R };
    const x = bottom[0]!.deviceData(gpu);
    channelSumOnDevice(gpu, geo, SUM, x, x, mean, { div: D });
    if (this.normalizeVariance) {
      channelSumOnDevice(gpu, geo, SUM_SQDEV, x, mean, std, { div: D });
      const epsHi = Math.fround(this.eps);
      gpu.kernels.run1d(k.mvnStd, R, [std, std], [R, R], [epsHi, this.eps - epsHi]);
    }
    gpu.kernels.run1d(k.mvnNormalize, n, [x, mean, std, top[0]!.deviceData(gpu, true)], [n, R, R, n], [D, this.normalizeVariance ? 1 : 0]);
  }

  override backwardGpu(top: Blob[], propagateDown: boolean[], bottom: Blob[], gpu: WebGpuDevice): void {
    if (!propagateDown[0]) return;
    const [R, D] = this.rows(bottom[0]!), n = R * D, geo = { num: 1, channels: R, spatial: D };
    const st = this.stats.deviceData(gpu, true), means = { buffer: st, offset: 2 * R };
    const dy = top[0]!.deviceDiff(gpu), y = top[0]!.deviceData(gpu);
    channelSumOnDevice(gpu, geo, SUM, dy, dy, means, { div: D, pair: true });
    if (this.normalizeVariance) channelSumOnDevice(gpu, geo, SUM_PRODUCT, dy, y, { buffer: st, offset: 4 * R }, { div: D, pair: true });
    gpu.kernels.run1d(lossOpsOf(gpu).mvnBackward, n, [dy, y, { buffer: st, offset: R }, means, bottom[0]!.deviceDiff(gpu, true)],
      [n, n, R, 4 * R, n], [R, D, this.normalizeVariance ? 1 : 0]);
  }
}

registerLayer('MVN', MVNLayer);
