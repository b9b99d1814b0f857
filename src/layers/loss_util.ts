// Shared pieces of Caffe's LossLayer: the default loss weight of 1 and the normalization modes.
import type { LossParameter } from '../proto/types.generated.js';
import { has, paramOf } from '../proto/caffe.js';
import type { LayerParameter } from '../proto/types.generated.js';
import { Layer } from './layer.js';
import { VALID, BATCH_SIZE } from './loss_normalization.js';

export { FULL, VALID, BATCH_SIZE, NONE, normalizer } from './loss_normalization.js';

export function lossParam(p: LayerParameter): LossParameter {
  return paramOf<LossParameter>('LossParameter', p.loss_param);
}

/** The normalization mode, honouring the deprecated `normalize` flag as Caffe does. */
export function normalizationMode(lp: LossParameter): number {
  if (!has(lp, 'normalization') && has(lp, 'normalize')) return lp.normalize ? VALID : BATCH_SIZE;
  return lp.normalization ?? VALID;
}

/**
 * Caffe's LossLayer: predictions and labels in, the loss out (weight 1 by default), no gradient to the labels;
 * ignore_label and the normalization mode read from loss_param.
 */
export abstract class LossLayer extends Layer {
  protected ignoreLabel: number | undefined;
  protected mode = VALID;

  override exactNumBottomBlobs(): number { return 2; }
  override allowForceBackward(i: number): boolean { return i !== 1; }
  override defaultLossWeight(i: number): number { return i === 0 ? 1 : 0; }

  override layerSetUp(..._args: Parameters<Layer['layerSetUp']>): void {
    const lp = lossParam(this.param);
    this.ignoreLabel = has(lp, 'ignore_label') ? lp.ignore_label! : undefined;
    this.mode = normalizationMode(lp);
  }
}
