// SigmoidCrossEntropyLoss, as Caffe's (master) SigmoidCrossEntropyLossLayer: the cross-entropy of sigmoid(x) against
// targets in [0, 1], computed in the numerically stable form; ignore_label skips targets, normalization as Caffe.
import { has } from '../proto/caffe.js';
import { Blob } from '../blob/blob.js';
import { registerLayer } from './layer.js';
import { checkSameNum } from './loss_shape.js';
import { LossLayer, normalizer, VALID } from './loss_util.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import { lossOpsOf } from './device_util.js';

export class SigmoidCrossEntropyLossLayer extends LossLayer {
  private sigmoid = new Blob();
  private norm = 1;
  /** The device loss's 1 / normalizer (GpuKernels.lossReduce). */
  private rnorm = new Blob([1]);

  override exactNumTopBlobs(): number { return 1; }

  reshape(bottom: Blob[], top: Blob[]): void {
    if (bottom[0]!.count() !== bottom[1]!.count()) {
      throw new Error(`Layer ${this.name} (SigmoidCrossEntropyLoss): inputs must have the same count (${bottom[0]!.shapeString()} vs ${bottom[1]!.shapeString()})`);
    }
    checkSameNum(this, bottom);
    top[0]!.reshape([]);
    this.sigmoid.reshapeLike(bottom[0]!);
  }

  forward(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0]!.data, t = bottom[1]!.data, s = this.sigmoid.data;
    for (let i = 0; i < x.length; i++) s[i] = 1 / (1 + Math.exp(-x[i]!));
    let loss = 0, valid = 0;
    for (let i = 0; i < x.length; i++) {
      if (this.ignoreLabel !== undefined && Math.trunc(t[i]!) === this.ignoreLabel) continue;
      const xi = x[i]!, pos = xi >= 0 ? 1 : 0;
      loss -= xi * (t[i]! - pos) - Math.log(1 + Math.exp(xi - 2 * xi * pos));
      valid++;
    }
    const outer = bottom[0]!.numAxes ? bottom[0]!.shape[0]! : 1;
    this.norm = normalizer(this.mode, outer, bottom[0]!.count(1), valid);
    top[0]!.data[0] = loss / this.norm;
  }

  backward(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (propagateDown[1]) throw new Error(`Layer ${this.name} (SigmoidCrossEntropyLoss): cannot backpropagate to label inputs`);
    if (!propagateDown[0]) return;
    const t = bottom[1]!.data, s = this.sigmoid.data, dx = bottom[0]!.diff;
    const w = top[0]!.diff[0]! / this.norm;
    for (let i = 0; i < dx.length; i++) {
      const ignored = this.ignoreLabel !== undefined && Math.trunc(t[i]!) === this.ignoreLabel;
      dx[i] = ignored ? 0 : (s[i]! - t[i]!) * w;
    }
  }

  private ignoreValues(): number[] {
    return [this.ignoreLabel === undefined ? 0 : 1, this.ignoreLabel ?? 0];
  }

  override forwardGpu(bottom: Blob[], top: Blob[], gpu: WebGpuDevice): void {
    const b = bottom[0]!, n = b.count(), outer = b.numAxes ? b.shape[0]! : 1;
    const useCount = this.mode === VALID && this.ignoreLabel !== undefined;
    gpu.kernels.lossReduce(lossOpsOf(gpu).sigmoidCePartial, n, [b.deviceData(gpu), bottom[1]!.deviceData(gpu)], [n, n],
      this.ignoreValues(), { useCount, norm: useCount ? 0 : normalizer(this.mode, outer, b.count(1), -1) },
      top[0]!.deviceData(gpu, true), this.rnorm.deviceData(gpu, true));
  }

  /** Scaled by the loss weight in the top's diff and the normalizer the forward pass kept. */
  override backwardGpu(top: Blob[], propagateDown: boolean[], bottom: Blob[], gpu: WebGpuDevice): void {
    if (propagateDown[1]) throw new Error(`Layer ${this.name} (SigmoidCrossEntropyLoss): cannot backpropagate to label inputs`);
    if (!propagateDown[0]) return;
    const n = bottom[0]!.count();
    gpu.kernels.run1d(lossOpsOf(gpu).sigmoidCeBackward, n, [bottom[0]!.deviceData(gpu), bottom[1]!.deviceData(gpu),
      top[0]!.deviceDiff(gpu), this.rnorm.deviceData(gpu), bottom[0]!.deviceDiff(gpu, true)], [n, n, 1, 1, n], this.ignoreValues());
  }
}

registerLayer('SigmoidCrossEntropyLoss', SigmoidCrossEntropyLossLayer);
