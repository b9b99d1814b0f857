// Split: copies one bottom to several tops (inserted by the net when a blob feeds several layers); gradients sum.
import type { Blob } from '../blob/blob.js';
import { Layer, registerLayer } from './layer.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import { copyOnDevice } from './device_util.js';

export class SplitLayer extends Layer {
  override exactNumBottomBlobs(): number { return 1; }
  override minTopBlobs(): number { return 1; }

  reshape(bottom: Blob[], top: Blob[]): void {
    for (const t of top) {
      if (t === bottom[0]) throw new Error(`Layer ${this.name}: Split does not work in place`);
      t.reshapeLike(bottom[0]!);
    }
  }

  forward(bottom: Blob[], top: Blob[]): void {
    for (const t of top) t.data.set(bottom[0]!.data);
  }

  backward(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    const d = bottom[0]!.diff;
    d.set(top[0]!.diff);
    for (let i = 1; i < top.length; i++) {
      const t = top[i]!.diff;
      for (let j = 0; j < d.length; j++) d[j]! += t[j]!;
    }
  }

  override forwardGpu(bottom: Blob[], top: Blob[], gpu: WebGpuDevice): void {
    const n = bottom[0]!.count(), x = bottom[0]!.deviceData(gpu);
    for (const t of top) copyOnDevice(gpu, n, x, t.deviceData(gpu, true));
  }

  override backwardGpu(top: Blob[], propagateDown: boolean[], bottom: Blob[], gpu: WebGpuDevice): void {
    if (!propagateDown[0]) return;
    const n = bottom[0]!.count(), dx = bottom[0]!.deviceDiff(gpu, true);
    copyOnDevice(gpu, n, top[0]!.deviceDiff(gpu), dx);
    for (let i = 1; i < top.length; i++) gpu.kernels.axpy(n, 1, top[i]!.deviceDiff(gpu), dx);
  }
}

registerLayer('Split', SplitLayer);
