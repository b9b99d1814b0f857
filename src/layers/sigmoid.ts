// Sigmoid: y = 1 / (1 + exp(-x)); dy/dx = y * (1 - y). Works in place (backward reads the top).
import type { Blob } from '../blob/blob.js';
import { registerLayer } from './layer.js';
import { NeuronLayer } from './layer_util.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import { neuronOf } from './device_util.js';

export class SigmoidLayer extends NeuronLayer {
  forward(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0]!.data, y = top[0]!.data;
    for (let i = 0; i < x.length; i++) y[i] = 0.5 * Math.tanh(0.5 * x[i]!) + 0.5;
  }

  backward(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    const y = top[0]!.data, dy = top[0]!.diff, dx = bottom[0]!.diff;
    for (let i = 0; i < y.length; i++) dx[i] = dy[i]! * y[i]! * (1 - y[i]!);
  }

  override forwardGpu(bottom: Blob[], top: Blob[], gpu: WebGpuDevice): void {
    const n = bottom[0]!.count();
    gpu.kernels.run1d(neuronOf(gpu).sigmoidForward, n, [bottom[0]!.deviceData(gpu), top[0]!.deviceData(gpu, true)], [n, n], []);
  }

  override backwardGpu(top: Blob[], propagateDown: boolean[], bottom: Blob[], gpu: WebGpuDevice): void {
    if (!propagateDown[0]) return;
    const n = bottom[0]!.count();
    gpu.kernels.run1d(neuronOf(gpu).sigmoidBackward, n, [top[0]!.deviceData(gpu), top[0]!.deviceDiff(gpu), bottom[0]!.deviceDiff(gpu, true)], [n, n, n], []);
  }
}

registerLayer('Sigmoid', SigmoidLayer);
