// InnerProduct (fully connected): top = bottom * W^T + b over the axes from `axis` on; `transpose` stores W as K x N.
import type { InnerProductParameter } from '../proto/types.generated.js';
import { paramOf } from '../proto/caffe.js';
import { Blob } from '../blob/blob.js';
import { backend } from '../backend/backend.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import { fillBlob } from '../util/filler.js';
import { Layer, registerLayer } from './layer.js';

export class InnerProductLayer extends Layer {
  private M = 0;
  private K = 0;
  private N = 0;
  private biasTerm = true;
  private transpose = false;
  private axis = 1;

  override exactNumBottomBlobs(): number { return 1; }
  override exactNumTopBlobs(): number { return 1; }

  override layerSetUp(bottom: Blob[], _top: Blob[]): void {
    const ip = paramOf<InnerProductParameter>('InnerProductParameter', this.param.inner_product_param);
    this.N = ip.num_output ?? 0;
    if (this.N <= 0) throw new Error(`Layer ${this.name}: num_output must be > 0`);
    this.biasTerm = ip.bias_term ?? true;
    this.transpose = ip.transpose ?? false;
    this.axis = bottom[0]!.canonicalAxis(ip.axis ?? 1);
    this.K = bottom[0]!.count(this.axis);
    if (this.blobs.length === 0) {
      const w = new Blob(this.transpose ? [this.K, this.N] : [this.N, this.K]);
      fillBlob(w, ip.weight_filler ?? undefined);
      this.blobs.push(w);
      if (this.biasTerm) {
        const b = new Blob([this.N]);
        fillBlob(b, ip.bias_filler ?? undefined);
        this.blobs.push(b);
      }
    }
    this.paramPropagateDown = this.blobs.map(() => true);
  }

  reshape(bottom: Blob[], top: Blob[]): void {
    const b = bottom[0]!;
    const k = b.count(this.axis);
    if (k !== this.K) {
      throw new Error(`Layer ${this.name}: input size incompatible with inner product parameters (${k} inputs per item, expected ${this.K})`);
    }
    this.M = b.count(0, this.axis);
    top[0]!.reshape([...b.shape.slice(0, this.axis), this.N]);
  }

  forward(bottom: Blob[], top: Blob[]): void {
    const be = backend();
    const out = top[0]!.data;
    be.gemm(false, !this.transpose, this.M, this.N, this.K, 1, bottom[0]!.data, this.blobs[0]!.data, 0, out);
    if (this.biasTerm) {
      const bias = this.blobs[1]!.data;
      for (let m = 0; m < this.M; m++) for (let n = 0; n < this.N; n++) out[m * this.N + n]! += bias[n]!;
    }
  }

  backward(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    const be = backend();
    const td = top[0]!.diff;
    if (this.paramPropagateDown[0]) {
      const bd = bottom[0]!.data;
      if (this.transpose) be.gemm(true, false, this.K, this.N, this.M, 1, bd, td, 1, this.blobs[0]!.diff);
      else be.gemm(true, false, this.N, this.K, this.M, 1, td, bd, 1, this.blobs[0]!.diff);
    }
    if (this.biasTerm && this.paramPropagateDown[1]) {
      const g = this.blobs[1]!.diff;
      for (let m = 0; m < this.M; m++) for (let n = 0; n < this.N; n++) g[n]! += td[m * this.N + n]!;
    }
    if (propagateDown[0]) {
      be.gemm(false, this.transpose, this.M, this.K, this.N, 1, td, this.blobs[0]!.data, 0, bottom[0]!.diff);
    }
  }

  // The bias is a per-channel bias of an M x N x 1 array (and its gradient the channel sums).
  override forwardGpu(bottom: Blob[], top: Blob[], gpu: WebGpuDevice): void {
    const k = gpu.kernels, x = bottom[0]!.deviceData(gpu), w = this.blobs[0]!.deviceData(gpu);
    const out = top[0]!.deviceData(gpu, true);
    k.gemm(false, !this.transpose, this.M, this.N, this.K, 1, x, w, 0, out);
    if (this.biasTerm) k.addChannelBias(out, this.M, this.N, 1, this.blobs[1]!.deviceData(gpu));
  }

  override backwardGpu(top: Blob[], propagateDown: boolean[], bottom: Blob[], gpu: WebGpuDevice): void {
    const k = gpu.kernels, td = top[0]!.deviceDiff(gpu);
    if (this.paramPropagateDown[0]) {
      const bd = bottom[0]!.deviceData(gpu), wd = this.blobs[0]!.deviceDiff(gpu, true);
      if (this.transpose) k.gemm(true, false, this.K, this.N, this.M, 1, bd, td, 1, wd);
      else k.gemm(true, false, this.N, this.K, this.M, 1, td, bd, 1, wd);
    }
    if (this.biasTerm && this.paramPropagateDown[1]) k.sumChannels(td, this.M, this.N, 1, this.blobs[1]!.deviceDiff(gpu, true));
    if (propagateDown[0]) {
      const w = this.blobs[0]!.deviceData(gpu);
      k.gemm(false, this.transpose, this.M, this.K, this.N, 1, td, w, 0, bottom[0]!.deviceDiff(gpu, true));
    }
  }
}

registerLayer('InnerProduct', InnerProductLayer);
