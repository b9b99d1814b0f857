// Clip: y = max(min, min(max, x)); the gradient passes where min <= x <= max. Backward reads the bottom.
import type { ClipParameter } from '../proto/types.generated.js';
import { has, paramOf } from '../proto/caffe.js';
import type { Blob } from '../blob/blob.js';
import { registerLayer } from './layer.js';
import { check, NeuronLayer } from './layer_util.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import { neuronBackwardOnDevice, neuronForwardOnDevice, neuronOf } from './device_util.js';

export class ClipLayer extends NeuronLayer {
  private min = 0;
  private max = 0;

  override layerSetUp(): void {
    const p = paramOf<ClipParameter>('ClipParameter', this.param.clip_param);
    check(this, has(p, 'min') && has(p, 'max'), 'clip_param needs both min and max (required fields)');
    this.min = p.min!;
    this.max = p.max!;
  }

  forward(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0]!.data, y = top[0]!.data, lo = this.min, hi = this.max;
    for (let i = 0; i < x.length; i++) y[i] = Math.max(lo, Math.min(x[i]!, hi));
  }

  backward(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    const x = bottom[0]!.data, dy = top[0]!.diff, dx = bottom[0]!.diff, lo = this.min, hi = this.max;
    for (let i = 0; i < x.length; i++) dx[i] = x[i]! >= lo && x[i]! <= hi ? dy[i]! : 0;
  }

  override forwardGpu(bottom: Blob[], top: Blob[], gpu: WebGpuDevice): void {
    neuronForwardOnDevice(gpu, neuronOf(gpu).clipForward, bottom[0]!, top[0]!, [this.min, this.max]);
  }

  override backwardGpu(top: Blob[], propagateDown: boolean[], bottom: Blob[], gpu: WebGpuDevice): void {
    if (!propagateDown[0]) return;
    neuronBackwardOnDevice(gpu, neuronOf(gpu).clipBackward, bottom[0]!, top[0]!, bottom[0]!, [this.min, this.max]);
  }
}

registerLayer('Clip', ClipLayer);
