// Elementwise ("neuron") layers and the learnable PReLU/Embed/Bias/Scale: forward by hand, numerical gradients,
// in-place runs matching out-of-place ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Blob } from '../src/blob/blob.js';
import type { Layer } from '../src/layers/layer.js';
import { TEST, TRAIN } from '../src/layers/layer.js';
import { setRandomSeed } from '../src/util/rng.js';
import { checkGradient, fillUniform, makeLayer } from './gradient_checker.js';

function blob(shape: number[], values?: number[]): Blob {
  const b = new Blob();
  b.reshape(shape);
  if (values) b.data.set(values);
  return b;
}

/** Set up and run one forward pass; returns the layer and its tops. */
function run(props: object, bottoms: Blob[], nTop = 1, phase = TRAIN): { layer: Layer; tops: Blob[] } {
  const layer = makeLayer({ name: 'l', ...props }, phase);
  const tops = Array.from({ length: nTop }, () => new Blob());
  layer.setUp(bottoms, tops);
  layer.forward(bottoms, tops);
  return { layer, tops };
}

function near(got: ArrayLike<number>, want: number[], tol = 1e-5): void {
  assert.equal(got.length, want.length, `length ${got.length} vs ${want.length}`);
  for (let i = 0; i < want.length; i++) {
    assert.ok(Math.abs(got[i]! - want[i]!) <= tol * Math.max(1, Math.abs(want[i]!)), `[${i}]: ${got[i]} vs ${want[i]} (${Array.from(got).join(', ')})`);
  }
}

const grad = (props: object, bottoms: Blob[], opts = {}, nTop = 1, phase = TRAIN) =>
  checkGradient(makeLayer({ name: 'l', ...props }, phase), bottoms, Array.from({ length: nTop }, () => new Blob()), opts);

/** Forward + backward in place (top === bottom) equals the out-of-place run, for data, bottom diff and param diffs. */
function checkInPlace(props: object, make: () => Blob, phase = TRAIN): void {
  const a = make(), b = make();
  const la = makeLayer({ name: 'l', ...props }, phase), lb = makeLayer({ name: 'l', ...props }, phase);
  const ta = new Blob();
  setRandomSeed(7); la.setUp([a], [ta]);
  setRandomSeed(7); lb.setUp([b], [b]);
  setRandomSeed(9); la.forward([a], [ta]);
  setRandomSeed(9); lb.forward([b], [b]);
  near(b.data, Array.from(ta.data));
  const dy = fillUniform(new Blob([...ta.shape]), -1, 1, 5).data;
  ta.diff.set(dy);
  b.diff.set(dy);
  for (const p of [...la.blobs, ...lb.blobs]) p.diff.fill(0);
  la.backward([ta], [true], [a]);
  lb.backward([b], [true], [b]);
  near(b.diff, Array.from(a.diff));
  la.blobs.forEach((p, i) => near(lb.blobs[i]!.diff, Array.from(p.diff)));
}

test('Sigmoid, TanH, Swish: forward by hand, gradients, in place', () => {
  near(run({ type: 'Sigmoid' }, [blob([2], [0, Math.log(3)])]).tops[0]!.data, [0.5, 0.75]);
  near(run({ type: 'TanH' }, [blob([2], [0, 0.5 * Math.log(3)])]).tops[0]!.data, [0, 0.5]);
  near(run({ type: 'Swish' }, [blob([2], [0, Math.log(3)])]).tops[0]!.data, [0, 0.75 * Math.log(3)]);
  near(run({ type: 'Swish', swish_param: { beta: 2 } }, [blob([1], [0.5 * Math.log(3)])]).tops[0]!.data, [0.375 * Math.log(3)]);
  for (const p of [{ type: 'Sigmoid' }, { type: 'TanH' }, { type: 'Swish' }, { type: 'Swish', swish_param: { beta: 1.7 } }]) {
    grad(p, [fillUniform(new Blob([2, 3, 4]), -2, 2)]);
    checkInPlace(p, () => fillUniform(new Blob([2, 3]), -2, 2));
  }
});

