// Layers that combine, split, reshape or reduce blobs: forward by hand, numerical gradients, Caffe's errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Blob } from '../src/blob/blob.js';
import type { Layer } from '../src/layers/layer.js';
import { checkGradient, fillDistinct, fillUniform, makeLayer } from './gradient_checker.js';

function blob(shape: number[], values?: number[]): Blob {
  const b = new Blob();
  b.reshape(shape);
  if (values) b.data.set(values);
  return b;
}

const iota = (shape: number[]) => { const b = blob(shape); b.data.forEach((_, i) => { b.data[i] = i; }); return b; };

function run(props: object, bottoms: Blob[], nTop = 1): { layer: Layer; tops: Blob[] } {
  const layer = makeLayer({ name: 'l', ...props });
  const tops = Array.from({ length: nTop }, () => new Blob());
  layer.setUp(bottoms, tops);
  layer.forward(bottoms, tops);
  return { layer, tops };
}

const grad = (props: object, bottoms: Blob[], opts = {}, nTop = 1) =>
  checkGradient(makeLayer({ name: 'l', ...props }), bottoms, Array.from({ length: nTop }, () => new Blob()), opts);

const shapeOf = (b: Blob) => [...b.shape];
const dataOf = (b: Blob) => [...b.data];

test('Eltwise: SUM with coeff, PROD, MAX forward by hand; gradients for each; parameter errors', () => {
  const a = blob([2, 2], [1, 2, 3, 4]), b = blob([2, 2], [3, 1, 5, 2]), c = blob([2, 2], [0, 5, 4, 1]);
  assert.deepEqual(dataOf(run({ type: 'Eltwise' }, [a, b]).tops[0]!), [4, 3, 8, 6]);
  assert.deepEqual(dataOf(run({ type: 'Eltwise', eltwise_param: { coeff: [1, -2, 0.5] } }, [a, b, c]).tops[0]!), [-5, 2.5, -5, 0.5]);
  assert.deepEqual(dataOf(run({ type: 'Eltwise', eltwise_param: { operation: 0 } }, [a, b, c]).tops[0]!), [0, 10, 60, 8]);
  const mx = run({ type: 'Eltwise', eltwise_param: { operation: 2 } }, [a, b, c]);
  assert.deepEqual(dataOf(mx.tops[0]!), [3, 5, 5, 4]);
  // MAX routes the gradient to the winning bottom only.
  mx.tops[0]!.diff.set([1, 2, 3, 4]);
  mx.layer.backward(mx.tops, [true, true, true], [a, b, c]);
  assert.deepEqual([...a.diff, ...b.diff, ...c.diff], [0, 0, 0, 4, 1, 0, 3, 0, 0, 2, 0, 0]);
  assert.throws(() => run({ type: 'Eltwise', eltwise_param: { coeff: [1] } }, [a, b]), /type Eltwise.*one coefficient per bottom/);
  assert.throws(() => run({ type: 'Eltwise', eltwise_param: { operation: 0, coeff: [1, 1] } }, [a, b]), /only takes coefficients for summation/);
  assert.throws(() => run({ type: 'Eltwise' }, [a, blob([4])]), /type Eltwise.*bottom\[1\]/);
  assert.throws(() => run({ type: 'Eltwise' }, [a]), /at least 2 bottom/);
  const x = (seed: number, lo = -1, hi = 1) => fillUniform(new Blob([2, 3, 2]), lo, hi, seed);
  grad({ type: 'Eltwise' }, [x(1), x(2)]);
  grad({ type: 'Eltwise', eltwise_param: { coeff: [0.5, -2, 1.5] } }, [x(1), x(2), x(3)]);
  grad({ type: 'Eltwise', eltwise_param: { operation: 0 } }, [x(1), x(2), x(3)]);
  grad({ type: 'Eltwise', eltwise_param: { operation: 0, stable_prod_grad: false } }, [x(1, 0.5, 1.5), x(2, -1.5, -0.5), x(3, 0.5, 1.5)]);
  // MAX: values on a 0.05 grid, each bottom shifted by a third of it: no ties within +/- the step.
  const shifted = (seed: number, k: number) => { const b = fillDistinct(new Blob([2, 3, 2]), 0.05, seed); b.data.forEach((v, i) => { b.data[i] = v + k * 0.0167; }); return b; };
  grad({ type: 'Eltwise', eltwise_param: { operation: 2 } }, [shifted(1, 0), shifted(2, 1), shifted(3, 2)]);
});

