// ReLU with Caffe's negative_slope (leaky ReLU when non-zero). Works in place.
import type { ReLUParameter } from '../proto/types.generated.js';
import { paramOf } from '../proto/caffe.js';
import type { Blob } from '../blob/blob.js';
import { backend } from '../backend/backend.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import { Layer, registerLayer } from './layer.js';

export class ReLULayer extends Layer {
  private slope = 0;

  override exactNumBottomBlobs(): number { return 1; }
  override exactNumTopBlobs(): number { return 1; }

  override layerSetUp(): void {
    this.slope = paramOf<ReLUParameter>('ReLUParameter', this.param.relu_param).negative_slope ?? 0;
  }

  reshape(bottom: Blob[], top: Blob[]): void {
    if (top[0] !== bottom[0]) top[0]!.reshapeLike(bottom[0]!);
  }

  forward(bottom: Blob[], top: Blob[]): void {
    backend().reluForward(bottom[0]!.data, top[0]!.data, this.slope);
  }

  backward(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    // In place, bottom data already holds the output; its sign is the input's sign for slope >= 0.
    if (propagateDown[0]) backend().reluBackward(bottom[0]!.data, top[0]!.diff, bottom[0]!.diff, this.slope);
  }

  override forwardGpu(bottom: Blob[], top: Blob[], gpu: WebGpuDevice): void {
    const x = bottom[0]!.deviceData(gpu);
    gpu.kernels.reluForward(bottom[0]!.count(), x, top[0]!.deviceData(gpu, true), this.slope);
  }

  override backwardGpu(top: Blob[], propagateDown: boolean[], bottom: Blob[], gpu: WebGpuDevice): void {
    if (!propagateDown[0]) return;
    const b = bottom[0]!, x = b.deviceData(gpu), dy = top[0]!.deviceDiff(gpu);
    gpu.kernels.reluBackward(b.count(), x, dy, b.deviceDiff(gpu, true), this.slope);
  }
}

registerLayer('ReLU', ReLULayer);