test('AbsVal, ELU, BNLL: forward by hand, gradients; AbsVal refuses in place', () => {
  near(run({ type: 'AbsVal' }, [blob([3], [-2, 0, 3])]).tops[0]!.data, [2, 0, 3]);
  assert.throws(() => { const b = blob([2]); makeLayer({ name: 'a', type: 'AbsVal' }).setUp([b], [b]); }, /Layer a \(type AbsVal\).*in-place/);
  grad({ type: 'AbsVal' }, [fillUniform(new Blob([2, 3, 4]))], { kink: 0, kinkRange: 0.02 });
  near(run({ type: 'ELU', elu_param: { alpha: 2 } }, [blob([2], [-Math.LN2, 1])]).tops[0]!.data, [-1, 1]);
  near(run({ type: 'ELU' }, [blob([1], [-Math.LN2])]).tops[0]!.data, [-0.5]);
  grad({ type: 'ELU' }, [fillUniform(new Blob([2, 3, 4]), -2, 2)], { kink: 0, kinkRange: 0.02 });
  grad({ type: 'ELU', elu_param: { alpha: 0.5 } }, [fillUniform(new Blob([2, 3, 4]), -2, 2)], { kink: 0, kinkRange: 0.02 });
  checkInPlace({ type: 'ELU', elu_param: { alpha: 0.5 } }, () => fillUniform(new Blob([2, 3]), -2, 2));
  near(run({ type: 'BNLL' }, [blob([3], [0, Math.log(3), -Math.log(3)])]).tops[0]!.data, [Math.LN2, Math.log(4), Math.log(4 / 3)]);
  near(run({ type: 'BNLL' }, [blob([2], [80, -80])]).tops[0]!.data, [80, Math.fround(Math.exp(-80))]);
  grad({ type: 'BNLL' }, [fillUniform(new Blob([2, 3, 4]), -3, 3)]);
});

test('Power, Exp, Log: forward by hand (defaults and params), gradients', () => {
  const x = [0, 1, -1];
  near(run({ type: 'Power', power_param: { power: 2, scale: 3, shift: 1 } }, [blob([3], x)]).tops[0]!.data, [1, 16, 4]);
  near(run({ type: 'Power' }, [blob([3], x)]).tops[0]!.data, x);
  near(run({ type: 'Power', power_param: { power: 0 } }, [blob([3], x)]).tops[0]!.data, [1, 1, 1]);
  near(run({ type: 'Power', power_param: { power: 2, scale: 0, shift: 3 } }, [blob([3], x)]).tops[0]!.data, [9, 9, 9]);
  near(run({ type: 'Power', power_param: { power: 0.5, shift: 1 } }, [blob([2], [3, 8])]).tops[0]!.data, [2, 3]);
  for (const pp of [{ power: 2, scale: 0.7, shift: -0.3 }, { power: 1, scale: -2, shift: 1 }, { power: 3, scale: 1.5 }, { power: 0.37, scale: 0.8, shift: 2.4 }, { power: -1.5, shift: 2 }]) {
    grad({ type: 'Power', power_param: pp }, [fillUniform(new Blob([2, 3, 4]), -1, 1)]);
  }
  // power * scale = 0: constant output, zero gradient.
  const { layer, tops } = run({ type: 'Power', power_param: { power: 0, scale: 2 } }, [blob([2], [1, 2])]);
  const b = blob([2], [1, 2]);
  b.diff.fill(5); tops[0]!.diff.fill(1);
  layer.backward(tops, [true], [b]);
  near(b.diff, [0, 0]);

  near(run({ type: 'Exp', exp_param: { base: 2, shift: 1 } }, [blob([2], [0, 2])]).tops[0]!.data, [2, 8]);
  near(run({ type: 'Exp' }, [blob([2], [0, 1])]).tops[0]!.data, [1, Math.E]);
  near(run({ type: 'Exp', exp_param: { scale: 2, shift: 1 } }, [blob([1], [1])]).tops[0]!.data, [Math.exp(3)]);
  assert.throws(() => run({ type: 'Exp', exp_param: { base: -2 } }, [blob([1])]), /type Exp.*base must be strictly positive/);
  for (const ep of [{}, { base: 3, scale: 0.5, shift: 0.2 }, { scale: -1.2, shift: 1 }]) {
    grad({ type: 'Exp', exp_param: ep }, [fillUniform(new Blob([2, 3, 4]))]);
    checkInPlace({ type: 'Exp', exp_param: ep }, () => fillUniform(new Blob([2, 3])));
  }

  near(run({ type: 'Log', log_param: { base: 10, scale: 2 } }, [blob([2], [5, 50])]).tops[0]!.data, [1, 2]);
  near(run({ type: 'Log' }, [blob([2], [1, Math.E])]).tops[0]!.data, [0, 1]);
  near(run({ type: 'Log', log_param: { base: 2, scale: 3, shift: 1 } }, [blob([1], [1])]).tops[0]!.data, [2]);
  for (const lp of [{}, { base: 2, scale: 1.3, shift: 0.4 }, { scale: 0.5, shift: 1 }]) {
    grad({ type: 'Log', log_param: lp }, [fillUniform(new Blob([2, 3, 4]), 0.5, 2)]);
  }
});

