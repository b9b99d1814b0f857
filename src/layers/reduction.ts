// Reduction: reduces all axes from `axis` on to one value per leading index with SUM, ASUM (sum of |x|), SUMSQ or MEAN,
// times `coeff`. The top has the bottom's axes before `axis` (a scalar for axis 0).
import type { ReductionParameter } from '../proto/types.generated.js';
import { ReductionParameter_ReductionOp as Op } from '../proto/types.generated.js';
import { paramOf } from '../proto/caffe.js';
import type { Blob } from '../blob/blob.js';
import { Layer, registerLayer } from './layer.js';
import { check, layerError, sign } from './layer_util.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import { shapeOpsKernels } from '../backend/webgpu/wgsl/shape_ops.js';

export class ReductionLayer extends Layer {
  private op: Op = Op.SUM;
  private coeff = 1;
  private num = 0;
  private dim = 0;

  override exactNumBottomBlobs(): number { return 1; }
  override exactNumTopBlobs(): number { return 1; }

  override layerSetUp(): void {
    this.op = paramOf<ReductionParameter>('ReductionParameter', this.param.reduction_param).operation ?? Op.SUM;
    if (![Op.SUM, Op.ASUM, Op.SUMSQ, Op.MEAN].includes(this.op)) throw layerError(this, `Unknown reduction op: ${this.op}`);
  }

  reshape(bottom: Blob[], top: Blob[]): void {
    const p = paramOf<ReductionParameter>('ReductionParameter', this.param.reduction_param);
    const b = bottom[0]!;
    const axis = b.canonicalAxis(p.axis ?? 0);
    check(this, top[0] !== b, 'Reduction does not work in place');
    top[0]!.reshape(b.shape.slice(0, axis));
    this.num = b.count(0, axis);
    this.dim = b.count(axis);
    check(this, this.num === top[0]!.count(), 'top count must equal the number of reductions');
    this.coeff = p.coeff ?? 1;
    if (this.op === Op.MEAN) this.coeff /= this.dim;
  }

  forward(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0]!.data, y = top[0]!.data, dim = this.dim;
    for (let i = 0; i < this.num; i++) {
      let s = 0;
      const o = i * dim;
      switch (this.op) {
        case Op.SUM: case Op.MEAN: for (let j = 0; j < dim; j++) s += x[o + j]!; break;
        case Op.ASUM: for (let j = 0; j < dim; j++) s += Math.abs(x[o + j]!); break;
        case Op.SUMSQ: for (let j = 0; j < dim; j++) s += x[o + j]! * x[o + j]!; break;
      }
      y[i] = s * this.coeff;
    }
  }

  backward(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    const x = bottom[0]!.data, dx = bottom[0]!.diff, dy = top[0]!.diff, dim = this.dim;
    for (let i = 0; i < this.num; i++) {
      const g = dy[i]! * this.coeff, o = i * dim;
      switch (this.op) {
        case Op.SUM: case Op.MEAN: dx.fill(g, o, o + dim); break;
        case Op.ASUM: for (let j = 0; j < dim; j++) dx[o + j] = sign(x[o + j]!) * g; break;
        case Op.SUMSQ: for (let j = 0; j < dim; j++) dx[o + j] = 2 * x[o + j]! * g; break;
      }
    }
  }

  override forwardGpu(bottom: Blob[], top: Blob[], gpu: WebGpuDevice): void {
    const k = gpu.kernels, y = top[0]!.deviceData(gpu, true);
    if (this.num === 0) return;
    if (this.dim === 0) { k.scal(this.num, 0, y); return; } // empty sums (scal 0 fills)
    // MEAN divides on the device (coeff / dim), the others by 1.
    const div = this.op === Op.MEAN ? this.dim : 1;
    k.run1d(shapeOpsKernels(k.wg).reduce, this.num * k.wg, [bottom[0]!.deviceData(gpu), y], [this.num * this.dim, this.num],
      [this.num, this.dim, this.op, this.coeff * div, div]);
  }

  override backwardGpu(top: Blob[], propagateDown: boolean[], bottom: Blob[], gpu: WebGpuDevice): void {
    if (!propagateDown[0]) return;
    const n = bottom[0]!.count();
    gpu.kernels.run1d(shapeOpsKernels(gpu.kernels.wg).reduceBackward, n,
      [bottom[0]!.deviceData(gpu), top[0]!.deviceDiff(gpu), bottom[0]!.deviceDiff(gpu, true)], [n, this.num, n], [this.dim, this.op, this.coeff]);
  }
}

registerLayer('Reduction', ReductionLayer);