test('Concat: axis, legacy concat_dim, one bottom (shared), gradients, errors', () => {
  const a = blob([2, 1], [1, 2]), b = blob([2, 2], [3, 4, 5, 6]);
  const t = run({ type: 'Concat' }, [a, b]).tops[0]!;
  assert.deepEqual(shapeOf(t), [2, 3]);
  assert.deepEqual(dataOf(t), [1, 3, 4, 2, 5, 6]);
  const t0 = run({ type: 'Concat', concat_param: { concat_dim: 0 } }, [blob([1, 2], [1, 2]), blob([2, 2], [3, 4, 5, 6])]).tops[0]!;
  assert.deepEqual(shapeOf(t0), [3, 2]);
  assert.deepEqual(dataOf(t0), [1, 2, 3, 4, 5, 6]);
  const tn = run({ type: 'Concat', concat_param: { axis: -1 } }, [a, b]).tops[0]!;
  assert.deepEqual(dataOf(tn), [1, 3, 4, 2, 5, 6]);
  assert.throws(() => run({ type: 'Concat', concat_param: { axis: 1, concat_dim: 1 } }, [a, b]), /Either axis or concat_dim/);
  assert.throws(() => run({ type: 'Concat', concat_param: { axis: 0 } }, [a, b]), /type Concat.*same shape, except at concat_axis/);
  assert.throws(() => run({ type: 'Concat' }, [a, blob([2, 1, 1])]), /same #axes/);
  const one = run({ type: 'Concat' }, [a]);
  a.data[0] = 7;
  assert.equal(one.tops[0]!.data[0], 7);
  grad({ type: 'Concat' }, [fillUniform(new Blob([2, 1, 3]), -1, 1, 1), fillUniform(new Blob([2, 2, 3]), -1, 1, 2), fillUniform(new Blob([2, 3, 3]), -1, 1, 3)]);
  grad({ type: 'Concat', concat_param: { axis: 0 } }, [fillUniform(new Blob([1, 2, 3]), -1, 1, 1), fillUniform(new Blob([2, 2, 3]), -1, 1, 2)]);
  grad({ type: 'Concat', concat_param: { axis: 2 } }, [fillUniform(new Blob([2, 2, 1]), -1, 1, 1), fillUniform(new Blob([2, 2, 3]), -1, 1, 2)], { bottoms: [1] });
  grad({ type: 'Concat' }, [fillUniform(new Blob([2, 3]))]);
});

test('Slice: slice_point, equal split, legacy slice_dim, gradients, errors', () => {
  const x = blob([2, 3], [1, 2, 3, 4, 5, 6]);
  const [p, q] = run({ type: 'Slice', slice_param: { slice_point: [1] } }, [x], 2).tops;
  assert.deepEqual([shapeOf(p!), dataOf(p!)], [[2, 1], [1, 4]]);
  assert.deepEqual([shapeOf(q!), dataOf(q!)], [[2, 2], [2, 3, 5, 6]]);
  const eq = run({ type: 'Slice', slice_param: { slice_dim: 0 } }, [x], 2).tops;
  assert.deepEqual(eq.map(dataOf), [[1, 2, 3], [4, 5, 6]]);
  const three = run({ type: 'Slice', slice_param: { axis: -1 } }, [x], 3).tops;
  assert.deepEqual(three.map(dataOf), [[1, 4], [2, 5], [3, 6]]);
  assert.throws(() => run({ type: 'Slice' }, [x], 2), /type Slice.*evenly divide/);
  assert.throws(() => run({ type: 'Slice', slice_param: { slice_point: [1, 2] } }, [x], 2), /type Slice.*slice_point/);
  assert.throws(() => run({ type: 'Slice', slice_param: { axis: 1, slice_dim: 1 } }, [x], 3), /Either axis or slice_dim/);
  grad({ type: 'Slice', slice_param: { slice_point: [1, 3] } }, [fillUniform(new Blob([2, 4, 3]))], {}, 3);
  grad({ type: 'Slice', slice_param: { axis: 2 } }, [fillUniform(new Blob([2, 2, 4]))], {}, 2);
  grad({ type: 'Slice', slice_param: { slice_dim: 0, slice_point: [1] } }, [fillUniform(new Blob([3, 2, 2]))], {}, 2);
  grad({ type: 'Slice' }, [fillUniform(new Blob([2, 3]))], {}, 1);
});

test('Flatten: axis / end_axis, shares the bottom, gradients, no in place', () => {
  const x = fillUniform(new Blob([2, 3, 4, 5]));
  assert.deepEqual(shapeOf(run({ type: 'Flatten' }, [x]).tops[0]!), [2, 60]);
  assert.deepEqual(shapeOf(run({ type: 'Flatten', flatten_param: { axis: 1, end_axis: 2 } }, [x]).tops[0]!), [2, 12, 5]);
  assert.deepEqual(shapeOf(run({ type: 'Flatten', flatten_param: { axis: 0, end_axis: -2 } }, [x]).tops[0]!), [24, 5]);
  const t = run({ type: 'Flatten', flatten_param: { axis: -2 } }, [x]).tops[0]!;
  assert.deepEqual(shapeOf(t), [2, 3, 20]);
  assert.deepEqual(dataOf(t), dataOf(x));
  x.data[7] = 42;
  assert.equal(t.data[7], 42);
  assert.throws(() => { const b = blob([2, 2]); makeLayer({ name: 'f', type: 'Flatten' }).setUp([b], [b]); }, /Flatten layer does not allow in-place/);
  grad({ type: 'Flatten' }, [fillUniform(new Blob([2, 3, 2]))]);
  grad({ type: 'Flatten', flatten_param: { axis: 0, end_axis: 1 } }, [fillUniform(new Blob([2, 3, 2]))]);
});

test('Reshape: 0 copies, -1 infers, axis / num_axes, shares data, gradients, errors', () => {
  const x = fillUniform(new Blob([2, 3, 4]));
  const shape = (dim: number[], extra = {}) => shapeOf(run({ type: 'Reshape', reshape_param: { shape: { dim }, ...extra } }, [x]).tops[0]!);
  assert.deepEqual(shape([0, -1]), [2, 12]);
  assert.deepEqual(shape([-1, 4]), [6, 4]);
  assert.deepEqual(shape([0, 0, 2, 2]), [2, 3, 2, 2]);
  assert.deepEqual(shape([4, 0, -1]), [4, 3, 2]);
  assert.deepEqual(shapeOf(run({ type: 'Reshape', reshape_param: { shape: {} } }, [blob([1, 1], [3])]).tops[0]!), []);
  assert.deepEqual(shape([2, 2], { axis: 2 }), [2, 3, 2, 2]);
  assert.deepEqual(shape([-1], { axis: 1 }), [2, 12]);
  assert.deepEqual(shape([1], { axis: 0, num_axes: 0 }), [1, 2, 3, 4]);
  assert.deepEqual(shape([1], { axis: -1, num_axes: 0 }), [2, 3, 4, 1]);
  assert.deepEqual(shape([6], { axis: 0, num_axes: 2 }), [6, 4]);
  assert.deepEqual(shape([-1, 2], { axis: -2, num_axes: 1 }), [2, 3, 2, 2]);
  assert.throws(() => shape([-1, -1]), /type Reshape.*multiple -1/);
  assert.throws(() => shape([5, -1]), /type Reshape.*divisible/);
  assert.throws(() => shape([5]), /type Reshape.*output count/);
  assert.throws(() => shape([0, 0, 0, 0]), /type Reshape.*no corresponding bottom axis/);
  const { tops } = run({ type: 'Reshape', reshape_param: { shape: { dim: [0, -1] } } }, [x]);
  assert.deepEqual(dataOf(tops[0]!), dataOf(x));
  x.data[5] = 42;
  assert.equal(tops[0]!.data[5], 42);
  grad({ type: 'Reshape', reshape_param: { shape: { dim: [0, -1] } } }, [fillUniform(new Blob([2, 3, 2]))]);
  grad({ type: 'Reshape', reshape_param: { shape: { dim: [-1, 2] }, axis: 1 } }, [fillUniform(new Blob([2, 3, 2]))]);
});

test('Crop: axis and offsets (one, per axis, none), gradient to bottom[0], errors', () => {
  const x = iota([1, 1, 4, 4]), ref = blob([1, 1, 2, 2]);
  assert.deepEqual(dataOf(run({ type: 'Crop', crop_param: { offset: [1] } }, [x, ref]).tops[0]!), [5, 6, 9, 10]);
  assert.deepEqual(dataOf(run({ type: 'Crop', crop_param: { offset: [1, 2] } }, [x, ref]).tops[0]!), [6, 7, 10, 11]);
  assert.deepEqual(dataOf(run({ type: 'Crop' }, [x, ref]).tops[0]!), [0, 1, 4, 5]);
  const y = iota([2, 3, 3]);
  const t = run({ type: 'Crop', crop_param: { axis: 1, offset: [1, 0] } }, [y, blob([1, 2, 2])]).tops[0]!;
  // axis 0 keeps bottom[0]'s size; axes 1 and 2 take bottom[1]'s at offsets 1 and 0.
  assert.deepEqual(shapeOf(t), [2, 2, 2]);
  assert.deepEqual(dataOf(t), [3, 4, 6, 7, 12, 13, 15, 16]);
  assert.throws(() => run({ type: 'Crop', crop_param: { offset: [3] } }, [x, ref]), /type Crop.*invalid crop parameters in dimension: 2/);
  assert.throws(() => run({ type: 'Crop', crop_param: { offset: [1, 1, 1] } }, [x, ref]), /type Crop.*number of offset values/);
  const c = run({ type: 'Crop', crop_param: { offset: [1] } }, [x, ref]);
  c.tops[0]!.diff.set([1, 2, 3, 4]);
  x.diff.fill(9);
  c.layer.backward(c.tops, [true, false], [x, ref]);
  assert.deepEqual([...x.diff], [0, 0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0, 0, 0, 0]);
  grad({ type: 'Crop', crop_param: { offset: [1, 0] } }, [fillUniform(new Blob([2, 2, 4, 3])), blob([1, 1, 2, 2])], { bottoms: [0] });
  grad({ type: 'Crop', crop_param: { axis: 0, offset: [1, 0, 2] } }, [fillUniform(new Blob([3, 2, 4])), blob([2, 1, 2])], { bottoms: [0] });
});

test('Tile: repeats along axis, gradients sum the copies, errors', () => {
  const x = blob([2, 2], [1, 2, 3, 4]);
  const t = run({ type: 'Tile', tile_param: { tiles: 2 } }, [x]).tops[0]!;
  assert.deepEqual([shapeOf(t), dataOf(t)], [[2, 4], [1, 2, 1, 2, 3, 4, 3, 4]]);
  const t0 = run({ type: 'Tile', tile_param: { axis: 0, tiles: 3 } }, [x]).tops[0]!;
  assert.deepEqual([shapeOf(t0), dataOf(t0)], [[6, 2], [1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4]]);
  assert.throws(() => run({ type: 'Tile' }, [x]), /type Tile.*Number of tiles must be specified/);
  grad({ type: 'Tile', tile_param: { tiles: 3 } }, [fillUniform(new Blob([2, 2, 3]))]);
  grad({ type: 'Tile', tile_param: { axis: -1, tiles: 2 } }, [fillUniform(new Blob([2, 3]))]);
});

test('Reduction: SUM, ASUM, SUMSQ, MEAN with axis and coeff; gradients', () => {
  const x = blob([2, 3], [1, -2, 3, -4, 5, 6]);
  const red = (p: object) => run({ type: 'Reduction', reduction_param: p }, [x]).tops[0]!;
  const all = red({});
  assert.deepEqual([shapeOf(all), dataOf(all)], [[], [9]]);
  assert.deepEqual(dataOf(red({ axis: 1 })), [2, 7]);
  assert.deepEqual(dataOf(red({ operation: 2, axis: 1 })), [6, 15]);
  assert.deepEqual(dataOf(red({ operation: 3, axis: -1, coeff: 0.5 })), [7, 38.5]);
  assert.deepEqual(dataOf(red({ operation: 4 })), [1.5]);
  assert.deepEqual(dataOf(red({ operation: 4, axis: 1, coeff: 3 })), [2, 7]);
  for (const p of [{}, { axis: 1, coeff: -2 }, { operation: 3, axis: 2 }, { operation: 4, axis: 1, coeff: 0.7 }]) {
    grad({ type: 'Reduction', reduction_param: p }, [fillUniform(new Blob([2, 3, 2]))]);
  }
  grad({ type: 'Reduction', reduction_param: { operation: 2, axis: 1 } }, [fillUniform(new Blob([2, 3, 2]))], { kink: 0, kinkRange: 0.02 });
});

test('Silence: no tops, forward does nothing, backward zeroes the bottom diffs', () => {
  const a = blob([2], [1, 2]), b = blob([3], [1, 2, 3]);
  const l = makeLayer({ name: 's', type: 'Silence' });
  l.setUp([a, b], []);
  l.forward([a, b], []);
  assert.deepEqual(dataOf(a), [1, 2]);
  a.diff.fill(3); b.diff.fill(4);
  l.backward([], [true, false], [a, b]);
  assert.deepEqual([...a.diff, ...b.diff], [0, 0, 4, 4, 4]);
  assert.throws(() => l.setUp([a], [new Blob()]), /type Silence/);
});

test('ArgMax: top_k, out_max_val, axis; ties prefer the larger index; backward is not implemented', () => {
  const x = blob([2, 4], [0.1, 0.7, 0.2, 0.7, 3, 1, 2, 0]);
  const am = (p: object, b = x) => run({ type: 'ArgMax', argmax_param: p }, [b]).tops[0]!;
  const t1 = am({});
  assert.deepEqual([shapeOf(t1), dataOf(t1)], [[2, 1, 1], [3, 0]]);
  const t2 = am({ top_k: 2, out_max_val: true });
  assert.deepEqual(shapeOf(t2), [2, 2, 2]);
  assert.deepEqual(dataOf(t2).map((v) => Math.round(v * 100) / 100), [3, 1, 0.7, 0.7, 0, 2, 3, 2]);
  const ta = am({ axis: 0 });
  assert.deepEqual([shapeOf(ta), dataOf(ta)], [[1, 4], [1, 1, 1, 0]]);
  const tv = am({ axis: 1, top_k: 2, out_max_val: true });
  assert.deepEqual([shapeOf(tv), dataOf(tv).map((v) => Math.round(v * 100) / 100)], [[2, 2], [0.7, 0.7, 3, 2]]);
  const y = iota([2, 3, 2]);
  y.data[2] = 50;
  const tm = am({ axis: 1 }, y);
  assert.deepEqual([shapeOf(tm), dataOf(tm)], [[2, 1, 2], [1, 2, 2, 2]]);
  assert.throws(() => am({ top_k: 5 }), /type ArgMax.*top_k/);
  const { layer, tops } = run({ type: 'ArgMax' }, [x]);
  assert.throws(() => layer.backward(tops, [true], [x]), /type ArgMax.*not implemented/);
});