test('Threshold: forward by hand; backward is not implemented (as Caffe)', () => {
  const b = blob([4], [0.2, 0.5, 0.7, -1]);
  const { layer, tops } = run({ type: 'Threshold', threshold_param: { threshold: 0.5 } }, [b]);
  assert.deepEqual([...tops[0]!.data], [0, 0, 1, 0]);
  assert.deepEqual([...run({ type: 'Threshold' }, [b]).tops[0]!.data], [1, 1, 1, 0]);
  assert.throws(() => layer.backward(tops, [true], [b]), /type Threshold.*not implemented/);
  layer.backward(tops, [false], [b]);
});

test('Clip: forward by hand, gradients (zero outside [min, max])', () => {
  near(run({ type: 'Clip', clip_param: { min: -1, max: 2 } }, [blob([3], [-3, 0.5, 5])]).tops[0]!.data, [-1, 0.5, 2]);
  assert.throws(() => run({ type: 'Clip', clip_param: { min: 1 } }, [blob([1])]), /type Clip.*min and max/);
  grad({ type: 'Clip', clip_param: { min: -2, max: 0.4 } }, [fillUniform(new Blob([2, 3, 4]))], { kink: 0.4, kinkRange: 0.02 });
  grad({ type: 'Clip', clip_param: { min: -0.3, max: 2 } }, [fillUniform(new Blob([2, 3, 4]))], { kink: -0.3, kinkRange: 0.02 });
});

test('PReLU: default slope 0.25 per channel, channel_shared, filler, gradients w.r.t. input and slope, in place', () => {
  const { layer, tops } = run({ type: 'PReLU' }, [blob([1, 2, 2], [-4, 4, -8, 8])]);
  assert.deepEqual([...layer.blobs[0]!.shape], [2]);
  near(tops[0]!.data, [-1, 4, -2, 8]);
  const sh = run({ type: 'PReLU', prelu_param: { channel_shared: true, filler: { type: 'constant', value: 0.5 } } }, [blob([1, 2, 2], [-4, 4, -8, 8])]);
  assert.deepEqual([...sh.layer.blobs[0]!.shape], []);
  near(sh.tops[0]!.data, [-2, 4, -4, 8]);
  assert.throws(() => run({ type: 'PReLU' }, [blob([3])]), /type PReLU.*>=2/);
  const filler = { type: 'uniform', min: 0.1, max: 0.9 };
  for (const pp of [{ filler }, { filler, channel_shared: true }]) {
    grad({ type: 'PReLU', prelu_param: pp }, [fillUniform(new Blob([2, 3, 2, 2]))], { kink: 0, kinkRange: 0.02 });
    checkInPlace({ type: 'PReLU', prelu_param: pp }, () => fillUniform(new Blob([2, 3, 2])));
  }
});

