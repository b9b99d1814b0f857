// Deconvolution, LRN, BatchNorm, MVN, DummyData and Parameter: forward against hand-computed values and numerical
// gradient checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Blob } from '../src/blob/blob.js';
import { TEST, TRAIN, type Layer } from '../src/layers/layer.js';
import { checkGradient, fillUniform, makeLayer } from './gradient_checker.js';

const filler = { type: 'gaussian', std: 0.5 };

function run(layer: Layer, bottom: Blob[], tops = 1): Blob[] {
  const top = Array.from({ length: tops }, () => new Blob());
  layer.setUp(bottom, top);
  layer.forward(bottom, top);
  return top;
}

function blob(shape: number[], values: number[]): Blob {
  const b = new Blob(shape);
  b.data.set(values);
  return b;
}

function near(got: ArrayLike<number>, want: number[], tol = 1e-5, what = ''): void {
  assert.equal(got.length, want.length, `${what} length`);
  for (let i = 0; i < want.length; i++) {
    assert.ok(Math.abs(got[i]! - want[i]!) <= tol * Math.max(1, Math.abs(want[i]!)), `${what}[${i}]: ${got[i]} vs ${want[i]}`);
  }
}

test('Deconvolution: forward by hand, output size, transpose of Convolution, gradients (stride, pad, group)', () => {
  const ones = { type: 'constant', value: 1 };
  const d = makeLayer({ name: 'd', type: 'Deconvolution', convolution_param: { num_output: 1, kernel_size: [2], weight_filler: ones, bias_filler: { type: 'constant', value: 0.5 } } });
  const [t] = run(d, [blob([1, 1, 2, 2], [1, 2, 3, 4])]);
  assert.deepEqual([...t!.shape], [1, 1, 3, 3]);
  near(t!.data, [1, 3, 2, 4, 10, 6, 3, 7, 4].map((v) => v + 0.5));
  // Stride 2, kernel 2: each input spreads over its own 2x2 block; pad 1 crops one pixel on each side.
  const s = makeLayer({ name: 'd', type: 'Deconvolution', convolution_param: { num_output: 1, kernel_size: [2], stride: [2], bias_term: false, weight_filler: ones } });
  const [ts] = run(s, [blob([1, 1, 2, 2], [1, 2, 3, 4])]);
  assert.deepEqual([...ts!.shape], [1, 1, 4, 4]);
  near(ts!.data, [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
  const p = makeLayer({ name: 'd', type: 'Deconvolution', convolution_param: { num_output: 2, kernel_size: [3], stride: [2], pad: [1], weight_filler: ones } });
  const [tp] = run(p, [new Blob([1, 1, 4, 5])]);
  assert.deepEqual([...tp!.shape], [1, 2, 7, 9]); // 2*(4-1)+3-2, 2*(5-1)+3-2

  // <deconv(x), y> == <x, conv(y)> with the same weights (no bias): deconvolution is convolution's transpose.
  // Convolution 2 -> 4 channels with group 2; the deconvolution maps 4 -> 2 with the same [4, 1, 3, 3] weights.
  const cp = { kernel_size: [3], stride: [2], pad: [1], group: 2, bias_term: false, weight_filler: filler };
  const conv = makeLayer({ name: 'c', type: 'Convolution', convolution_param: { ...cp, num_output: 4 } });
  const y = fillUniform(new Blob([1, 2, 7, 7]), -1, 1, 5);
  const [cy] = run(conv, [y]);
  const deconv = makeLayer({ name: 'd', type: 'Deconvolution', convolution_param: { ...cp, num_output: 2 } });
  const x = fillUniform(new Blob([1, 4, 4, 4]), -1, 1, 9);
  const dx = new Blob();
  deconv.setUp([x], [dx]);
  assert.deepEqual([...deconv.blobs[0]!.shape], [...conv.blobs[0]!.shape]);
  deconv.blobs[0]!.data.set(conv.blobs[0]!.data);
  deconv.forward([x], [dx]);
  assert.deepEqual([...dx.shape], [...y.shape]);
  let lhs = 0, rhs = 0;
  for (let i = 0; i < y.count(); i++) lhs += dx.data[i]! * y.data[i]!;
  for (let i = 0; i < x.count(); i++) rhs += x.data[i]! * cy!.data[i]!;
  assert.ok(Math.abs(lhs - rhs) < 1e-4 * Math.max(1, Math.abs(lhs)), `${lhs} vs ${rhs}`);

  for (const c of [
    { num_output: 3, kernel_size: [3], stride: [2], pad: [1] },
    { num_output: 4, kernel_size: [2], group: 2 },
    { num_output: 2, kernel_h: 3, kernel_w: 2, stride_h: 2, stride_w: 1, pad_h: 1, pad_w: 0 },
    { num_output: 2, kernel_size: [3], dilation: [2], bias_term: false },
    { num_output: 2, kernel_size: [1] },
  ]) {
    const layer = makeLayer({ name: 'd', type: 'Deconvolution', convolution_param: { ...c, weight_filler: filler, bias_filler: filler } });
    checkGradient(layer, [fillUniform(new Blob([2, 2, 3, 4]))], [new Blob()], { maxElements: 40 });
  }
});

test('LRN: ACROSS_CHANNELS and WITHIN_CHANNEL by hand, errors, gradients', () => {
  // local_size 3, alpha chosen so that alpha/n (across) and alpha/n^2 (within) are 1, beta 1: y = x / (k + window sum).
  const across = makeLayer({ name: 'n', type: 'LRN', lrn_param: { local_size: 3, alpha: 3, beta: 1, k: 1 } });
  const [ta] = run(across, [blob([1, 3, 1, 1], [1, 2, 3])]);
  near(ta!.data, [1 / 6, 2 / 15, 3 / 14]);
  // Default alpha 1, beta 0.75, k 1, local_size 5 over 2 channels.
  const [td] = run(makeLayer({ name: 'n', type: 'LRN' }), [blob([1, 2, 1, 1], [1, 2])]);
  near(td!.data, [1 / Math.pow(1 + 5 / 5, 0.75), 2 / Math.pow(1 + 5 / 5, 0.75)]);
  // WITHIN_CHANNEL ignores k (Caffe's Power layer uses shift 1) and divides by local_size^2 even at the border.
  for (const k of [1, 7]) {
    const within = makeLayer({ name: 'n', type: 'LRN', lrn_param: { local_size: 3, alpha: 9, beta: 1, k, norm_region: 1 } });
    const [tw] = run(within, [blob([1, 1, 1, 3], [1, 2, 3])]);
    near(tw!.data, [1 / 6, 2 / 15, 3 / 14]);
  }
  const [t2] = run(makeLayer({ name: 'n', type: 'LRN', lrn_param: { local_size: 3, alpha: 9, beta: 2, norm_region: 1 } }), [blob([1, 1, 2, 2], [1, 2, 3, 4])]);
  near(t2!.data, [1, 2, 3, 4].map((v) => v / (31 * 31)));
  assert.throws(() => run(makeLayer({ name: 'bad', type: 'LRN', lrn_param: { local_size: 4 } }), [new Blob([1, 4, 2, 2])]), /bad.*odd/);
  assert.throws(() => run(makeLayer({ name: 'bad3', type: 'LRN' }), [new Blob([2, 3, 4])]), /bad3.*4 axes/);

  for (const lp of [{}, { local_size: 3, alpha: 2, beta: 0.5, k: 2 }, { norm_region: 1 }, { norm_region: 1, local_size: 3, alpha: 3, beta: 1.2 }]) {
    checkGradient(makeLayer({ name: 'n', type: 'LRN', lrn_param: lp }), [fillUniform(new Blob([2, 7, 3, 3]))], [new Blob()], { maxElements: 60 });
  }
});

test('BatchNorm: TRAIN statistics and stored blobs, TEST with global stats, lr_mult 0 specs, gradients', () => {
  const eps = 1e-5;
  // N=2, C=2, spatial 2. Channel 0: 1 3 | 5 7 (mean 4, var 5); channel 1: 0 0 | 2 2 (mean 1, var 1).
  const x = blob([2, 2, 2], [1, 3, 0, 0, 5, 7, 2, 2]);
  const bn = makeLayer({ name: 'bn', type: 'BatchNorm' }, TRAIN);
  const [t] = run(bn, [x]);
  const s0 = Math.sqrt(5 + eps), s1 = Math.sqrt(1 + eps);
  near(t!.data, [-3 / s0, -1 / s0, -1 / s1, -1 / s1, 1 / s0, 3 / s0, 1 / s1, 1 / s1]);
  assert.equal(bn.blobs.length, 3);
  assert.deepEqual([...bn.blobs[2]!.shape], [1]);
  near(bn.blobs[0]!.data, [4, 1]);
  near(bn.blobs[1]!.data, [5 * 4 / 3, 4 / 3]); // unbiased: m / (m - 1) with m = 4
  near(bn.blobs[2]!.data, [1]);
  assert.deepEqual((bn.param.param ?? []).map((p) => p.lr_mult), [0, 0, 0]);
  bn.forward([x], [t!]);
  const f = Math.fround(0.999);
  near(bn.blobs[2]!.data, [1 + f]);
  near(bn.blobs[0]!.data, [4 * (1 + f), 1 + f]);

  // TEST phase uses the stored estimates: blob / blob[2].
  const test = makeLayer({ name: 'bn', type: 'BatchNorm', batch_norm_param: { eps: 0.01 } }, TEST);
  const y = blob([1, 2, 1, 1], [6, 3]);
  test.setUp([y], [new Blob()]);
  test.blobs[0]!.data.set([8, 2]);
  test.blobs[1]!.data.set([10, 2]);
  test.blobs[2]!.data.set([2]);
  const tt = new Blob();
  test.reshape([y], [tt]);
  test.forward([y], [tt]);
  near(tt.data, [(6 - 4) / Math.sqrt(5 + 0.01), (3 - 1) / Math.sqrt(1 + 0.01)]);
  // A zero count reads as zero statistics.
  test.blobs[2]!.data.set([0]);
  test.forward([y], [tt]);
  near(tt.data, [6 / Math.sqrt(0.01), 3 / Math.sqrt(0.01)]);
  // Statistics cannot be learned.
  assert.throws(() => run(makeLayer({ name: 'bnx', type: 'BatchNorm', param: [{ lr_mult: 1 }] }), [new Blob([2, 2])]), /bnx.*lr_mult/);

  // In place gives the same output.
  const xi = blob([2, 2, 2], [1, 3, 0, 0, 5, 7, 2, 2]);
  const bi = makeLayer({ name: 'bn', type: 'BatchNorm' }, TRAIN);
  bi.setUp([xi], [xi]);
  bi.forward([xi], [xi]);
  near(xi.data, [...t!.data]);

  checkGradient(makeLayer({ name: 'bn', type: 'BatchNorm', batch_norm_param: { use_global_stats: false } }, TRAIN),
    [fillUniform(new Blob([3, 3, 2, 2]))], [new Blob()], { params: false, step: 1e-3, threshold: 2e-2 });
  checkGradient(makeLayer({ name: 'bn', type: 'BatchNorm', batch_norm_param: { use_global_stats: false, eps: 1e-3 } }, TEST),
    [fillUniform(new Blob([4, 5]))], [new Blob()], { params: false, step: 1e-3, threshold: 2e-2 });
  const g = makeLayer({ name: 'bn', type: 'BatchNorm', batch_norm_param: { use_global_stats: true } }, TRAIN);
  checkGradient(g, [fillUniform(new Blob([2, 3, 2]))], [new Blob()], { params: false });
});

test('MVN: mean / variance normalization by hand, across channels, gradients', () => {
  const x = blob([1, 2, 1, 2], [1, 2, 3, 7]);
  const [t] = run(makeLayer({ name: 'm', type: 'MVN' }), [x]);
  // Each channel: two values +/- half their difference; std = that half.
  near(t!.data, [-1, 1, -1, 1], 1e-6);
  const [tm] = run(makeLayer({ name: 'm', type: 'MVN', mvn_param: { normalize_variance: false } }), [x]);
  near(tm!.data, [-0.5, 0.5, -2, 2]);
  const [ta] = run(makeLayer({ name: 'm', type: 'MVN', mvn_param: { across_channels: true, eps: 0.5 } }), [x]);
  const sd = Math.sqrt(((1 - 3.25) ** 2 + (2 - 3.25) ** 2 + (3 - 3.25) ** 2 + (7 - 3.25) ** 2) / 4) + 0.5;
  near(ta!.data, [1, 2, 3, 7].map((v) => (v - 3.25) / sd));
  for (const mp of [{}, { normalize_variance: false }, { across_channels: true }, { across_channels: true, normalize_variance: false }]) {
    checkGradient(makeLayer({ name: 'm', type: 'MVN', mvn_param: mp }), [fillUniform(new Blob([2, 3, 2, 3]))], [new Blob()], { step: 1e-3, threshold: 2e-2 });
  }
});

test('DummyData: shapes, legacy dims, constant fill once, other fillers every forward; Parameter', () => {
  const d = makeLayer({ name: 'dd', type: 'DummyData', dummy_data_param: { shape: [{ dim: [2, 3] }, { dim: [4] }], data_filler: [{ type: 'constant', value: 7 }, { type: 'uniform', min: 1, max: 2 }] } });
  const tops = [new Blob(), new Blob()];
  d.setUp([], tops);
  assert.deepEqual([...tops[0]!.shape], [2, 3]);
  assert.deepEqual([...tops[1]!.shape], [4]);
  assert.ok(tops[0]!.data.every((v) => v === 7));
  // Caffe's refill rule: constant tops are filled at setup only; the others on each forward.
  tops[0]!.data.fill(-1);
  const before = [...tops[1]!.data];
  d.forward([], tops);
  assert.ok(tops[0]!.data.every((v) => v === -1));
  assert.ok(tops[1]!.data.every((v) => v >= 1 && v < 2));
  assert.notDeepEqual([...tops[1]!.data], before);
  // Legacy dims, one default (constant 0) filler for all tops.
  const l = makeLayer({ name: 'dl', type: 'DummyData', dummy_data_param: { num: [2], channels: [3, 1], height: [4], width: [5] } });
  const lt = [new Blob(), new Blob()];
  l.setUp([], lt);
  assert.deepEqual([...lt[0]!.shape], [2, 3, 4, 5]);
  assert.deepEqual([...lt[1]!.shape], [2, 1, 4, 5]);
  assert.ok(lt[1]!.data.every((v) => v === 0));
  assert.throws(() => makeLayer({ name: 'dx', type: 'DummyData', dummy_data_param: { shape: [{ dim: [1] }], num: [1] } }).setUp([], [new Blob()]), /dx.*legacy/);
  assert.throws(() => makeLayer({ name: 'dy', type: 'DummyData', dummy_data_param: { shape: [{ dim: [1] }, { dim: [1] }] } }).setUp([], [new Blob(), new Blob(), new Blob()]), /dy.*shape/);

  const p = makeLayer({ name: 'p', type: 'Parameter', parameter_param: { shape: { dim: [2, 3] } } });
  const pt = new Blob();
  p.setUp([], [pt]);
  assert.equal(p.blobs.length, 1);
  p.blobs[0]!.data.set([1, 2, 3, 4, 5, 6]);
  p.forward([], [pt]);
  assert.deepEqual([...pt.shape], [2, 3]);
  assert.deepEqual([...pt.data], [1, 2, 3, 4, 5, 6]);
  pt.diff.fill(0.5);
  assert.ok(p.blobs[0]!.diff.every((v) => v === 0.5));
});
