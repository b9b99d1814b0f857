// Reshape: replaces axes [axis, axis + num_axes) of the bottom's shape by `shape`, where 0 copies the bottom's dim
// and one -1 is inferred. The top is a view of the bottom: it shares the bottom's data, and the bottom adopts the top's
// diff in backward (so a gradient written into the top reaches the bottom without a copy).
import type { ReshapeParameter } from '../proto/types.generated.js';
import { paramOf } from '../proto/caffe.js';
import type { Blob } from '../blob/blob.js';
import { Layer, registerLayer } from './layer.js';
import { check } from './layer_util.js';


export class ReshapeLayer extends Layer {
  private dims: number[] = [];
  private copyAxes: number[] = [];
  private inferredAxis = -1;
  private constantCount = 1;

  override exactNumBottomBlobs(): number { return 1; }
  override exactNumTopBlobs(): number { return 1; }

  override layerSetUp(): void {
    const p = paramOf<ReshapeParameter>('ReshapeParameter', this.param.reshape_param);
    this.dims = (p.shape?.dim ?? []).map(Number);
    this.copyAxes = [];
    this.inferredAxis = -1;
    this.constantCount = 1;
    this.dims.forEach((d, i) => {
      if (d === 0) this.copyAxes.push(i);
      else if (d === -1) {
        check(this, this.inferredAxis === -1, 'new shape contains multiple -1 dims; at most a single (1) value of -1 may be specified');
        this.inferredAxis = i;
      } else {
        check(this, d > 0, `bad dimension ${d} in the new shape`);
        this.constantCount *= d;
      }
    });
  }

  reshape(bottom: Blob[], top: Blob[]): void {
    const p = paramOf<ReshapeParameter>('ReshapeParameter', this.param.reshape_param);
    const b = bottom[0]!;
    const inputStart = p.axis ?? 0;
    const start = inputStart >= 0 ? inputStart : b.numAxes + inputStart + 1;
    check(this, start >= 0, `axis ${inputStart} out of range`);
    check(this, start <= b.numAxes, `axis ${inputStart} out of range for a ${b.numAxes}-D bottom`);
    const numAxes = p.num_axes ?? -1;
    check(this, numAxes >= -1, 'num_axes must be >= 0, or -1 for all');
    const end = numAxes === -1 ? b.numAxes : start + numAxes;
    check(this, end <= b.numAxes, `end_axis = axis + num_axes is out of range (${end} > ${b.numAxes})`);
    const shape = [...b.shape.slice(0, start), ...this.dims, ...b.shape.slice(end)];
    for (const c of this.copyAxes) {
      check(this, b.numAxes > start + c, 'new shape contains a 0, but there was no corresponding bottom axis to copy');
      shape[start + c] = b.shape[start + c]!;
    }
    if (this.inferredAxis >= 0) {
      let explicit = this.constantCount * b.count(0, start) * b.count(end);
      for (const c of this.copyAxes) explicit *= shape[start + c]!;
      check(this, explicit !== 0 && b.count() % explicit === 0,
        `bottom count (${b.count()}) must be divisible by the product of the specified dimensions (${explicit})`);
      shape[start + this.inferredAxis] = b.count() / explicit;
    }
    const t = top[0]!;
    if (t === b) {
      // In place: the blob itself takes the new shape (Caffe does not forbid it).
      check(this, shape.reduce((x, y) => x * y, 1) === b.count(), 'output count must match input count');
      b.reshape(shape);
      return;
    }
    t.reshape(shape);
    check(this, t.count() === b.count(), `output count (${t.count()}) must match input count (${b.count()})`);
    t.shareData(b);
  }

  forward(bottom: Blob[], top: Blob[]): void {
    if (top[0] !== bottom[0]) top[0]!.shareData(bottom[0]!);
  }

  backward(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (propagateDown[0] && top[0] !== bottom[0]) bottom[0]!.shareDiff(top[0]!);
  }

  // A view: sharing storage is the same on the device.
  override forwardGpu(bottom: Blob[], top: Blob[]): void {
    this.forward(bottom, top);
  }

  override backwardGpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    this.backward(top, propagateDown, bottom);
  }
}

registerLayer('Reshape', ReshapeLayer);
