// ArgMax: indices (and with out_max_val the values) of the top_k largest entries, over the flattened axes after the
// first (no axis: top is N x (1 or 2) x top_k) or along `axis` (top is the bottom's shape with top_k at axis; with
// out_max_val it holds the values instead of the indices). Ties prefer the larger index, as Caffe's sort of
// (value, index) pairs. No gradient: Caffe's backward is NOT_IMPLEMENTED.
import type { ArgMaxParameter } from '../proto/types.generated.js';
import { has, paramOf } from '../proto/caffe.js';
import type { Blob } from '../blob/blob.js';
import { Layer, registerLayer } from './layer.js';
import { check, layerError } from './layer_util.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import { shapeOpsKernels } from '../backend/webgpu/wgsl/shape_ops.js';

export class ArgMaxLayer extends Layer {
  private outMaxVal = false;
  private topK = 1;
  private axis: number | undefined;

  override exactNumBottomBlobs(): number { return 1; }
  override exactNumTopBlobs(): number { return 1; }

  override layerSetUp(bottom: Blob[]): void {
    const p = paramOf<ArgMaxParameter>('ArgMaxParameter', this.param.argmax_param);
    this.outMaxVal = p.out_max_val ?? false;
    this.topK = p.top_k ?? 1;
    check(this, this.topK >= 1, 'top k must not be less than 1.');
    const b = bottom[0]!;
    if (has(p, 'axis')) {
      this.axis = b.canonicalAxis(p.axis!);
      check(this, this.topK <= b.shape[this.axis]!, 'top_k must be less than or equal to the dimension of the axis.');
    } else {
      this.axis = undefined;
      check(this, this.topK <= b.count(1), 'top_k must be less than or equal to the dimension of the flattened bottom blob per instance.');
    }
  }

  reshape(bottom: Blob[], top: Blob[]): void {
    const b = bottom[0]!;
    check(this, top[0] !== b, 'ArgMax does not work in place');
    let shape: number[];
    if (this.axis !== undefined) {
      shape = [...b.shape];
      shape[this.axis] = this.topK;
    } else {
      shape = new Array<number>(Math.max(b.numAxes, 3)).fill(1);
      shape[0] = b.shape[0]!;
      shape[2] = this.topK;
      if (this.outMaxVal) shape[1] = 2;
    }
    top[0]!.reshape(shape);
  }

  forward(bottom: Blob[], top: Blob[]): void {
    const b = bottom[0]!, x = b.data, y = top[0]!.data, k = this.topK;
    const hasAxis = this.axis !== undefined;
    const dim = hasAxis ? b.shape[this.axis!]! : b.count(1);
    const axisDist = hasAxis ? b.count(this.axis!) / dim : 1;
    const num = dim === 0 ? 0 : b.count() / dim;
    const idx = Array.from({ length: dim }, (_, j) => j);
    for (let i = 0; i < num; i++) {
      const outer = Math.floor(i / axisDist), inner = i % axisDist;
      const at = (j: number) => x[(outer * dim + j) * axisDist + inner]!;
      // Descending by (value, index), as std::greater on pairs.
      idx.sort((p, q) => at(q) - at(p) || q - p);
      for (let j = 0; j < k; j++) {
        const jj = idx[j]!;
        if (this.outMaxVal) {
          if (hasAxis) y[(outer * k + j) * axisDist + inner] = at(jj);
          else {
            y[2 * i * k + j] = jj;
            y[2 * i * k + k + j] = at(jj);
          }
        } else {
          y[(outer * k + j) * axisDist + inner] = jj;
        }
      }
      for (let j = 0; j < dim; j++) idx[j] = j;
    }
  }

  override forwardGpu(bottom: Blob[], top: Blob[], gpu: WebGpuDevice): void {
    const b = bottom[0]!, hasAxis = this.axis !== undefined;
    const dim = hasAxis ? b.shape[this.axis!]! : b.count(1);
    const axisDist = hasAxis ? b.count(this.axis!) / dim : 1;
    const num = dim === 0 ? 0 : b.count() / dim;
    const mode = !this.outMaxVal ? 0 : hasAxis ? 1 : 2;
    gpu.kernels.run1d(shapeOpsKernels(gpu.kernels.wg).argmax, num, [b.deviceData(gpu), top[0]!.deviceData(gpu, true)],
      [b.count(), top[0]!.count()], [dim, axisDist, this.topK, mode]);
  }

  override backwardGpu(top: Blob[], propagateDown: boolean[]): void {
    this.backward(top, propagateDown);
  }

  backward(_top: Blob[], propagateDown: boolean[]): void {
    // Caffe aborts (NOT_IMPLEMENTED) when asked for this gradient.
    if (propagateDown.some(Boolean)) throw layerError(this, 'ArgMax does not implement backward (not implemented in Caffe)');
  }
}

registerLayer('ArgMax', ArgMaxLayer);
