// BNLL (binomial normal log likelihood): y = log(1 + exp(x)), computed stably; dy/dx = exp(x) / (1 + exp(x)) with
// exp's argument capped at 50, as Caffe. Backward reads the bottom, so in place gives wrong gradients (as in Caffe).
import type { Blob } from '../blob/blob.js';
import { registerLayer } from './layer.js';
import { NeuronLayer } from './layer_util.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import { neuronBackwardOnDevice, neuronForwardOnDevice, neuronOf } from './device_util.js';

const BNLL_THRESHOLD = 50;

export class BNLLLayer extends NeuronLayer {
  forward(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0]!.data, y = top[0]!.data;
    for (let i = 0; i < x.length; i++) {
      const v = x[i]!;
      y[i] = v > 0 ? v + Math.log1p(Math.exp(-v)) : Math.log1p(Math.exp(v));
    }
  }

  backward(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    const x = bottom[0]!.data, dy = top[0]!.diff, dx = bottom[0]!.diff;
    for (let i = 0; i < x.length; i++) {
      const e = Math.exp(Math.min(x[i]!, BNLL_THRESHOLD));
      dx[i] = dy[i]! * e / (e + 1);
    }
  }

  override forwardGpu(bottom: Blob[], top: Blob[], gpu: WebGpuDevice): void {
    neuronForwardOnDevice(gpu, neuronOf(gpu).bnllForward, bottom[0]!, top[0]!);
  }

  override backwardGpu(top: Blob[], propagateDown: boolean[], bottom: Blob[], gpu: WebGpuDevice): void {
    if (!propagateDown[0]) return;
    neuronBackwardOnDevice(gpu, neuronOf(gpu).bnllBackward, bottom[0]!, top[0]!, bottom[0]!);
  }
}

registerLayer('BNLL', BNLLLayer);
