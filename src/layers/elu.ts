// ELU: y = x for x > 0, alpha * (exp(x) - 1) otherwise; dy/dx = 1 or y + alpha. In place works for alpha >= 0
// (the sign of the output is the sign of the input), as in Caffe.
import type { ELUParameter } from '../proto/types.generated.js';
import { paramOf } from '../proto/caffe.js';
import type { Blob } from '../blob/blob.js';
import { registerLayer } from './layer.js';
import { NeuronLayer } from './layer_util.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import { neuronForwardOnDevice, neuronOf } from './device_util.js';

export class ELULayer extends NeuronLayer {
  private alpha = 1;

  override layerSetUp(): void {
    this.alpha = paramOf<ELUParameter>('ELUParameter', this.param.elu_param).alpha ?? 1;
  }

  forward(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0]!.data, y = top[0]!.data, a = this.alpha;
    for (let i = 0; i < x.length; i++) {
      const v = x[i]!;
      y[i] = v > 0 ? v : a * (Math.exp(v) - 1);
    }
  }

  backward(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    const x = bottom[0]!.data, y = top[0]!.data, dy = top[0]!.diff, dx = bottom[0]!.diff, a = this.alpha;
    for (let i = 0; i < x.length; i++) dx[i] = x[i]! > 0 ? dy[i]! : dy[i]! * (y[i]! + a);
  }

  override forwardGpu(bottom: Blob[], top: Blob[], gpu: WebGpuDevice): void {
    neuronForwardOnDevice(gpu, neuronOf(gpu).eluForward, bottom[0]!, top[0]!, [this.alpha]);
  }

  override backwardGpu(top: Blob[], propagateDown: boolean[], bottom: Blob[], gpu: WebGpuDevice): void {
    if (!propagateDown[0]) return;
    const n = bottom[0]!.count();
    gpu.kernels.run1d(neuronOf(gpu).eluBackward, n, [bottom[0]!.deviceData(gpu), top[0]!.deviceData(gpu), top[0]!.deviceDiff(gpu), bottom[0]!.deviceDiff(gpu, true)], [n, n, n, n], [this.alpha]);
  }
}

registerLayer('ELU', ELULayer);
