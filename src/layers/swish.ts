// Swish: y = x * sigmoid(beta * x); dy/dx = beta * y + sigmoid(beta * x) * (1 - beta * y). Works in place
// (backward reads the top and the stored sigmoid).
import type { SwishParameter } from '../proto/types.generated.js';
import { paramOf } from '../proto/caffe.js';
import { Blob } from '../blob/blob.js';
import { registerLayer } from './layer.js';
import { NeuronLayer } from './layer_util.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import { neuronOf } from './device_util.js';

export class SwishLayer extends NeuronLayer {
  private beta = 1;
  private sig = new Float32Array(0);
  /** The device path's sigmoid(beta * x). */
  private sigBlob = new Blob();

  override layerSetUp(): void {
    this.beta = paramOf<SwishParameter>('SwishParameter', this.param.swish_param).beta ?? 1;
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    super.reshape(bottom, top);
    if (this.sig.length !== bottom[0]!.count()) this.sig = new Float32Array(bottom[0]!.count());
  }

  forward(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0]!.data, y = top[0]!.data, s = this.sig, beta = this.beta;
    for (let i = 0; i < x.length; i++) {
      const v = x[i]!;
      s[i] = 0.5 * Math.tanh(0.5 * beta * v) + 0.5;
      y[i] = v * s[i]!;
    }
  }

  backward(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    const y = top[0]!.data, dy = top[0]!.diff, dx = bottom[0]!.diff, s = this.sig, beta = this.beta;
    for (let i = 0; i < y.length; i++) dx[i] = dy[i]! * (beta * y[i]! + s[i]! * (1 - beta * y[i]!));
  }

  override forwardGpu(bottom: Blob[], top: Blob[], gpu: WebGpuDevice): void {
    const n = bottom[0]!.count();
    this.sigBlob.reshape([n]);
    gpu.kernels.run1d(neuronOf(gpu).swishForward, n,
      [bottom[0]!.deviceData(gpu), top[0]!.deviceData(gpu, true), this.sigBlob.deviceData(gpu, true)], [n, n, n], [this.beta]);
  }

  override backwardGpu(top: Blob[], propagateDown: boolean[], bottom: Blob[], gpu: WebGpuDevice): void {
    if (!propagateDown[0]) return;
    const n = bottom[0]!.count();
    gpu.kernels.run1d(neuronOf(gpu).swishBackward, n, [top[0]!.deviceData(gpu), this.sigBlob.deviceData(gpu),
      top[0]!.deviceDiff(gpu), bottom[0]!.deviceDiff(gpu, true)], [n, n, n, n], [this.beta]);
  }
}

registerLayer('Swish', SwishLayer);