test('Dropout: TRAIN masks and scales by 1/(1-p), TEST is the identity; gradients; in place', () => {
  const x = blob([1000]);
  x.data.fill(1);
  setRandomSeed(1);
  const { tops } = run({ type: 'Dropout', dropout_param: { dropout_ratio: 0.2 } }, [x]);
  let kept = 0;
  for (const v of tops[0]!.data) {
    assert.ok(v === 0 || Math.abs(v - 1.25) < 1e-6, `${v}`);
    if (v !== 0) kept++;
  }
  assert.ok(kept > 750 && kept < 850, `kept ${kept} of 1000`);
  const t = run({ type: 'Dropout' }, [blob([3], [1, 2, 3])], 1, TEST).tops[0]!;
  assert.deepEqual([...t.data], [1, 2, 3]);
  grad({ type: 'Dropout' }, [fillUniform(new Blob([2, 3, 4]))]);
  grad({ type: 'Dropout', dropout_param: { dropout_ratio: 0.3 } }, [fillUniform(new Blob([2, 3, 4]))], {}, 1, TEST);
  checkInPlace({ type: 'Dropout' }, () => fillUniform(new Blob([4, 5])));
  assert.throws(() => run({ type: 'Dropout', dropout_param: { dropout_ratio: 1 } }, [blob([1])]), /type Dropout.*dropout_ratio/);
});

