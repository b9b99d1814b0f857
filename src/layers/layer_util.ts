// Small helpers shared by the layers: errors that name the layer (as Caffe's CHECK messages do), and the base class
// of Caffe's NeuronLayer (one bottom, one top of the same shape, in place allowed).
import type { Blob } from '../blob/blob.js';
import { Layer } from './layer.js';

/** An Error naming the layer, e.g. "Layer fc1 (type Eltwise): ...". */
export function layerError(layer: Layer, what: string): Error {
  return new Error(`Layer ${layer.name} (type ${layer.type}): ${what}`);
}

/** Caffe's CHECK(cond) << what, naming the layer. */
export function check(layer: Layer, cond: boolean, what: string): asserts cond {
  if (!cond) throw layerError(layer, what);
}

/** Caffe's NeuronLayer: elementwise, exactly one bottom and one top shaped like it; in place allowed. */
export abstract class NeuronLayer extends Layer {
  override exactNumBottomBlobs(): number { return 1; }
  override exactNumTopBlobs(): number { return 1; }

  reshape(bottom: Blob[], top: Blob[]): void {
    if (top[0] !== bottom[0]) top[0]!.reshapeLike(bottom[0]!);
  }
}

/** caffe_sign: -1, 0 or 1. */
export function sign(x: number): number {
  return x > 0 ? 1 : x < 0 ? -1 : 0;
}
