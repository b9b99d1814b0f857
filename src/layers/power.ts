// Power: y = (shift + scale * x) ^ power; dy/dx = power * scale * (shift + scale * x) ^ (power - 1).
// When power * scale is 0 the output is the constant shift ^ power (1 when power is 0) and the gradient is 0.
import type { PowerParameter } from '../proto/types.generated.js';
import { paramOf } from '../proto/caffe.js';
import type { Blob } from '../blob/blob.js';
import { registerLayer } from './layer.js';
import { NeuronLayer } from './layer_util.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import { neuronBackwardOnDevice, neuronForwardOnDevice, neuronOf } from './device_util.js';

export class PowerLayer extends NeuronLayer {
  private power = 1;
  private scale = 1;
  private shift = 0;
  private diffScale = 1;

  override layerSetUp(): void {
    const p = paramOf<PowerParameter>('PowerParameter', this.param.power_param);
    this.power = p.power ?? 1;
    this.scale = p.scale ?? 1;
    this.shift = p.shift ?? 0;
    this.diffScale = this.power * this.scale;
  }

  forward(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0]!.data, y = top[0]!.data;
    const { power, scale, shift } = this;
    if (this.diffScale === 0) {
      y.fill(power === 0 ? 1 : Math.pow(shift, power));
      return;
    }
    for (let i = 0; i < x.length; i++) {
      const base = scale * x[i]! + shift;
      y[i] = power === 1 ? base : Math.pow(base, power);
    }
  }

  backward(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    const x = bottom[0]!.data, dy = top[0]!.diff, dx = bottom[0]!.diff;
    const { power, scale, shift, diffScale } = this;
    if (diffScale === 0) {
      dx.fill(0);
      return;
    }
    for (let i = 0; i < x.length; i++) {
      let g: number;
      if (power === 1) g = diffScale;
      else if (power === 2) g = diffScale * (scale * x[i]! + shift);
      else g = diffScale * Math.pow(scale * x[i]! + shift, power - 1);
      dx[i] = dy[i]! * g;
    }
  }

  override forwardGpu(bottom: Blob[], top: Blob[], gpu: WebGpuDevice): void {
    neuronForwardOnDevice(gpu, neuronOf(gpu).powerForward, bottom[0]!, top[0]!, [this.power, this.scale, this.shift, this.diffScale, this.power === 0 ? 1 : Math.pow(this.shift, this.power)]);
  }

  override backwardGpu(top: Blob[], propagateDown: boolean[], bottom: Blob[], gpu: WebGpuDevice): void {
    if (!propagateDown[0]) return;
    neuronBackwardOnDevice(gpu, neuronOf(gpu).powerBackward, bottom[0]!, top[0]!, bottom[0]!, [this.power, this.scale, this.shift, this.diffScale]);
  }
}

registerLayer('Power', PowerLayer);
