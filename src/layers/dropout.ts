// Dropout (Caffe 1.0): in TRAIN each element is kept with probability 1 - dropout_ratio and scaled by
// 1 / (1 - dropout_ratio); in TEST it is the identity. The mask comes from the global rng (bernoulli). In place works.
import type { DropoutParameter } from '../proto/types.generated.js';
import { paramOf } from '../proto/caffe.js';
import { Blob } from '../blob/blob.js';
import { rng } from '../util/rng.js';
import { registerLayer, TRAIN } from './layer.js';
import { check, NeuronLayer } from './layer_util.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import { copyOnDevice, neuronOf } from './device_util.js';

export class DropoutLayer extends NeuronLayer {
  private ratio = 0.5;
  private scale = 2;
  private mask = new Uint8Array(0);
  /** The mask as floats, for the device path. */
  private maskBlob = new Blob();

  override layerSetUp(): void {
    this.ratio = paramOf<DropoutParameter>('DropoutParameter', this.param.dropout_param).dropout_ratio ?? 0.5;
    check(this, this.ratio >= 0 && this.ratio < 1, `dropout_ratio must be in [0, 1), got ${this.ratio}`);
    this.scale = 1 / (1 - this.ratio);
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    super.reshape(bottom, top);
    if (this.mask.length !== bottom[0]!.count()) this.mask = new Uint8Array(bottom[0]!.count());
  }

  forward(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0]!.data, y = top[0]!.data;
    if (this.phase === TRAIN) {
      const r = rng(), keep = 1 - this.ratio, mask = this.mask, s = this.scale;
      for (let i = 0; i < x.length; i++) {
        mask[i] = r.bernoulli(keep);
        y[i] = x[i]! * mask[i]! * s;
      }
    } else if (top[0] !== bottom[0]) {
      y.set(x);
    }
  }

  backward(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    const dy = top[0]!.diff, dx = bottom[0]!.diff;
    if (this.phase === TRAIN) {
      const mask = this.mask, s = this.scale;
      for (let i = 0; i < dy.length; i++) dx[i] = dy[i]! * mask[i]! * s;
    } else if (top[0] !== bottom[0]) {
      dx.set(dy);
    }
  }

  override forwardGpu(bottom: Blob[], top: Blob[], gpu: WebGpuDevice): void {
    const n = bottom[0]!.count(), x = bottom[0]!.deviceData(gpu);
    if (this.phase === TRAIN) {
      // The mask is drawn on the host with the host path's draws (so both paths drop the same elements), then uploaded.
      const r = rng(), keep = 1 - this.ratio, mask = this.mask;
      this.maskBlob.reshape([n]);
      const m = this.maskBlob.data;
      for (let i = 0; i < n; i++) m[i] = mask[i] = r.bernoulli(keep);
      gpu.kernels.run1d(neuronOf(gpu).dropout, n, [x, this.maskBlob.deviceData(gpu), top[0]!.deviceData(gpu, true)], [n, n, n], [this.scale]);
    } else if (top[0] !== bottom[0]) {
      copyOnDevice(gpu, n, x, top[0]!.deviceData(gpu, true));
    }
  }

  override backwardGpu(top: Blob[], propagateDown: boolean[], bottom: Blob[], gpu: WebGpuDevice): void {
    if (!propagateDown[0]) return;
    const n = bottom[0]!.count(), dy = top[0]!.deviceDiff(gpu);
    if (this.phase === TRAIN) {
      gpu.kernels.run1d(neuronOf(gpu).dropout, n, [dy, this.maskBlob.deviceData(gpu), bottom[0]!.deviceDiff(gpu, true)], [n, n, n], [this.scale]);
    } else if (top[0] !== bottom[0]) {
      copyOnDevice(gpu, n, dy, bottom[0]!.deviceDiff(gpu, true));
    }
  }
}

registerLayer('Dropout', DropoutLayer);
