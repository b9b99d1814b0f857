// Exp: y = base ^ (shift + scale * x) (base -1 means e); dy/dx = ln(base) * scale * y. Works in place.
import type { ExpParameter } from '../proto/types.generated.js';
import { paramOf } from '../proto/caffe.js';
import type { Blob } from '../blob/blob.js';
import { registerLayer } from './layer.js';
import { check, NeuronLayer } from './layer_util.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import { neuronBackwardOnDevice, neuronForwardOnDevice, neuronOf } from './device_util.js';

export class ExpLayer extends NeuronLayer {
  private innerScale = 1;
  private outerScale = 1;

  override layerSetUp(): void {
    const p = paramOf<ExpParameter>('ExpParameter', this.param.exp_param);
    const base = p.base ?? -1;
    check(this, base > 0 || base === -1, 'base must be strictly positive.');
    const logBase = base === -1 ? 1 : Math.log(base);
    check(this, !Number.isNaN(logBase), 'NaN result: log(base) = log(' + base + ') = ' + logBase);
    const scale = p.scale ?? 1, shift = p.shift ?? 0;
    this.innerScale = logBase * scale;
    this.outerScale = shift === 0 ? 1 : base === -1 ? Math.exp(shift) : Math.pow(base, shift);
  }

  forward(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0]!.data, y = top[0]!.data, a = this.innerScale, b = this.outerScale;
    for (let i = 0; i < x.length; i++) y[i] = b * Math.exp(a * x[i]!);
  }

  backward(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    const y = top[0]!.data, dy = top[0]!.diff, dx = bottom[0]!.diff, a = this.innerScale;
    for (let i = 0; i < y.length; i++) dx[i] = dy[i]! * y[i]! * a;
  }

  override forwardGpu(bottom: Blob[], top: Blob[], gpu: WebGpuDevice): void {
    neuronForwardOnDevice(gpu, neuronOf(gpu).expForward, bottom[0]!, top[0]!, [this.innerScale, this.outerScale]);
  }

  override backwardGpu(top: Blob[], propagateDown: boolean[], bottom: Blob[], gpu: WebGpuDevice): void {
    if (!propagateDown[0]) return;
    neuronBackwardOnDevice(gpu, neuronOf(gpu).expBackward, top[0]!, top[0]!, bottom[0]!, [this.innerScale]);
  }
}

registerLayer('Exp', ExpLayer);
