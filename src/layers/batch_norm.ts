// BatchNorm, as Caffe's BatchNormLayer: normalizes each channel (axis 1) to zero mean and unit variance over the batch
// and spatial positions. Three blobs hold the running statistics exactly as Caffe stores them: [0] the decayed sum
// of means, [1] the decayed sum of unbiased variances, [2] (shape [1]) the decayed count; the estimates are
// blob / blob[2]. use_global_stats (default: true in TEST, false in TRAIN) normalizes with those estimates instead.
import type { BatchNormParameter, ParamSpec } from '../proto/types.generated.js';
import { createMessage, has, paramOf } from '../proto/caffe.js';
import { Blob } from '../blob/blob.js';
import { Layer, registerLayer, TEST } from './layer.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import { channelSumOnDevice, normOf, SUM, SUM_PRODUCT, SUM_SQDEV } from './device_util.js';

export class BatchNormLayer extends Layer {
  private useGlobalStats = false;
  private fraction = 0.999;
  private eps = 1e-5;
  private channels = 0;
  private mean = new Float64Array(0);
  /** sqrt(variance + eps) per channel, from the last forward. */
  private std = new Float64Array(0);
  /** The normalized output, kept for backward (later in-place layers may overwrite the top). */
  private xNorm = new Float32Array(0);
  private dyCopy = new Float32Array(0);
  private stats = new Blob();
  private xNormBlob = new Blob();

  override exactNumBottomBlobs(): number { return 1; }
  override exactNumTopBlobs(): number { return 1; }

  override layerSetUp(bottom: Blob[]): void {
    const p = paramOf<BatchNormParameter>('BatchNormParameter', this.param.batch_norm_param);
    this.fraction = p.moving_average_fraction ?? 0.999;
    this.useGlobalStats = has(p, 'use_global_stats') ? !!p.use_global_stats : this.phase === TEST;
    this.eps = p.eps ?? 1e-5;
    const b = bottom[0]!;
    this.channels = b.numAxes === 1 ? 1 : b.shape[1]!;
    if (this.blobs.length === 0) {
      this.blobs = [new Blob([this.channels]), new Blob([this.channels]), new Blob([1])];
    }
    // The statistics are not learned: Caffe forces lr_mult 0 on each (adding param specs as needed).
    const specs = this.param.param ?? (this.param.param = []);
    for (let i = 0; i < this.blobs.length; i++) {
      if (i === specs.length) specs.push(createMessage<ParamSpec>('ParamSpec', { lr_mult: 0 }));
      else if ((paramOf<ParamSpec>('ParamSpec', specs[i]).lr_mult ?? 1) !== 0) {
        throw new Error(`Layer ${this.name} (BatchNorm): Cannot configure batch normalization statistics as layer parameters (param ${i} needs lr_mult: 0)`);
      }
    }
    this.paramPropagateDown = this.blobs.map(() => false);
  }

  reshape(bottom: Blob[], top: Blob[]): void {
    const b = bottom[0]!;
    if (b.numAxes >= 1 && (b.numAxes === 1 ? 1 : b.shape[1]) !== this.channels) {
      throw new Error(`Layer ${this.name} (BatchNorm): bottom has ${b.numAxes === 1 ? 1 : b.shape[1]} channels, the layer was set up for ${this.channels}`);
    }
    if (top[0] !== b) top[0]!.reshapeLike(b);
    if (this.mean.length !== this.channels) {
      this.mean = new Float64Array(this.channels);
      this.std = new Float64Array(this.channels);
    }
    if (this.xNorm.length !== b.count()) {
      this.xNorm = new Float32Array(b.count());
      this.dyCopy = new Float32Array(b.count());
    }
  }

  private dims(b: Blob): [number, number, number] {
    const num = b.numAxes === 0 ? 1 : b.shape[0]!;
    const spatial = b.count() / (num * this.channels);
    return [num, this.channels, spatial];
  }

