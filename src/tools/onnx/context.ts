// What a layer converter sees: the ONNX graph being built, the tscaffe layer (its LayerParameter and learned blobs),
// the ONNX names of its bottoms and of the tops it must write, and the blob shapes the net computed.
import type { LayerParameter } from '../../proto/types.generated.js';
import type { Layer } from '../../layers/layer.js';
import type { OnnxGraph } from './graph.js';

/** A layer (or one of its settings) with no ONNX equivalent; the exporter gathers these into one error. */
export class UnmappableError extends Error {}

export interface LayerCtx {
  g: OnnxGraph;
  layer: Layer;
  /** ONNX value names of the bottoms. */
  bottoms: string[];
  /** ONNX value names the converter must write, one per top. */
  tops: string[];
  bottomShapes: (readonly number[])[];
  topShapes: (readonly number[])[];
  /** Mark the export as tied to the batch size seen at export time (a Reshape that folds the batch axis). */
  fixBatch(): void;
  /** Let top `i` be an existing value (Split: no node). */
  alias(i: number, name: string): void;
  /** The next layer, folded into this one (a BatchNorm's Scale): `tops` are its tops. */
  fused?: Layer;
}

export interface Converter {
  /** Why this LayerParameter cannot be exported (checked before the net is built), or undefined. */
  check?(p: LayerParameter): string | undefined;
  emit(c: LayerCtx): void;
}

export function unmappable(msg: string): never {
  throw new UnmappableError(msg);
}

/** Caffe's canonical axis index (negative counts from the end). */
export function canonical(axis: number, rank: number): number {
  if (axis < -rank || axis >= Math.max(rank, 1)) unmappable(`axis ${axis} out of range for a ${rank}-D blob`);
  return axis < 0 ? axis + rank : axis;
}

export const prod = (a: readonly number[]): number => a.reduce((x, y) => x * y, 1);

/** Emit y = scale * x + shift, skipping the identity parts; returns the value name (maybe x itself). */
export function affine(c: LayerCtx, x: string, scale: number, shift: number): string {
  let v = x;
  if (scale !== 1) v = c.g.op('Mul', [v, c.g.scalar(`${c.layer.name}_scale`, scale)], `${c.layer.name}_scaled`);
  if (shift !== 0) v = c.g.op('Add', [v, c.g.scalar(`${c.layer.name}_shift`, shift)], `${c.layer.name}_shifted`);
  return v;
}

/** Write `v` to top `i` (an Identity when nothing else was emitted for it). */
export function writeTop(c: LayerCtx, v: string, i = 0): void {
  c.g.node('Identity', [v], [c.tops[i]!]);
}

/**
 * The shape a per-axis parameter (Scale/Bias/PReLU) needs to broadcast against a bottom of `rank` axes under
 * numpy rules: its own dims, then ones up to the last axis.
 */
export function broadcastShape(paramDims: readonly number[], axis: number, rank: number): number[] {
  return [...paramDims, ...new Array<number>(Math.max(0, rank - axis - paramDims.length)).fill(1)];
}
