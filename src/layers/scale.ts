// Scale: top = bottom[0] * s (+ bias), with s broadcast over the axes around [axis, axis + num_axes). s is bottom[1]
// (its shape gives the axes) or, with one bottom, a learned parameter (filler default constant 1). bias_term adds a
// learned bias shaped like s (bias_filler, default constant 0), as Caffe's internal Bias layer. Works in place: the
// input is kept for the gradient of s.
import type { ScaleParameter } from '../proto/types.generated.js';
import { has, paramOf } from '../proto/caffe.js';
import { Blob } from '../blob/blob.js';
import { fillBlob } from '../util/filler.js';
import { Layer, registerLayer } from './layer.js';
import { check } from './layer_util.js';
import { type Broadcast, broadcastGeometry, broadcastOf, paramShape, reduceBroadcast } from './bias.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import { channelSumOnDevice, copyOnDevice, routingOf, SUM, SUM_PRODUCT } from './device_util.js';

export class ScaleLayer extends Layer {
  private g: Broadcast = { outer: 0, dim: 0, inner: 0 };
  private biasParamId = -1;
  /** The input, kept when running in place. */
  private temp = new Float32Array(0);
  /** The same, for the device path. */
  private tempBlob = new Blob();

  override minBottomBlobs(): number { return 1; }
  override maxBottomBlobs(): number { return 2; }
  override exactNumTopBlobs(): number { return 1; }

  override layerSetUp(bottom: Blob[]): void {
    const p = paramOf<ScaleParameter>('ScaleParameter', this.param.scale_param);
    const axis = p.axis ?? 1;
    if (bottom.length === 1 && this.blobs.length === 0) {
      const s = new Blob();
      s.reshape(paramShape(this, bottom[0]!, axis, p.num_axes ?? 1));
      fillBlob(s, has(p, 'filler') ? p.filler : { type: 'constant', value: 1 });
      this.blobs.push(s);
    }
    this.biasParamId = -1;
    if (p.bias_term ?? false) {
      const numAxes = bottom.length > 1 ? bottom[1]!.numAxes : p.num_axes ?? 1;
      const shape = paramShape(this, bottom[0]!, axis, numAxes);
      if (this.blobs.length + bottom.length < 3) {
        const b = new Blob();
        b.reshape(shape);
        fillBlob(b, p.bias_filler ?? undefined);
        this.blobs.push(b);
      }
      this.biasParamId = this.blobs.length - 1;
      check(this, this.blobs[this.biasParamId]!.sameShape(shape), 'bias blob shape does not match the scale axes');
    }
    this.paramPropagateDown = this.blobs.map(() => true);
  }

  private scaleBlob(bottom: Blob[]): Blob {
    return bottom.length > 1 ? bottom[1]! : this.blobs[0]!;
  }

  reshape(bottom: Blob[], top: Blob[]): void {
    const p = paramOf<ScaleParameter>('ScaleParameter', this.param.scale_param);
    this.g = broadcastOf(this, bottom[0]!, this.scaleBlob(bottom), p.axis ?? 1);
    check(this, top[0] !== bottom[1], 'Scale cannot write its output in place of the scale bottom');
    if (top[0] === bottom[0]) {
      if (this.temp.length !== bottom[0]!.count()) this.temp = new Float32Array(bottom[0]!.count());
    } else {
      top[0]!.reshapeLike(bottom[0]!);
    }
    if (this.biasParamId >= 0) {
      check(this, this.blobs[this.biasParamId]!.count() === this.g.dim, 'bias blob does not match the scale blob');
    }
  }

