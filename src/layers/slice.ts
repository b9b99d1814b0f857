// Slice: splits the bottom along `axis` (or the legacy slice_dim) at slice_point, or into equal parts. With one top
// the top is a view of the bottom (data shared; the bottom adopts the top's diff in backward).
import type { SliceParameter } from '../proto/types.generated.js';
import { has, paramOf } from '../proto/caffe.js';
import type { Blob } from '../blob/blob.js';
import { Layer, registerLayer } from './layer.js';
import { check } from './layer_util.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import { axisPartsOnDevice } from './device_util.js';

export class SliceLayer extends Layer {
  private axis = 1;
  private numSlices = 0;
  private sliceSize = 0;

  override exactNumBottomBlobs(): number { return 1; }
  override minTopBlobs(): number { return 1; }

  override layerSetUp(): void {
    const p = paramOf<SliceParameter>('SliceParameter', this.param.slice_param);
    check(this, !(has(p, 'axis') && has(p, 'slice_dim')), 'Either axis or slice_dim should be specified; not both.');
  }

  reshape(bottom: Blob[], top: Blob[]): void {
    const p = paramOf<SliceParameter>('SliceParameter', this.param.slice_param);
    const b = bottom[0]!;
    if (has(p, 'slice_dim')) {
      this.axis = p.slice_dim!;
      check(this, this.axis < b.numAxes, 'slice_dim out of range.');
    } else {
      this.axis = b.canonicalAxis(p.axis ?? 1);
    }
    const shape = [...b.shape];
    const bottomAxis = b.shape[this.axis]!;
    this.numSlices = b.count(0, this.axis);
    this.sliceSize = b.count(this.axis + 1);
    const points = p.slice_point ?? [];
    const sizes: number[] = [];
    if (points.length) {
      check(this, points.length === top.length - 1, `slice_point must have one entry fewer than the number of tops (${points.length} vs ${top.length} tops)`);
      check(this, top.length <= bottomAxis, `slice axis: ${this.axis}, bottom[0] slice axis: ${bottomAxis}`);
      let prev = 0;
      for (const sp of points) {
        check(this, sp > prev, `slice_point must be increasing and positive (${points.join(', ')})`);
        sizes.push(sp - prev);
        prev = sp;
      }
      check(this, bottomAxis - prev >= 0, `slice_point ${prev} is beyond the slice axis size ${bottomAxis}`);
      sizes.push(bottomAxis - prev);
    } else {
      check(this, bottomAxis % top.length === 0, `Number of top blobs (${top.length}) should evenly divide input slice axis (${bottomAxis})`);
      for (let i = 0; i < top.length; i++) sizes.push(bottomAxis / top.length);
    }
    let count = 0;
    top.forEach((t, i) => {
      check(this, t !== b, 'Slice does not work in place');
      shape[this.axis] = sizes[i]!;
      t.reshape(shape);
      count += t.count();
    });
    check(this, count === b.count(), `top counts (${count}) must add up to the bottom count (${b.count()})`);
    if (top.length === 1) top[0]!.shareData(b);
  }

  forward(bottom: Blob[], top: Blob[]): void {
    if (top.length === 1) {
      top[0]!.shareData(bottom[0]!);
      return;
    }
    const x = bottom[0]!.data, bottomAxis = bottom[0]!.shape[this.axis]!;
    let offset = 0;
    for (const t of top) {
      const y = t.data, ax = t.shape[this.axis]!, len = ax * this.sliceSize;
      for (let n = 0; n < this.numSlices; n++) {
        const start = (n * bottomAxis + offset) * this.sliceSize;
        y.set(x.subarray(start, start + len), n * len);
      }
      offset += ax;
    }
  }

  backward(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    if (top.length === 1) {
      bottom[0]!.shareDiff(top[0]!);
      return;
    }
    const dx = bottom[0]!.diff, bottomAxis = bottom[0]!.shape[this.axis]!;
    let offset = 0;
    for (const t of top) {
      const dy = t.diff, ax = t.shape[this.axis]!, len = ax * this.sliceSize;
      for (let n = 0; n < this.numSlices; n++) dx.set(dy.subarray(n * len, (n + 1) * len), (n * bottomAxis + offset) * this.sliceSize);
      offset += ax;
    }
  }

  override forwardGpu(bottom: Blob[], top: Blob[], gpu: WebGpuDevice): void {
    if (top.length === 1) {
      top[0]!.shareData(bottom[0]!);
      return;
    }
    const parts = top.map((t) => ({ axis: t.shape[this.axis]!, buffer: t.deviceData(gpu, true) }));
    axisPartsOnDevice(gpu, this.numSlices, this.sliceSize, bottom[0]!.deviceData(gpu), bottom[0]!.shape[this.axis]!, parts, false);
  }

  override backwardGpu(top: Blob[], propagateDown: boolean[], bottom: Blob[], gpu: WebGpuDevice): void {
    if (!propagateDown[0]) return;
    if (top.length === 1) {
      bottom[0]!.shareDiff(top[0]!);
      return;
    }
    const parts = top.map((t) => ({ axis: t.shape[this.axis]!, buffer: t.deviceDiff(gpu) }));
    axisPartsOnDevice(gpu, this.numSlices, this.sliceSize, bottom[0]!.deviceDiff(gpu, true), bottom[0]!.shape[this.axis]!, parts, true);
  }
}

registerLayer('Slice', SliceLayer);
