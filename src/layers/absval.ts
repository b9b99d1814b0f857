// AbsVal: y = |x|; dy/dx = sign(x) (0 at 0, as caffe_sign). Not in place, as in Caffe.
import type { Blob } from '../blob/blob.js';
import { registerLayer } from './layer.js';
import { check, NeuronLayer, sign } from './layer_util.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import { neuronBackwardOnDevice, neuronForwardOnDevice, neuronOf } from './device_util.js';

export class AbsValLayer extends NeuronLayer {
  override layerSetUp(bottom: Blob[], top: Blob[]): void {
    check(this, top[0] !== bottom[0], 'AbsVal Layer does not allow in-place computation.');
  }

  forward(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0]!.data, y = top[0]!.data;
    for (let i = 0; i < x.length; i++) y[i] = Math.abs(x[i]!);
  }

  backward(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    const x = bottom[0]!.data, dy = top[0]!.diff, dx = bottom[0]!.diff;
    for (let i = 0; i < x.length; i++) dx[i] = sign(x[i]!) * dy[i]!;
  }

  override forwardGpu(bottom: Blob[], top: Blob[], gpu: WebGpuDevice): void {
    neuronForwardOnDevice(gpu, neuronOf(gpu).absForward, bottom[0]!, top[0]!);
  }

  override backwardGpu(top: Blob[], propagateDown: boolean[], bottom: Blob[], gpu: WebGpuDevice): void {
    if (!propagateDown[0]) return;
    neuronBackwardOnDevice(gpu, neuronOf(gpu).absBackward, bottom[0]!, top[0]!, bottom[0]!);
  }
}

registerLayer('AbsVal', AbsValLayer);
