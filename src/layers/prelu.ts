// PReLU: y = max(x, 0) + a_c * min(x, 0) with a learnable slope per channel (axis 1), or one shared slope
// (channel_shared). The slope defaults to 0.25 (filler unset). Works in place: the input is kept for backward.
import type { PReLUParameter } from '../proto/types.generated.js';
import { has, paramOf } from '../proto/caffe.js';
import { Blob } from '../blob/blob.js';
import { fillBlob } from '../util/filler.js';
import { Layer, registerLayer } from './layer.js';
import { check } from './layer_util.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import { channelSumOnDevice, copyOnDevice, neuronOf, SUM_PRODUCT_NONPOS } from './device_util.js';

export class PReLULayer extends Layer {
  private channelShared = false;
  /** Copy of the input when running in place. */
  private bottomMemory: Float32Array | undefined;
  /** The same, for the device path. */
  private bottomCopy = new Blob();

  override exactNumBottomBlobs(): number { return 1; }
  override exactNumTopBlobs(): number { return 1; }

  override layerSetUp(bottom: Blob[]): void {
    check(this, bottom[0]!.numAxes >= 2, 'Number of axes of bottom blob must be >=2.');
    const p = paramOf<PReLUParameter>('PReLUParameter', this.param.prelu_param);
    this.channelShared = p.channel_shared ?? false;
    const channels = bottom[0]!.shape[1]!;
    if (this.blobs.length === 0) {
      const slope = new Blob();
      slope.reshape(this.channelShared ? [] : [channels]);
      fillBlob(slope, has(p, 'filler') ? p.filler : { type: 'constant', value: 0.25 });
      this.blobs.push(slope);
    }
    if (this.channelShared) check(this, this.blobs[0]!.count() === 1, 'Negative slope size is inconsistent with prototxt config');
    else check(this, this.blobs[0]!.count() === channels, 'Negative slope size is inconsistent with prototxt config');
    this.paramPropagateDown = this.blobs.map(() => true);
  }

  reshape(bottom: Blob[], top: Blob[]): void {
    check(this, bottom[0]!.numAxes >= 2, 'Number of axes of bottom blob must be >=2.');
    if (top[0] !== bottom[0]) top[0]!.reshapeLike(bottom[0]!);
  }

  private geometry(b: Blob): { dim: number; channels: number } {
    return { dim: b.count(2), channels: b.shape[1]! };
  }

  forward(bottom: Blob[], top: Blob[]): void {
    const b = bottom[0]!;
    const x = b.data, y = top[0]!.data, a = this.blobs[0]!.data;
    if (top[0] === b) {
      if (!this.bottomMemory || this.bottomMemory.length !== x.length) this.bottomMemory = new Float32Array(x.length);
      this.bottomMemory.set(x);
    }
    const { dim, channels } = this.geometry(b);
    for (let i = 0; i < x.length; i++) {
      const c = this.channelShared ? 0 : Math.floor(i / dim) % channels;
      const v = x[i]!;
      y[i] = Math.max(v, 0) + a[c]! * Math.min(v, 0);
    }
  }

  backward(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    const b = bottom[0]!;
    const x = top[0] === b ? this.bottomMemory! : b.data;
    const dy = top[0]!.diff, a = this.blobs[0]!.data;
    const { dim, channels } = this.geometry(b);
    const chan = (i: number) => (this.channelShared ? 0 : Math.floor(i / dim) % channels);
    // The slope gradient first: in place, the bottom diff below overwrites the top diff.
    if (this.paramPropagateDown[0]) {
      const da = this.blobs[0]!.diff;
      for (let i = 0; i < x.length; i++) if (x[i]! <= 0) da[chan(i)]! += dy[i]! * x[i]!;
    }
    if (propagateDown[0]) {
      const dx = b.diff;
      for (let i = 0; i < x.length; i++) dx[i] = dy[i]! * (x[i]! > 0 ? 1 : a[chan(i)]!);
    }
  }

  override forwardGpu(bottom: Blob[], top: Blob[], gpu: WebGpuDevice): void {
    const b = bottom[0]!, n = b.count(), { dim, channels } = this.geometry(b);
    const x = b.deviceData(gpu);
    if (top[0] === b) {
      this.bottomCopy.reshape([n]);
      copyOnDevice(gpu, n, x, this.bottomCopy.deviceData(gpu, true));
    }
    gpu.kernels.run1d(neuronOf(gpu).preluForward, n, [x, this.blobs[0]!.deviceData(gpu), top[0]!.deviceData(gpu, true)],
      [n, this.blobs[0]!.count(), n], [dim, channels, this.channelShared ? 1 : 0]);
  }

  override backwardGpu(top: Blob[], propagateDown: boolean[], bottom: Blob[], gpu: WebGpuDevice): void {
    const b = bottom[0]!, n = b.count(), { dim, channels } = this.geometry(b);
    const x = top[0] === b ? this.bottomCopy.deviceData(gpu) : b.deviceData(gpu);
    const dy = top[0]!.deviceDiff(gpu), slope = this.blobs[0]!;
    // The slope gradient first: in place, the bottom diff below overwrites the top diff.
    if (this.paramPropagateDown[0]) {
      const g = this.channelShared ? { num: 1, channels: 1, spatial: n } : { num: n / (channels * dim || 1), channels, spatial: dim };
      channelSumOnDevice(gpu, g, SUM_PRODUCT_NONPOS, dy, x, slope.deviceDiff(gpu, true), { accumulate: true });
    }
    if (propagateDown[0]) {
      gpu.kernels.run1d(neuronOf(gpu).preluBackward, n, [x, slope.deviceData(gpu), dy, b.deviceDiff(gpu, true)],
        [n, slope.count(), n, n], [dim, channels, this.channelShared ? 1 : 0]);
    }
  }
}

registerLayer('PReLU', PReLULayer);