test('Embed: lookup by hand, bias, bad indices, gradients w.r.t. the table and bias only', () => {
  const ids = blob([2, 1], [2, 0]);
  const { layer, tops } = run({ type: 'Embed', embed_param: { num_output: 2, input_dim: 3, bias_filler: { type: 'constant', value: 0.5 } } }, [ids]);
  assert.deepEqual([...layer.blobs[0]!.shape], [3, 2]);
  layer.blobs[0]!.data.set([1, 2, 3, 4, 5, 6]);
  layer.forward([ids], tops);
  assert.deepEqual([...tops[0]!.shape], [2, 1, 2]);
  assert.deepEqual([...tops[0]!.data], [5.5, 6.5, 1.5, 2.5]);
  assert.throws(() => layer.forward([blob([1], [3])], tops), /type Embed.*input_dim/);
  assert.throws(() => layer.forward([blob([1], [0.5])], tops), /type Embed.*non-integer/);
  assert.throws(() => layer.backward(tops, [true], [ids]), /Can't backpropagate to EmbedLayer input/);
  const many = blob([2, 3], [0, 3, 1, 3, 3, 4]);
  const wf = { type: 'gaussian', std: 1 };
  grad({ type: 'Embed', embed_param: { num_output: 3, input_dim: 5, weight_filler: wf, bias_filler: wf } }, [many], { bottoms: [] });
  grad({ type: 'Embed', embed_param: { num_output: 2, input_dim: 5, bias_term: false, weight_filler: wf } }, [many], { bottoms: [] });
});

test('Bias: learned (axis, num_axes) and second-bottom bias, forward by hand, gradients, in place', () => {
  const x = blob([2, 3], [1, 2, 3, 4, 5, 6]);
  const b = blob([3], [10, 20, 30]);
  near(run({ type: 'Bias' }, [x, b]).tops[0]!.data, [11, 22, 33, 14, 25, 36]);
  near(run({ type: 'Bias', bias_param: { axis: 0 } }, [x, blob([2], [1, -1])]).tops[0]!.data, [2, 3, 4, 3, 4, 5]);
  near(run({ type: 'Bias' }, [x, blob([], [0.5])]).tops[0]!.data, [1.5, 2.5, 3.5, 4.5, 5.5, 6.5]);
  const l = run({ type: 'Bias', bias_param: { filler: { type: 'constant', value: 2 } } }, [x]);
  assert.deepEqual([...l.layer.blobs[0]!.shape], [3]);
  near(l.tops[0]!.data, [3, 4, 5, 6, 7, 8]);
  assert.throws(() => run({ type: 'Bias' }, [x, blob([2])]), /type Bias.*dimension mismatch/);
  const f = { type: 'gaussian', std: 1 };
  const x4 = () => fillUniform(new Blob([2, 3, 2, 2]));
  grad({ type: 'Bias', bias_param: { filler: f } }, [x4()]);
  grad({ type: 'Bias', bias_param: { axis: 1, num_axes: 2, filler: f } }, [x4()]);
  grad({ type: 'Bias', bias_param: { axis: -1, num_axes: -1, filler: f } }, [x4()]);
  grad({ type: 'Bias', bias_param: { num_axes: 0, filler: f } }, [x4()]);
  grad({ type: 'Bias' }, [x4(), fillUniform(new Blob([3, 2]), -1, 1, 4)]);
  grad({ type: 'Bias', bias_param: { axis: 0 } }, [x4(), fillUniform(new Blob([2, 3]), -1, 1, 4)]);
  grad({ type: 'Bias' }, [x4(), fillUniform(blob([]), -1, 1, 4)]);
  checkInPlace({ type: 'Bias', bias_param: { filler: f } }, x4);
});

test('Scale: learned and second-bottom scale, bias_term, forward by hand, gradients, in place', () => {
  const x = blob([2, 3], [1, 2, 3, 4, 5, 6]);
  near(run({ type: 'Scale' }, [x, blob([3], [1, 2, 3])]).tops[0]!.data, [1, 4, 9, 4, 10, 18]);
  near(run({ type: 'Scale', scale_param: { axis: 0 } }, [x, blob([2], [2, -1])]).tops[0]!.data, [2, 4, 6, -4, -5, -6]);
  near(run({ type: 'Scale' }, [x, blob([], [3])]).tops[0]!.data, [3, 6, 9, 12, 15, 18]);
  const l = run({ type: 'Scale', scale_param: { bias_term: true, bias_filler: { type: 'constant', value: 1 } } }, [x]);
  assert.equal(l.layer.blobs.length, 2);
  assert.deepEqual([...l.layer.blobs[0]!.data], [1, 1, 1]);
  near(l.tops[0]!.data, [2, 3, 4, 5, 6, 7]);
  const two = run({ type: 'Scale', scale_param: { bias_term: true, bias_filler: { type: 'constant', value: -1 } } }, [x, blob([3], [2, 2, 2])]);
  assert.equal(two.layer.blobs.length, 1);
  near(two.tops[0]!.data, [1, 3, 5, 7, 9, 11]);
  assert.throws(() => run({ type: 'Scale', scale_param: { axis: 1, num_axes: 3 } }, [x]), /type Scale/);
  const f = { type: 'gaussian', std: 1 };
  const x4 = () => fillUniform(new Blob([2, 3, 2, 2]));
  grad({ type: 'Scale', scale_param: { filler: f } }, [x4()]);
  grad({ type: 'Scale', scale_param: { filler: f, bias_term: true, bias_filler: f } }, [x4()]);
  grad({ type: 'Scale', scale_param: { axis: 1, num_axes: -1, filler: f, bias_term: true, bias_filler: f } }, [x4()]);
  grad({ type: 'Scale', scale_param: { num_axes: 0, filler: f, bias_term: true, bias_filler: f } }, [x4()]);
  grad({ type: 'Scale' }, [x4(), fillUniform(new Blob([3, 2]), -1, 1, 4)]);
  grad({ type: 'Scale', scale_param: { bias_term: true, bias_filler: f } }, [x4(), fillUniform(new Blob([3]), -1, 1, 4)]);
  grad({ type: 'Scale', scale_param: { axis: 0, bias_term: true, bias_filler: f } }, [x4(), fillUniform(blob([]), -1, 1, 4)]);
  checkInPlace({ type: 'Scale', scale_param: { filler: f, bias_term: true, bias_filler: f } }, x4);
});
