// TanH: y = tanh(x); dy/dx = 1 - y^2. Works in place (backward reads the top).
import type { Blob } from '../blob/blob.js';
import { registerLayer } from './layer.js';
import { NeuronLayer } from './layer_util.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import { neuronBackwardOnDevice, neuronForwardOnDevice, neuronOf } from './device_util.js';

export class TanHLayer extends NeuronLayer {
  forward(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0]!.data, y = top[0]!.data;
    for (let i = 0; i < x.length; i++) y[i] = Math.tanh(x[i]!);
  }

  backward(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    const y = top[0]!.data, dy = top[0]!.diff, dx = bottom[0]!.diff;
    for (let i = 0; i < y.length; i++) dx[i] = dy[i]! * (1 - y[i]! * y[i]!);
  }

  override forwardGpu(bottom: Blob[], top: Blob[], gpu: WebGpuDevice): void {
    neuronForwardOnDevice(gpu, neuronOf(gpu).tanhForward, bottom[0]!, top[0]!);
  }

  override backwardGpu(top: Blob[], propagateDown: boolean[], bottom: Blob[], gpu: WebGpuDevice): void {
    if (!propagateDown[0]) return;
    neuronBackwardOnDevice(gpu, neuronOf(gpu).tanhBackward, top[0]!, top[0]!, bottom[0]!);
  }
}

registerLayer('TanH', TanHLayer);
