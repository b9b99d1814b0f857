// Concat: joins bottoms along `axis` (or the legacy concat_dim); all other dims must agree. With one bottom the top
// is a view of it (data shared; the bottom adopts the top's diff in backward).
import type { ConcatParameter } from '../proto/types.generated.js';
import { has, paramOf } from '../proto/caffe.js';
import type { Blob } from '../blob/blob.js';
import { Layer, registerLayer } from './layer.js';
import { check } from './layer_util.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import { axisPartsOnDevice } from './device_util.js';

export class ConcatLayer extends Layer {
  private axis = 1;
  private numConcats = 0;
  private inputSize = 0;

  override minBottomBlobs(): number { return 1; }
  override exactNumTopBlobs(): number { return 1; }

  override layerSetUp(): void {
    const p = paramOf<ConcatParameter>('ConcatParameter', this.param.concat_param);
    check(this, !(has(p, 'axis') && has(p, 'concat_dim')), 'Either axis or concat_dim should be specified; not both.');
  }

  reshape(bottom: Blob[], top: Blob[]): void {
    const p = paramOf<ConcatParameter>('ConcatParameter', this.param.concat_param);
    const b0 = bottom[0]!;
    const numAxes = b0.numAxes;
    if (has(p, 'concat_dim')) {
      this.axis = p.concat_dim!;
      check(this, this.axis < numAxes, 'concat_dim out of range.');
    } else {
      this.axis = b0.canonicalAxis(p.axis ?? 1);
    }
    const shape = [...b0.shape];
    this.numConcats = b0.count(0, this.axis);
    this.inputSize = b0.count(this.axis + 1);
    for (let i = 1; i < bottom.length; i++) {
      const b = bottom[i]!;
      check(this, b.numAxes === numAxes, 'All inputs must have the same #axes.');
      for (let j = 0; j < numAxes; j++) {
        if (j === this.axis) continue;
        check(this, shape[j] === b.shape[j], `All inputs must have the same shape, except at concat_axis (bottom[0]: ${b0.shapeString()}, bottom[${i}]: ${b.shapeString()})`);
      }
      shape[this.axis]! += b.shape[this.axis]!;
    }
    check(this, top[0] !== bottom[0] || bottom.length === 1, 'Concat does not work in place');
    top[0]!.reshape(shape);
    if (bottom.length === 1) top[0]!.shareData(b0);
  }

  forward(bottom: Blob[], top: Blob[]): void {
    if (bottom.length === 1) {
      top[0]!.shareData(bottom[0]!);
      return;
    }
    const y = top[0]!.data, topAxis = top[0]!.shape[this.axis]!;
    let offset = 0;
    for (const b of bottom) {
      const x = b.data, ax = b.shape[this.axis]!, len = ax * this.inputSize;
      for (let n = 0; n < this.numConcats; n++) {
        y.set(x.subarray(n * len, (n + 1) * len), (n * topAxis + offset) * this.inputSize);
      }
      offset += ax;
    }
  }

  backward(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (bottom.length === 1) {
      if (propagateDown[0]) bottom[0]!.shareDiff(top[0]!);
      return;
    }
    const dy = top[0]!.diff, topAxis = top[0]!.shape[this.axis]!;
    let offset = 0;
    bottom.forEach((b, k) => {
      const ax = b.shape[this.axis]!, len = ax * this.inputSize;
      if (propagateDown[k]) {
        const dx = b.diff;
        for (let n = 0; n < this.numConcats; n++) {
          const start = (n * topAxis + offset) * this.inputSize;
          dx.set(dy.subarray(start, start + len), n * len);
        }
      }
      offset += ax;
    });
  }

  override forwardGpu(bottom: Blob[], top: Blob[], gpu: WebGpuDevice): void {
    if (bottom.length === 1) {
      top[0]!.shareData(bottom[0]!);
      return;
    }
    const parts = bottom.map((b) => ({ axis: b.shape[this.axis]!, buffer: b.deviceData(gpu) }));
    axisPartsOnDevice(gpu, this.numConcats, this.inputSize, top[0]!.deviceData(gpu, true), top[0]!.shape[this.axis]!, parts, true);
  }

  override backwardGpu(top: Blob[], propagateDown: boolean[], bottom: Blob[], gpu: WebGpuDevice): void {
    if (bottom.length === 1) {
      if (propagateDown[0]) bottom[0]!.shareDiff(top[0]!);
      return;
    }
    const parts = bottom.map((b, k) => ({ axis: b.shape[this.axis]!, buffer: propagateDown[k] ? b.deviceDiff(gpu, true) : undefined }));
    axisPartsOnDevice(gpu, this.numConcats, this.inputSize, top[0]!.deviceDiff(gpu), top[0]!.shape[this.axis]!, parts, false);
  }
}

registerLayer('Concat', ConcatLayer);
