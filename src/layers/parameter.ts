// Parameter, as Caffe's ParameterLayer: exposes its single learnable blob (of parameter_param.shape) as its top, so
// the blob's data and gradient are the top's.
import type { ParameterParameter } from '../proto/types.generated.js';
import { paramOf } from '../proto/caffe.js';
import { Blob } from '../blob/blob.js';
import { Layer, registerLayer } from './layer.js';

export class ParameterLayer extends Layer {
  override exactNumBottomBlobs(): number { return 0; }
  override exactNumTopBlobs(): number { return 1; }

  override layerSetUp(_bottom: Blob[], top: Blob[]): void {
    const shape = (paramOf<ParameterParameter>('ParameterParameter', this.param.parameter_param).shape?.dim ?? []).map(Number);
    if (this.blobs.length === 0) this.blobs = [new Blob(shape)];
    this.paramPropagateDown = [true];
    top[0]!.reshape(shape);
  }

  reshape(): void {}

  forward(_bottom: Blob[], top: Blob[]): void {
    top[0]!.shareData(this.blobs[0]!);
    top[0]!.shareDiff(this.blobs[0]!);
  }

  backward(): void {}

  // On a device the top shares the parameter as well (a host pass would read the updated parameter back each time).
  override forwardGpu(bottom: Blob[], top: Blob[]): void {
    this.forward(bottom, top);
  }

  override backwardGpu(): void {}
}

registerLayer('Parameter', ParameterLayer);
