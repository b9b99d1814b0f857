// Shared pieces of Caffe's LossLayer: the default loss weight of 1 and the normalization modes.
import type { LossParameter } from '../proto/types.generated.js';
import { has, paramOf } from '../proto/caffe.js';
import type { LayerParameter } from '../proto/types.generated.js';

export const FULL = 0;
export const VALID = 1;
export const BATCH_SIZE = 2;
export const NONE = 3;

export function lossParam(p: LayerParameter): LossParameter {
  return paramOf<LossParameter>('LossParameter', p.loss_param);
}

/** The normalization mode, honouring the deprecated `normalize` flag as Caffe does. */
export function normalizationMode(lp: LossParameter): number {
  if (!has(lp, 'normalization') && has(lp, 'normalize')) return lp.normalize ? VALID : BATCH_SIZE;
  return lp.normalization ?? VALID;
}

/** Caffe's LossLayer::GetNormalizer: never below 1. */
export function normalizer(mode: number, outer: number, inner: number, validCount: number): number {
  let n: number;
  switch (mode) {
    case FULL: n = outer * inner; break;
    case VALID: n = validCount === -1 ? outer * inner : validCount; break;
    case BATCH_SIZE: n = outer; break;
    case NONE: n = 1; break;
    default: throw new Error(`unknown loss normalization mode ${mode}`);
  }
  return Math.max(1, n);
}
