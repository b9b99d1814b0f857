// ContrastiveLoss, as Caffe's ContrastiveLossLayer: for feature pairs (a, b) with similarity label y,
// loss = 1/(2N) sum [ y d^2 + (1 - y) max(margin - d, 0)^2 ], d = ||a - b||; legacy_version uses max(margin - d^2, 0).
import type { ContrastiveLossParameter } from '../proto/types.generated.js';
import { paramOf } from '../proto/caffe.js';
import { Blob } from '../blob/blob.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import { SUM_PRODUCT, channelSumOnDevice, lossOpsOf } from './device_util.js';
import { Layer, registerLayer } from './layer.js';
import { LossLayer } from './loss_util.js';
import { checkSameNum } from './loss_shape.js';

export class ContrastiveLossLayer extends LossLayer {
  private margin = 1;
  private legacy = false;
  private diff = new Float32Array(0);
  private distSq = new Float64Array(0);
  /** The device path's a - b, the squared distances, and 1 / the loss's normalizer (GpuKernels.lossReduce). */
  private diffBlob = new Blob();
  private distBlob = new Blob();
  private rnorm = new Blob([1]);

  override exactNumBottomBlobs(): number { return 3; }
  override exactNumTopBlobs(): number { return 1; }
  override allowForceBackward(i: number): boolean { return i !== 2; }

  override layerSetUp(bottom: Blob[]): void {
    const p = paramOf<ContrastiveLossParameter>('ContrastiveLossParameter', this.param.contrastive_loss_param);
    this.margin = p.margin ?? 1;
    this.legacy = p.legacy_version ?? false;
    const err = (m: string) => new Error(`Layer ${this.name} (ContrastiveLoss): ${m}`);
    const [a, b, y] = bottom as [Blob, Blob, Blob];
    if (a.channels !== b.channels) throw err(`the two feature inputs must have the same channels (${a.shapeString()} vs ${b.shapeString()})`);
    for (const [blob, what] of [[a, 'bottom 0'], [b, 'bottom 1']] as const) {
      if (blob.height !== 1 || blob.width !== 1) throw err(`${what} must have height and width 1 (got ${blob.shapeString()})`);
    }
    if (y.channels !== 1 || y.height !== 1 || y.width !== 1) throw err(`the similarity input must be N x 1 x 1 x 1 (got ${y.shapeString()})`);
  }

  reshape(bottom: Blob[], top: Blob[]): void {
    checkSameNum(this, bottom);
    const [a, b, y] = bottom as [Blob, Blob, Blob];
    if (a.num !== b.num || a.num !== y.num || a.count() !== b.count()) {
      throw new Error(`Layer ${this.name} (ContrastiveLoss): input shapes disagree (${a.shapeString()}, ${b.shapeString()}, ${y.shapeString()})`);
    }
    top[0]!.reshape([]);
    if (this.diff.length !== a.count()) this.diff = new Float32Array(a.count());
    if (this.distSq.length !== a.num) this.distSq = new Float64Array(a.num);
  }

  private similar(y: Blob, i: number): boolean {
    return Math.trunc(y.data[i]!) !== 0;
  }

  forward(bottom: Blob[], top: Blob[]): void {
    const [a, b, y] = bottom as [Blob, Blob, Blob];
    const N = a.num, C = a.channels, d = this.diff;
    for (let i = 0; i < d.length; i++) d[i] = a.data[i]! - b.data[i]!;
    let loss = 0;
    for (let i = 0; i < N; i++) {
      let s = 0;
      for (let j = 0; j < C; j++) s += d[i * C + j]! * d[i * C + j]!;
      s = Math.fround(s);
      this.distSq[i] = s;
      if (this.similar(y, i)) loss += s;
      else if (this.legacy) loss += Math.max(this.margin - s, 0);
      else {
        const m = Math.max(this.margin - Math.sqrt(s), 0);
        loss += m * m;
      }
    }
    top[0]!.data[0] = loss / N / 2;
  }

  backward(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (propagateDown[2]) throw new Error(`Layer ${this.name} (ContrastiveLoss): cannot backpropagate to the similarity input`);
    const [a, , y] = bottom as [Blob, Blob, Blob];
    const N = a.num, C = a.channels, d = this.diff;
    for (let k = 0; k < 2; k++) {
      if (!propagateDown[k]) continue;
      const dx = bottom[k]!.diff;
      const alpha = ((k === 0 ? 1 : -1) * top[0]!.diff[0]!) / N;
      for (let i = 0; i < N; i++) {
        let beta: number;
        if (this.similar(y, i)) beta = alpha;
        else {
          let mdist: number;
          if (this.legacy) {
            mdist = this.margin - this.distSq[i]!;
            beta = -alpha;
          } else {
            const dist = Math.sqrt(this.distSq[i]!);
            mdist = this.margin - dist;
            beta = (-alpha * mdist) / (dist + 1e-4);
          }
          if (!(mdist > 0)) beta = 0;
        }
        for (let j = 0; j < C; j++) dx[i * C + j] = beta * d[i * C + j]!;
      }
    }
  }

  override forwardGpu(bottom: Blob[], top: Blob[], gpu: WebGpuDevice): void {
    const [a, b, y] = bottom as [Blob, Blob, Blob];
    const N = a.num, n = a.count(), k = lossOpsOf(gpu);
    this.diffBlob.reshape([n]);
    this.distBlob.reshape([N]);
    const d = this.diffBlob.deviceData(gpu, true), dist = this.distBlob.deviceData(gpu, true);
    gpu.kernels.run1d(k.contrastiveDiff, n, [a.deviceData(gpu), b.deviceData(gpu), d], [n, n, n], []);
    channelSumOnDevice(gpu, { num: 1, channels: N, spatial: a.channels }, SUM_PRODUCT, d, d, dist);
    gpu.kernels.lossReduce(k.contrastivePartial, N, [dist, y.deviceData(gpu)], [N, N], [this.margin, this.legacy ? 1 : 0],
      { useCount: false, norm: 2 * N }, top[0]!.deviceData(gpu, true), this.rnorm.deviceData(gpu, true));
  }

  override backwardGpu(top: Blob[], propagateDown: boolean[], bottom: Blob[], gpu: WebGpuDevice): void {
    if (propagateDown[2]) throw new Error(`Layer ${this.name} (ContrastiveLoss): cannot backpropagate to the similarity input`);
    const [a, , y] = bottom as [Blob, Blob, Blob];
    const N = a.num, n = a.count(), d = this.diffBlob.deviceData(gpu), dist = this.distBlob.deviceData(gpu);
    for (let k = 0; k < 2; k++) {
      if (!propagateDown[k]) continue;
      gpu.kernels.run1d(lossOpsOf(gpu).contrastiveBackward, n, [d, dist, y.deviceData(gpu), top[0]!.deviceDiff(gpu),
        bottom[k]!.deviceDiff(gpu, true)], [n, N, N, 1, n], [a.channels, this.margin, this.legacy ? 1 : 0, (k === 0 ? 1 : -1) / N]);
    }
  }
}

registerLayer('ContrastiveLoss', ContrastiveLossLayer);
