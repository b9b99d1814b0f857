// Pooling: MAX and AVE (STOCHASTIC in TRAIN is not supported), global pooling, padding, and Caffe's ceil rounding of
// the output size (the last window must start inside the image or its padding).
import type { PoolingParameter } from '../proto/types.generated.js';
import { has, paramOf } from '../proto/caffe.js';
import { Blob } from '../blob/blob.js';
import { backend, type PoolGeometry } from '../backend/backend.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import { Layer, registerLayer } from './layer.js';

const MAX = 0;
const AVE = 1;

export class PoolingLayer extends Layer {
  private pp!: PoolingParameter;
  private g!: PoolGeometry;
  private global = false;
  private mask = new Blob();

  override exactNumBottomBlobs(): number { return 1; }
  override minTopBlobs(): number { return 1; }
  override maxTopBlobs(): number { return (this.pp?.pool ?? MAX) === MAX ? 2 : 1; }

  override layerSetUp(bottom: Blob[], _top: Blob[]): void {
    const pp = (this.pp = paramOf<PoolingParameter>('PoolingParameter', this.param.pooling_param));
    const err = (m: string) => new Error(`Layer ${this.name}: ${m}`);
    this.global = pp.global_pooling ?? false;
    let kh = 0, kw = 0;
    if (this.global) {
      if (has(pp, 'kernel_size') || has(pp, 'kernel_h') || has(pp, 'kernel_w')) throw err('with global_pooling the kernel size must not be set');
      kh = bottom[0]!.shape[2]!; kw = bottom[0]!.shape[3]!;
    } else if (has(pp, 'kernel_size')) {
      if (has(pp, 'kernel_h') || has(pp, 'kernel_w')) throw err('kernel_size or kernel_h/kernel_w, not both');
      kh = kw = pp.kernel_size!;
    } else if (has(pp, 'kernel_h') && has(pp, 'kernel_w')) {
      kh = pp.kernel_h!; kw = pp.kernel_w!;
    } else throw err('kernel_size (or kernel_h and kernel_w) is required');
    if (kh <= 0 || kw <= 0) throw err('kernel dimensions must be > 0');
    const padH = has(pp, 'pad_h') ? pp.pad_h! : pp.pad ?? 0;
    const padW = has(pp, 'pad_w') ? pp.pad_w! : pp.pad ?? 0;
    const strideH = has(pp, 'stride_h') ? pp.stride_h! : pp.stride ?? 1;
    const strideW = has(pp, 'stride_w') ? pp.stride_w! : pp.stride ?? 1;
    if (this.global && (padH || padW || strideH !== 1 || strideW !== 1)) throw err('global pooling needs pad 0 and stride 1');
    if ((padH || padW) && (padH >= kh || padW >= kw)) throw err('pad must be smaller than the kernel');
    const pool = pp.pool ?? MAX;
    if (pool !== MAX && pool !== AVE) throw err('only MAX and AVE pooling are supported');
    this.g = { num: 0, channels: 0, height: 0, width: 0, pooledH: 0, pooledW: 0, kernelH: kh, kernelW: kw, padH, padW, strideH, strideW };
  }

  reshape(bottom: Blob[], top: Blob[]): void {
    const b = bottom[0]!;
    if (b.numAxes !== 4) throw new Error(`Layer ${this.name}: Pooling needs a 4-D bottom (N C H W), got ${b.shapeString()}`);
    const g = this.g;
    g.num = b.shape[0]!; g.channels = b.shape[1]!; g.height = b.shape[2]!; g.width = b.shape[3]!;
    if (this.global) { g.kernelH = g.height; g.kernelW = g.width; }
    g.pooledH = Math.ceil((g.height + 2 * g.padH - g.kernelH) / g.strideH) + 1;
    g.pooledW = Math.ceil((g.width + 2 * g.padW - g.kernelW) / g.strideW) + 1;
    if (g.padH || g.padW) {
      // The last pooling window must start inside the image (Caffe clips it otherwise).
      if ((g.pooledH - 1) * g.strideH >= g.height + g.padH) g.pooledH--;
      if ((g.pooledW - 1) * g.strideW >= g.width + g.padW) g.pooledW--;
    }
    const shape = [g.num, g.channels, g.pooledH, g.pooledW];
    top[0]!.reshape(shape);
    if (top.length > 1) top[1]!.reshape(shape);
    if ((this.pp.pool ?? MAX) === MAX) this.mask.reshape(shape);
  }

  forward(bottom: Blob[], top: Blob[]): void {
    const be = backend();
    if ((this.pp.pool ?? MAX) === MAX) {
      be.maxPoolForward(bottom[0]!.data, this.g, top[0]!.data, this.mask.data);
      if (top.length > 1) top[1]!.data.set(this.mask.data);
    } else be.avePoolForward(bottom[0]!.data, this.g, top[0]!.data);
  }

  backward(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    const be = backend();
    if ((this.pp.pool ?? MAX) === MAX) be.maxPoolBackward(top[0]!.diff, this.mask.data, this.g, bottom[0]!.diff);
    else be.avePoolBackward(top[0]!.diff, this.g, bottom[0]!.diff);
  }

  // On the device a second top is the mask itself (Caffe's use_top_mask): backward reads it back from there.
  private deviceMask(top: Blob[], gpu: WebGpuDevice, write: boolean): GPUBuffer {
    return (top.length > 1 ? top[1]! : this.mask).deviceData(gpu, write);
  }

  override forwardGpu(bottom: Blob[], top: Blob[], gpu: WebGpuDevice): void {
    const x = bottom[0]!.deviceData(gpu), y = top[0]!.deviceData(gpu, true);
    if ((this.pp.pool ?? MAX) === MAX) gpu.kernels.maxPoolForward(x, this.g, y, this.deviceMask(top, gpu, true));
    else gpu.kernels.avePoolForward(x, this.g, y);
  }

  override backwardGpu(top: Blob[], propagateDown: boolean[], bottom: Blob[], gpu: WebGpuDevice): void {
    if (!propagateDown[0]) return;
    const dy = top[0]!.deviceDiff(gpu);
    if ((this.pp.pool ?? MAX) === MAX) {
      gpu.kernels.maxPoolBackward(dy, this.deviceMask(top, gpu, false), this.g, bottom[0]!.deviceDiff(gpu, true));
    } else gpu.kernels.avePoolBackward(dy, this.g, bottom[0]!.deviceDiff(gpu, true));
  }
}

registerLayer('Pooling', PoolingLayer);
