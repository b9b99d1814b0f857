// Crop: crops bottom[0] to the shape of bottom[1] on the axes from `axis` on, at `offset` (one value for all those
// axes, one per axis, or none for 0). Only bottom[0] gets a gradient (zero outside the crop).
import type { CropParameter } from '../proto/types.generated.js';
import { paramOf } from '../proto/caffe.js';
import type { Blob } from '../blob/blob.js';
import { Layer, registerLayer } from './layer.js';
import { check } from './layer_util.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import { CROP_AXES, shapeOpsKernels } from '../backend/webgpu/wgsl/shape_ops.js';

export class CropLayer extends Layer {
  private offsets: number[] = [];

  override exactNumBottomBlobs(): number { return 2; }
  override exactNumTopBlobs(): number { return 1; }

  override layerSetUp(bottom: Blob[]): void {
    const p = paramOf<CropParameter>('CropParameter', this.param.crop_param);
    const inputDim = bottom[0]!.numAxes;
    const start = bottom[0]!.canonicalAxis(p.axis ?? 2);
    check(this, start < inputDim, 'crop axis bigger than input dim');
    const off = p.offset ?? [];
    if (off.length > 1) {
      check(this, start + off.length === inputDim,
        `number of offset values specified must be equal to the number of dimensions following axis (${off.length} vs ${inputDim - start})`);
    }
  }

  reshape(bottom: Blob[], top: Blob[]): void {
    const p = paramOf<CropParameter>('CropParameter', this.param.crop_param);
    const a = bottom[0]!, b = bottom[1]!;
    const inputDim = a.numAxes;
    check(this, b.numAxes === inputDim, `bottom[0] and bottom[1] must have the same number of axes (${inputDim} vs ${b.numAxes})`);
    const start = a.canonicalAxis(p.axis ?? 2);
    const off = p.offset ?? [];
    const shape = [...a.shape];
    this.offsets = new Array<number>(inputDim).fill(0);
    for (let i = start; i < inputDim; i++) {
      const o = off.length === 1 ? off[0]! : off.length > 1 ? off[i - start]! : 0;
      check(this, a.shape[i]! - o >= b.shape[i]!,
        `invalid crop parameters in dimension: ${i} (bottom size ${a.shape[i]}, offset ${o}, crop size ${b.shape[i]})`);
      shape[i] = b.shape[i]!;
      this.offsets[i] = o;
    }
    check(this, top[0] !== a && top[0] !== b, 'Crop does not work in place');
    top[0]!.reshape(shape);
  }

  /** Calls fn(srcOffset, dstOffset, length) for each contiguous run of the last axis. */
  private runs(a: Blob, t: Blob, fn: (src: number, dst: number, len: number) => void): void {
    const n = a.numAxes;
    if (t.count() === 0) return;
    if (n === 0) { fn(0, 0, 1); return; }
    const tshape = t.shape, ashape = a.shape;
    const idx = new Array<number>(n - 1).fill(0);
    const len = tshape[n - 1]!;
    let dst = 0;
    for (;;) {
      let src = 0;
      for (let i = 0; i < n - 1; i++) src = src * ashape[i]! + idx[i]! + this.offsets[i]!;
      src = src * ashape[n - 1]! + this.offsets[n - 1]!;
      fn(src, dst, len);
      dst += len;
      let k = n - 2;
      while (k >= 0) {
        if (++idx[k]! < tshape[k]!) break;
        idx[k] = 0;
        k--;
      }
      if (k < 0) break;
    }
  }

  forward(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0]!.data, y = top[0]!.data;
    this.runs(bottom[0]!, top[0]!, (s, d, l) => y.set(x.subarray(s, s + l), d));
  }

  backward(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    const dy = top[0]!.diff, dx = bottom[0]!.diff;
    dx.fill(0);
    this.runs(bottom[0]!, top[0]!, (s, d, l) => dx.set(dy.subarray(d, d + l), s));
  }

  /**
   * The crop_copy kernel's fields: the bottom offset of the top's first element, then the top's dims and the
   * bottom's strides with unit axes dropped and axes merged where the outer one steps over the whole inner one
   * (so that only the cropped axes remain), right-aligned in CROP_AXES slots.
   */
  private copyValues(a: Blob, t: Blob): number[] {
    const n = a.numAxes;
    const strides = Array.from({ length: n }, (_, i) => a.count(i + 1));
    const base = this.offsets.reduce((s, o, i) => s + o * strides[i]!, 0);
    const dims: number[] = [], str: number[] = []; // innermost first
    for (let i = n - 1; i >= 0; i--) {
      const d = t.shape[i]!, s = strides[i]!;
      if (d === 1) continue;
      const last = dims.length - 1;
      if (last >= 0 && s === dims[last]! * str[last]!) dims[last]! *= d;
      else { dims.push(d); str.push(s); }
    }
    check(this, dims.length <= CROP_AXES, `the device path crops at most ${CROP_AXES} non-contiguous axes (${dims.length} here)`);
    while (dims.length < CROP_AXES) { dims.push(1); str.push(0); }
    return [base, ...dims.reverse(), ...str.reverse()];
  }

  override forwardGpu(bottom: Blob[], top: Blob[], gpu: WebGpuDevice): void {
    const a = bottom[0]!, t = top[0]!;
    gpu.kernels.run1d(shapeOpsKernels(gpu.kernels.wg).cropCopy, t.count(), [a.deviceData(gpu), t.deviceData(gpu, true)],
      [a.count(), t.count()], [0, ...this.copyValues(a, t)]);
  }

  override backwardGpu(top: Blob[], propagateDown: boolean[], bottom: Blob[], gpu: WebGpuDevice): void {
    if (!propagateDown[0]) return;
    const a = bottom[0]!, t = top[0]!, dx = a.deviceDiff(gpu, true);
    gpu.kernels.scal(a.count(), 0, dx);
    gpu.kernels.run1d(shapeOpsKernels(gpu.kernels.wg).cropCopy, t.count(), [dx, t.deviceDiff(gpu)],
      [a.count(), t.count()], [1, ...this.copyValues(a, t)]);
  }
}

registerLayer('Crop', CropLayer);
