// Caffe's LossLayer::Reshape check shared by the loss layers: data and label share their first dimension.
import type { Blob } from '../blob/blob.js';
import type { Layer } from './layer.js';

export function checkSameNum(layer: Layer, bottom: Blob[]): void {
  const a = bottom[0]!, b = bottom[1]!;
  const na = a.numAxes ? a.shape[0]! : 1, nb = b.numAxes ? b.shape[0]! : 1;
  if (na !== nb) {
    throw new Error(`Layer ${layer.name} (${layer.type}): the data and label should have the same first dimension (${a.shapeString()} vs ${b.shapeString()})`);
  }
}
