// AbsVal: y = |x|; dy/dx = sign(x) (0 at 0, as caffe_sign). Not in place, as in Caffe.
import type { Blob } from '../blob/blob.js';
import { registerLayer } from './layer.js';
import { check, NeuronLayer, sign } from './layer_util.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import { neuronOf } from './device_util.js';

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
    const n = bottom[0]!.count();
    gpu.kernels.run1d(neuronOf(gpu).absForward, n, [bottom[0]!.deviceData(gpu), top[0]!.deviceData(gpu, true)], [n, n], []);
  }

  override backwardGpu(top: Blob[], propagateDown: boolean[], bottom: Blob[], gpu: WebGpuDevice): void {
    if (!propagateDown[0]) return;
    const n = bottom[0]!.count();
    gpu.kernels.run1d(neuronOf(gpu).absBackward, n, [bottom[0]!.deviceData(gpu), top[0]!.deviceDiff(gpu), bottom[0]!.deviceDiff(gpu, true)], [n, n, n], []);
  }
}

registerLayer('AbsVal', AbsValLayer);
