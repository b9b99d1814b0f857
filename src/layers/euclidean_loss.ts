// EuclideanLoss, as Caffe's EuclideanLossLayer: sum of squared differences / (2 N); gradients to both inputs.
import { Blob } from '../blob/blob.js';
import { Layer, registerLayer } from './layer.js';
import { LossLayer } from './loss_util.js';
import { checkSameNum } from './loss_shape.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import { routingOf } from './device_util.js';

/** Caffe's num(): the first dimension (1 for a scalar). */
function num(b: Blob): number {
  return b.numAxes ? b.shape[0]! : 1;
}

export class EuclideanLossLayer extends LossLayer {
  private diff = new Blob();

  override exactNumTopBlobs(): number { return 1; }
  /** Either input may receive a gradient (unlike other losses, bottom 1 is not a label). */
  override allowForceBackward(): boolean { return true; }

  reshape(bottom: Blob[], top: Blob[]): void {
    if (bottom[0]!.count(1) !== bottom[1]!.count(1)) {
      throw new Error(`Layer ${this.name} (EuclideanLoss): inputs must have the same dimension (${bottom[0]!.shapeString()} vs ${bottom[1]!.shapeString()})`);
    }
    checkSameNum(this, bottom);
    top[0]!.reshape([]);
    this.diff.reshapeLike(bottom[0]!);
  }

  forward(bottom: Blob[], top: Blob[]): void {
    const a = bottom[0]!.data, b = bottom[1]!.data, d = this.diff.data;
    let dot = 0;
    for (let i = 0; i < d.length; i++) {
      d[i] = a[i]! - b[i]!;
      dot += d[i]! * d[i]!;
    }
    top[0]!.data[0] = dot / num(bottom[0]!) / 2;
  }

  backward(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    const d = this.diff.data;
    for (let k = 0; k < 2; k++) {
      if (!propagateDown[k]) continue;
      const alpha = ((k === 0 ? 1 : -1) * top[0]!.diff[0]!) / num(bottom[k]!);
      const dx = bottom[k]!.diff;
      for (let i = 0; i < d.length; i++) dx[i] = alpha * d[i]!;
    }
  }

  override forwardGpu(bottom: Blob[], top: Blob[], gpu: WebGpuDevice): void {
    const n = this.diff.count(), d = this.diff.deviceData(gpu, true), loss = top[0]!.deviceData(gpu, true);
    gpu.kernels.run1d(routingOf(gpu).euclideanDiff, n, [bottom[0]!.deviceData(gpu), bottom[1]!.deviceData(gpu), d], [n, n, n], []);
    gpu.kernels.sumsq(n, d, loss);
    gpu.kernels.scal(1, 1 / num(bottom[0]!) / 2, loss);
  }

  override backwardGpu(top: Blob[], propagateDown: boolean[], bottom: Blob[], gpu: WebGpuDevice): void {
    const n = this.diff.count(), d = this.diff.deviceData(gpu), dy = top[0]!.deviceDiff(gpu);
    for (let k = 0; k < 2; k++) {
      if (!propagateDown[k]) continue;
      // The loss weight is the top's gradient, read on the device.
      gpu.kernels.run1d(routingOf(gpu).euclideanBackward, n, [d, dy, bottom[k]!.deviceDiff(gpu, true)], [n, 1, n],
        [(k === 0 ? 1 : -1) / num(bottom[k]!)]);
    }
  }
}

registerLayer('EuclideanLoss', EuclideanLossLayer);
