// Flatten: merges axes [axis, end_axis] into one. The top is a view of the bottom: it shares the bottom's data, and
// the bottom adopts the top's diff in backward (Caffe's ShareData / ShareDiff). Not in place.
import type { FlattenParameter } from '../proto/types.generated.js';
import { paramOf } from '../proto/caffe.js';
import type { Blob } from '../blob/blob.js';
import { Layer, registerLayer } from './layer.js';
import { check } from './layer_util.js';


export class FlattenLayer extends Layer {
  override exactNumBottomBlobs(): number { return 1; }
  override exactNumTopBlobs(): number { return 1; }

  reshape(bottom: Blob[], top: Blob[]): void {
    check(this, top[0] !== bottom[0], 'Flatten layer does not allow in-place computation.');
    const p = paramOf<FlattenParameter>('FlattenParameter', this.param.flatten_param);
    const b = bottom[0]!;
    const start = b.canonicalAxis(p.axis ?? 1);
    const end = b.canonicalAxis(p.end_axis ?? -1);
    const shape = [...b.shape.slice(0, start), b.count(start, end + 1), ...b.shape.slice(end + 1)];
    top[0]!.reshape(shape);
    check(this, top[0]!.count() === b.count(), `output count ${top[0]!.count()} must match input count ${b.count()}`);
    top[0]!.shareData(b);
  }

  forward(bottom: Blob[], top: Blob[]): void {
    top[0]!.shareData(bottom[0]!);
  }

  backward(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (propagateDown[0]) bottom[0]!.shareDiff(top[0]!);
  }

  // A view: sharing storage is the same on the device.
  override forwardGpu(bottom: Blob[], top: Blob[]): void {
    this.forward(bottom, top);
  }

  override backwardGpu(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    this.backward(top, propagateDown, bottom);
  }
}

registerLayer('Flatten', FlattenLayer);