  forward(bottom: Blob[], top: Blob[]): void {
    const b = bottom[0]!;
    const [N, C, S] = this.dims(b);
    const x = b.data, y = top[0]!.data;
    const m = N * S;
    const mean = this.mean, std = this.std;
    const f = Math.fround;
    if (this.useGlobalStats) {
      const s = this.blobs[2]!.data[0]!;
      const factor = s === 0 ? 0 : 1 / s;
      for (let c = 0; c < C; c++) {
        mean[c] = f(factor * this.blobs[0]!.data[c]!);
        std[c] = f(factor * this.blobs[1]!.data[c]!);
      }
    } else {
      mean.fill(0);
      for (let n = 0; n < N; n++) {
        for (let c = 0; c < C; c++) {
          const o = (n * C + c) * S;
          let s = 0;
          for (let j = 0; j < S; j++) s += x[o + j]!;
          mean[c]! += s;
        }
      }
      for (let c = 0; c < C; c++) mean[c] = f(mean[c]! / m);
    }
    // Subtract the mean (y may be x: in place).
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        const o = (n * C + c) * S, mu = mean[c]!;
        for (let j = 0; j < S; j++) y[o + j] = x[o + j]! - mu;
      }
    }
    if (!this.useGlobalStats) {
      // var(X) = E((X - EX)^2), biased.
      std.fill(0);
      for (let n = 0; n < N; n++) {
        for (let c = 0; c < C; c++) {
          const o = (n * C + c) * S;
          let s = 0;
          for (let j = 0; j < S; j++) s += y[o + j]! * y[o + j]!;
          std[c]! += s;
        }
      }
      for (let c = 0; c < C; c++) std[c] = f(std[c]! / m);
      // Moving averages: blob2 = fraction * blob2 + 1; blob0 = mean + fraction * blob0; blob1 = unbiased var + fraction * blob1.
      const s2 = this.blobs[2]!.data;
      s2[0] = s2[0]! * this.fraction + 1;
      const correction = m > 1 ? m / (m - 1) : 1;
      const b0 = this.blobs[0]!.data, b1 = this.blobs[1]!.data;
      for (let c = 0; c < C; c++) {
        b0[c] = mean[c]! + this.fraction * b0[c]!;
        b1[c] = correction * std[c]! + this.fraction * b1[c]!;
      }
    }
    for (let c = 0; c < C; c++) std[c] = f(Math.sqrt(f(std[c]! + this.eps)));
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        const o = (n * C + c) * S, sd = std[c]!;
        for (let j = 0; j < S; j++) y[o + j] = y[o + j]! / sd;
      }
    }
    this.xNorm.set(y);
  }

  backward(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    const b = bottom[0]!;
    const [N, C, S] = this.dims(b);
    let dy = top[0]!.diff;
    if (top[0] === b) { this.dyCopy.set(dy); dy = this.dyCopy; }
    const dx = b.diff, std = this.std;
    if (this.useGlobalStats) {
      for (let n = 0; n < N; n++) {
        for (let c = 0; c < C; c++) {
          const o = (n * C + c) * S, sd = std[c]!;
          for (let j = 0; j < S; j++) dx[o + j] = dy[o + j]! / sd;
        }
      }
      return;
    }
    // dE/dX = (dE/dY - mean(dE/dY) - mean(dE/dY * Y) * Y) / sqrt(var(X) + eps)
    const y = this.xNorm;
    const sumDy = new Float64Array(C), sumDyY = new Float64Array(C);
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        const o = (n * C + c) * S;
        let a = 0, bb = 0;
        for (let j = 0; j < S; j++) { a += dy[o + j]!; bb += dy[o + j]! * y[o + j]!; }
        sumDy[c]! += a; sumDyY[c]! += bb;
      }
    }
    const inv = 1 / (N * S);
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        const o = (n * C + c) * S, sd = std[c]!, mdy = sumDy[c]! * inv, mdyy = sumDyY[c]! * inv;
        for (let j = 0; j < S; j++) dx[o + j] = (dy[o + j]! - mdy - mdyy * y[o + j]!) / sd;
      }
    }
  }

  // The device path keeps its per-channel numbers in `stats` (mean, std, then backward's two means as double-float
  // pairs) and the normalized output in `xNormBlob`. eps is a double: it goes to the kernels as hi + lo.
  override forwardGpu(bottom: Blob[], top: Blob[], gpu: WebGpuDevice): void {
    const b = bottom[0]!, [N, C, S] = this.dims(b), n = b.count(), k = normOf(gpu);
    this.stats.reshape([6 * C]);
    this.xNormBlob.reshape([n]);
    const st = this.stats.deviceData(gpu, true), mean = { buffer: st, offset: 0 }, std = { buffer: st, offset: C };
    const epsHi = Math.fround(this.eps), eps = [epsHi, this.eps - epsHi];
    const x = b.deviceData(gpu), [b0, b1, b2] = this.blobs.map((p) => p.deviceData(gpu, !this.useGlobalStats)) as [GPUBuffer, GPUBuffer, GPUBuffer];
    if (this.useGlobalStats) {
      gpu.kernels.run1d(k.bnGlobalStats, C, [b0, b1, b2, mean, std], [C, C, 1, C, C], eps);
    } else {
      const geo = { num: N, channels: C, spatial: S }, m = N * S;
      channelSumOnDevice(gpu, geo, SUM, x, x, mean, { div: m });
      channelSumOnDevice(gpu, geo, SUM_SQDEV, x, mean, std, { div: m });
      gpu.kernels.run1d(k.bnUpdateStats, C, [mean, std, b0, b1, b2], [C, C, C, C, 1], [this.fraction, m > 1 ? m / (m - 1) : 1, ...eps]);
    }
    gpu.kernels.run1d(k.bnNormalize, n, [x, mean, std, top[0]!.deviceData(gpu, true), this.xNormBlob.deviceData(gpu, true)],
      [n, C, C, n, n], [C, S]);
  }

  override backwardGpu(top: Blob[], propagateDown: boolean[], bottom: Blob[], gpu: WebGpuDevice): void {
    if (!propagateDown[0]) return;
    const b = bottom[0]!, [N, C, S] = this.dims(b), n = b.count(), k = normOf(gpu);
    const st = this.stats.deviceData(gpu, true), std = { buffer: st, offset: C };
    const dy = top[0]!.deviceDiff(gpu);
    if (this.useGlobalStats) {
      gpu.kernels.run1d(k.bnBackwardGlobal, n, [dy, std, b.deviceDiff(gpu, true)], [n, C, n], [C, S]);
      return;
    }
    // In place, dx is dy: both means are taken before the last kernel, which reads each dy before writing its dx.
    const geo = { num: N, channels: C, spatial: S }, xn = this.xNormBlob.deviceData(gpu), means = { buffer: st, offset: 2 * C };
    channelSumOnDevice(gpu, geo, SUM, dy, dy, means, { div: N * S, pair: true });
    channelSumOnDevice(gpu, geo, SUM_PRODUCT, dy, xn, { buffer: st, offset: 4 * C }, { div: N * S, pair: true });
    gpu.kernels.run1d(k.bnBackward, n, [dy, xn, std, means, b.deviceDiff(gpu, true)], [n, n, C, 4 * C, n], [C, S]);
  }
}

registerLayer('BatchNorm', BatchNormLayer);
