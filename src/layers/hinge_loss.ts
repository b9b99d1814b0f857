// HingeLoss, as Caffe's HingeLossLayer: one-vs-all hinge over the N x D predictions, with t = +1 for the labelled
// class and -1 otherwise: L1 = sum max(0, 1 - t x) / N, L2 = sum max(0, 1 - t x)^2 / N.
import type { HingeLossParameter } from '../proto/types.generated.js';
import { paramOf } from '../proto/caffe.js';
import { Blob } from '../blob/blob.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import { badHostLabel, lossOpsOf } from './device_util.js';
import { Layer, registerLayer } from './layer.js';
import { LossLayer } from './loss_util.js';
import { checkSameNum } from './loss_shape.js';

const L1 = 1;
const L2 = 2;

export class HingeLossLayer extends LossLayer {
  private norm = L1;
  /** max(0, 1 - t x) from the last forward (Caffe keeps it in the bottom diff). */
  private margin = new Float32Array(0);
  /** The device loss's 1 / normalizer (GpuKernels.lossReduce). */
  private rnorm = new Blob([1]);

  override exactNumTopBlobs(): number { return 1; }

  override layerSetUp(): void {
    this.norm = paramOf<HingeLossParameter>('HingeLossParameter', this.param.hinge_loss_param).norm ?? L1;
    if (this.norm !== L1 && this.norm !== L2) throw new Error(`Layer ${this.name} (HingeLoss): unknown norm ${this.norm}`);
  }

  reshape(bottom: Blob[], top: Blob[]): void {
    checkSameNum(this, bottom);
    const b = bottom[0]!;
    const num = b.numAxes ? b.shape[0]! : 1;
    if (bottom[1]!.count() !== num) {
      throw new Error(`Layer ${this.name} (HingeLoss): the number of labels (${bottom[1]!.count()}) must equal the number of predictions (${num})`);
    }
    top[0]!.reshape([]);
    if (this.margin.length !== b.count()) this.margin = new Float32Array(b.count());
  }

  forward(bottom: Blob[], top: Blob[]): void {
    const b = bottom[0]!, x = b.data, label = bottom[1]!.data, m = this.margin;
    const num = b.numAxes ? b.shape[0]! : 1, dim = b.count() / num;
    m.set(x);
    for (let i = 0; i < num; i++) {
      const l = Math.trunc(label[i]!);
      if (l < 0 || l >= dim) throw this.labelError(l, dim);
      m[i * dim + l]! *= -1;
    }
    let loss = 0;
    for (let i = 0; i < m.length; i++) {
      m[i] = Math.max(0, 1 + m[i]!);
      loss += this.norm === L1 ? m[i]! : m[i]! * m[i]!;
    }
    top[0]!.data[0] = loss / num;
  }

  backward(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (propagateDown[1]) throw new Error(`Layer ${this.name} (HingeLoss): cannot backpropagate to label inputs`);
    if (!propagateDown[0]) return;
    const b = bottom[0]!, dx = b.diff, label = bottom[1]!.data;
    const num = b.numAxes ? b.shape[0]! : 1, dim = b.count() / num;
    dx.set(this.margin);
    for (let i = 0; i < num; i++) dx[i * dim + Math.trunc(label[i]!)]! *= -1;
    const w = top[0]!.diff[0]!;
    if (this.norm === L1) {
      for (let i = 0; i < dx.length; i++) dx[i] = (dx[i]! > 0 ? 1 : dx[i]! < 0 ? -1 : 0) * (w / num);
    } else {
      for (let i = 0; i < dx.length; i++) dx[i] = dx[i]! * ((w * 2) / num);
    }
  }

  // A label outside [0, dim) cannot throw on the device: the loss is NaN instead. The margins are recomputed in backward.
  private labelError(l: number, classes: number): Error {
    return new Error(`Layer ${this.name} (HingeLoss): label ${l} out of range [0, ${classes})`);
  }

  override forwardGpu(bottom: Blob[], top: Blob[], gpu: WebGpuDevice): void {
    const b = bottom[0]!, n = b.count(), num = b.numAxes ? b.shape[0]! : 1;
    const bad = badHostLabel(bottom[1]!, n / num);
    if (bad !== undefined) throw this.labelError(bad, n / num);
    gpu.kernels.lossReduce(lossOpsOf(gpu).hingePartial, n, [b.deviceData(gpu), bottom[1]!.deviceData(gpu)], [n, num],
      [n / num, this.norm === L2 ? 1 : 0], { useCount: false, norm: num }, top[0]!.deviceData(gpu, true), this.rnorm.deviceData(gpu, true));
  }

  override backwardGpu(top: Blob[], propagateDown: boolean[], bottom: Blob[], gpu: WebGpuDevice): void {
    if (propagateDown[1]) throw new Error(`Layer ${this.name} (HingeLoss): cannot backpropagate to label inputs`);
    if (!propagateDown[0]) return;
    const b = bottom[0]!, n = b.count(), num = b.numAxes ? b.shape[0]! : 1;
    gpu.kernels.run1d(lossOpsOf(gpu).hingeBackward, n, [b.deviceData(gpu), bottom[1]!.deviceData(gpu), top[0]!.deviceDiff(gpu),
      b.deviceDiff(gpu, true)], [n, num, 1, n], [n / num, this.norm === L2 ? 1 : 0, 1 / num]);
  }
}

registerLayer('HingeLoss', HingeLossLayer);
