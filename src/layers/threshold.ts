// Threshold: y = 1 if x > threshold else 0. No gradient: Caffe's backward is NOT_IMPLEMENTED.
import type { ThresholdParameter } from '../proto/types.generated.js';
import { paramOf } from '../proto/caffe.js';
import type { Blob } from '../blob/blob.js';
import { registerLayer } from './layer.js';
import { layerError, NeuronLayer } from './layer_util.js';

export class ThresholdLayer extends NeuronLayer {
  private threshold = 0;

  override layerSetUp(): void {
    this.threshold = paramOf<ThresholdParameter>('ThresholdParameter', this.param.threshold_param).threshold ?? 0;
  }

  forward(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0]!.data, y = top[0]!.data, t = this.threshold;
    for (let i = 0; i < x.length; i++) y[i] = x[i]! > t ? 1 : 0;
  }

  backward(_top: Blob[], propagateDown: boolean[]): void {
    // Caffe aborts (NOT_IMPLEMENTED) when asked for this gradient.
    if (propagateDown.some(Boolean)) throw layerError(this, 'Threshold does not implement backward (not implemented in Caffe)');
  }
}

registerLayer('Threshold', ThresholdLayer);
