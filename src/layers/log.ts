// Log: y = log_base(shift + scale * x) (base -1 means e); dy/dx = scale / (ln(base) * (shift + scale * x)).
// Backward reads the bottom, so in place gives wrong gradients (as in Caffe).
import type { LogParameter } from '../proto/types.generated.js';
import { paramOf } from '../proto/caffe.js';
import type { Blob } from '../blob/blob.js';
import { registerLayer } from './layer.js';
import { check, NeuronLayer } from './layer_util.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import { neuronBackwardOnDevice, neuronForwardOnDevice, neuronOf } from './device_util.js';

export class LogLayer extends NeuronLayer {
  private baseScale = 1;
  private scale = 1;
  private shift = 0;

  override layerSetUp(): void {
    const p = paramOf<LogParameter>('LogParameter', this.param.log_param);
    const base = p.base ?? -1;
    check(this, base > 0 || base === -1, 'base must be strictly positive.');
    const logBase = base === -1 ? 1 : Math.log(base);
    check(this, !Number.isNaN(logBase), 'NaN result: log(base) = log(' + base + ') = ' + logBase);
    this.baseScale = 1 / logBase;
    check(this, !Number.isNaN(this.baseScale), 'NaN result: 1/log(base) = 1/log(' + base + ') = ' + this.baseScale);
    this.scale = p.scale ?? 1;
    this.shift = p.shift ?? 0;
  }

  forward(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0]!.data, y = top[0]!.data, { scale, shift, baseScale } = this;
    for (let i = 0; i < x.length; i++) y[i] = Math.log(scale * x[i]! + shift) * baseScale;
  }

  backward(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    const x = bottom[0]!.data, dy = top[0]!.diff, dx = bottom[0]!.diff, { scale, shift } = this;
    const num = scale * this.baseScale;
    for (let i = 0; i < x.length; i++) dx[i] = dy[i]! * num / (scale * x[i]! + shift);
  }

  override forwardGpu(bottom: Blob[], top: Blob[], gpu: WebGpuDevice): void {
    neuronForwardOnDevice(gpu, neuronOf(gpu).logForward, bottom[0]!, top[0]!, [this.scale, this.shift, this.baseScale]);
  }

  override backwardGpu(top: Blob[], propagateDown: boolean[], bottom: Blob[], gpu: WebGpuDevice): void {
    if (!propagateDown[0]) return;
    neuronBackwardOnDevice(gpu, neuronOf(gpu).logBackward, bottom[0]!, top[0]!, bottom[0]!, [this.scale, this.shift, this.scale * this.baseScale]);
  }
}

registerLayer('Log', LogLayer);