  forward(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0]!.data, y = top[0]!.data, s = this.scaleBlob(bottom).data;
    if (top[0] === bottom[0]) this.temp.set(x);
    const bias = this.biasParamId >= 0 ? this.blobs[this.biasParamId]!.data : undefined;
    const { outer, dim, inner } = this.g;
    for (let o = 0; o < outer; o++) {
      for (let d = 0; d < dim; d++) {
        const base = (o * dim + d) * inner, v = s[d]!;
        if (bias) {
          const c = bias[d]!;
          for (let i = 0; i < inner; i++) y[base + i] = x[base + i]! * v + c;
        } else {
          for (let i = 0; i < inner; i++) y[base + i] = x[base + i]! * v;
        }
      }
    }
  }

  backward(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    const dy = top[0]!.diff;
    const { outer, dim, inner } = this.g;
    if (this.biasParamId >= 0 && this.paramPropagateDown[this.biasParamId]) {
      reduceBroadcast(this.g, dy, this.blobs[this.biasParamId]!.diff, true);
    }
    const learned = bottom.length === 1;
    if ((learned && this.paramPropagateDown[0]) || (!learned && propagateDown[1])) {
      const x = top[0] === bottom[0] ? this.temp : bottom[0]!.data;
      const ds = this.scaleBlob(bottom).diff;
      const acc = new Float64Array(dim);
      for (let o = 0; o < outer; o++) {
        for (let d = 0; d < dim; d++) {
          const base = (o * dim + d) * inner;
          let sum = 0;
          for (let i = 0; i < inner; i++) sum += dy[base + i]! * x[base + i]!;
          acc[d]! += sum;
        }
      }
      for (let d = 0; d < dim; d++) ds[d] = (learned ? ds[d]! : 0) + acc[d]!;
    }
    if (propagateDown[0]) {
      const dx = bottom[0]!.diff, s = this.scaleBlob(bottom).data;
      for (let o = 0; o < outer; o++) {
        for (let d = 0; d < dim; d++) {
          const base = (o * dim + d) * inner, v = s[d]!;
          for (let i = 0; i < inner; i++) dx[base + i] = dy[base + i]! * v;
        }
      }
    }
  }

  override forwardGpu(bottom: Blob[], top: Blob[], gpu: WebGpuDevice): void {
    const n = bottom[0]!.count(), k = routingOf(gpu), { dim, inner } = this.g;
    const x = bottom[0]!.deviceData(gpu), s = this.scaleBlob(bottom).deviceData(gpu);
    if (top[0] === bottom[0]) {
      this.tempBlob.reshape([n]);
      copyOnDevice(gpu, n, x, this.tempBlob.deviceData(gpu, true));
    }
    const y = top[0]!.deviceData(gpu, true);
    if (this.biasParamId >= 0) {
      gpu.kernels.run1d(k.mulAddBroadcast, n, [x, s, this.blobs[this.biasParamId]!.deviceData(gpu), y], [n, dim, dim, n], [dim, inner]);
    } else {
      gpu.kernels.run1d(k.mulBroadcast, n, [x, s, y], [n, dim, n], [dim, inner]);
    }
  }

  override backwardGpu(top: Blob[], propagateDown: boolean[], bottom: Blob[], gpu: WebGpuDevice): void {
    const dy = top[0]!.deviceDiff(gpu), n = top[0]!.count(), geo = broadcastGeometry(this.g);
    // The parameter gradients first: in place, the bottom diff overwrites the top diff.
    if (this.biasParamId >= 0 && this.paramPropagateDown[this.biasParamId]) {
      channelSumOnDevice(gpu, geo, SUM, dy, dy, this.blobs[this.biasParamId]!.deviceDiff(gpu, true), { accumulate: true });
    }
    const learned = bottom.length === 1;
    if ((learned && this.paramPropagateDown[0]) || (!learned && propagateDown[1])) {
      const x = top[0] === bottom[0] ? this.tempBlob.deviceData(gpu) : bottom[0]!.deviceData(gpu);
      channelSumOnDevice(gpu, geo, SUM_PRODUCT, dy, x, this.scaleBlob(bottom).deviceDiff(gpu, true), { accumulate: learned });
    }
    if (propagateDown[0]) {
      gpu.kernels.run1d(routingOf(gpu).mulBroadcast, n, [dy, this.scaleBlob(bottom).deviceData(gpu), bottom[0]!.deviceDiff(gpu, true)],
        [n, this.g.dim, n], [this.g.dim, this.g.inner]);
    }
  }
}

registerLayer('Scale', ScaleLayer);
