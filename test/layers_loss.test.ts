// Loss layers: SigmoidCrossEntropyLoss, EuclideanLoss, HingeLoss, ContrastiveLoss, InfogainLoss — losses by hand,
// normalization / ignore_label / options, and numerical gradients w.r.t. the prediction bottoms.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Blob } from '../src/blob/blob.js';
import type { Layer } from '../src/layers/layer.js';
import { encodeMessage } from '../src/proto/caffe.js';
import { Net } from '../src/net/net.js';
import { parseTextProto } from '../src/proto/textformat.js';
import { setQuiet } from '../src/util/log.js';
import { checkGradient, fillUniform, makeLayer } from './gradient_checker.js';
import { removeDir, scratchDir } from './helpers.js';

function loss(layer: Layer, bottom: Blob[]): number {
  const top = [new Blob()];
  layer.setUp(bottom, top);
  return layer.forwardWithLoss(bottom, top);
}

function blob(shape: number[], values: number[]): Blob {
  const b = new Blob(shape);
  b.data.set(values);
  return b;
}

function near(got: number, want: number, tol = 1e-5, what = ''): void {
  assert.ok(Math.abs(got - want) <= tol * Math.max(1, Math.abs(want)), `${what}: ${got} vs ${want}`);
}

/** Labels 0..K-1 for `count` positions, deterministic. */
function labels(shape: number[], K: number, seed = 7): Blob {
  const b = new Blob(shape);
  let s = seed;
  for (let i = 0; i < b.count(); i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    b.data[i] = (s >>> 16) % K;
  }
  return b;
}

test('SigmoidCrossEntropyLoss: loss by hand, normalization modes, ignore_label, gradients', () => {
  const x = blob([1, 3], [0, 2, -1]);
  const t = blob([1, 3], [1, 0, 1]);
  const terms = [Math.log(2), Math.log(1 + Math.exp(2)), Math.log(1 + Math.E)];
  const sum = terms[0]! + terms[1]! + terms[2]!;
  near(loss(makeLayer({ name: 's', type: 'SigmoidCrossEntropyLoss' }), [x, t]), sum / 3, 1e-5, 'VALID');
  near(loss(makeLayer({ name: 's', type: 'SigmoidCrossEntropyLoss', loss_param: { normalization: 0 } }), [x, t]), sum / 3, 1e-5, 'FULL');
  near(loss(makeLayer({ name: 's', type: 'SigmoidCrossEntropyLoss', loss_param: { normalization: 2 } }), [x, t]), sum, 1e-5, 'BATCH_SIZE');
  near(loss(makeLayer({ name: 's', type: 'SigmoidCrossEntropyLoss', loss_param: { normalize: false } }), [x, t]), sum, 1e-5, 'normalize: false');
  near(loss(makeLayer({ name: 's', type: 'SigmoidCrossEntropyLoss', loss_param: { normalization: 3 } }), [x, t]), sum, 1e-5, 'NONE');
  // Large logits stay finite (stable form).
  near(loss(makeLayer({ name: 's', type: 'SigmoidCrossEntropyLoss' }), [blob([1, 2], [100, -100]), blob([1, 2], [0, 1])]), 100, 1e-5, 'stable');
  // ignore_label: the first target is skipped, VALID divides by 2, FULL still by 3.
  const ti = blob([1, 3], [-1, 0, 1]);
  near(loss(makeLayer({ name: 's', type: 'SigmoidCrossEntropyLoss', loss_param: { ignore_label: -1 } }), [x, ti]), (terms[1]! + terms[2]!) / 2, 1e-5, 'ignore VALID');
  near(loss(makeLayer({ name: 's', type: 'SigmoidCrossEntropyLoss', loss_param: { ignore_label: -1, normalization: 0 } }), [x, ti]), (terms[1]! + terms[2]!) / 3, 1e-5, 'ignore FULL');
  assert.throws(() => loss(makeLayer({ name: 'sx', type: 'SigmoidCrossEntropyLoss' }), [new Blob([2, 3]), new Blob([2, 2])]), /sx.*same count/);

  const targets = fillUniform(new Blob([2, 3, 2]), 0, 1, 11);
  for (const lp of [{}, { normalization: 0 }, { normalization: 2 }, { normalization: 3 }]) {
    checkGradient(makeLayer({ name: 's', type: 'SigmoidCrossEntropyLoss', loss_param: lp }), [fillUniform(new Blob([2, 3, 2]), -3, 3), targets], [new Blob()], { bottoms: [0] });
  }
  const tIgn = blob([2, 3, 2], [1, 0, -1, 1, 0, 0, -1, -1, 1, 0, 1, 0]);
  checkGradient(makeLayer({ name: 's', type: 'SigmoidCrossEntropyLoss', loss_param: { ignore_label: -1 } }), [fillUniform(new Blob([2, 3, 2]), -3, 3), tIgn], [new Blob()], { bottoms: [0] });
});

test('EuclideanLoss: loss by hand, gradients to both inputs', () => {
  near(loss(makeLayer({ name: 'e', type: 'EuclideanLoss' }), [blob([2, 2], [1, 2, 3, 4]), blob([2, 2], [0, 0, 1, 1])]), (1 + 4 + 4 + 9) / 2 / 2);
  // Shapes may differ beyond the first axis as long as the per-item counts match.
  near(loss(makeLayer({ name: 'e', type: 'EuclideanLoss' }), [blob([1, 2, 1], [1, 1]), blob([1, 2], [0, 0])]), 1);
  assert.throws(() => loss(makeLayer({ name: 'ex', type: 'EuclideanLoss' }), [new Blob([2, 3]), new Blob([2, 4])]), /ex.*same dimension/);
  const l = makeLayer({ name: 'e', type: 'EuclideanLoss' });
  assert.ok(l.allowForceBackward(1));
  checkGradient(l, [fillUniform(new Blob([3, 2, 2]), -1, 1, 3), fillUniform(new Blob([3, 4]), -1, 1, 4)], [new Blob()]);
  checkGradient(makeLayer({ name: 'e', type: 'EuclideanLoss', loss_weight: [3] }), [fillUniform(new Blob([2, 5])), fillUniform(new Blob([2, 5]), -1, 1, 8)], [new Blob()], { bottoms: [0] });
});

test('HingeLoss: L1 and L2 by hand, gradients', () => {
  const x = blob([2, 3], [1, -0.5, 0.2, 0.3, 2, -2]);
  const y = blob([2], [0, 2]);
  // t = +1 for the labelled class, -1 otherwise; margins max(0, 1 - t x): [0, 0.5, 1.2] and [1.3, 3, 3].
  near(loss(makeLayer({ name: 'h', type: 'HingeLoss' }), [x, y]), (1.7 + 7.3) / 2);
  near(loss(makeLayer({ name: 'h', type: 'HingeLoss', hinge_loss_param: { norm: 2 } }), [x, y]), (0.25 + 1.44 + 1.69 + 9 + 9) / 2);
  assert.throws(() => loss(makeLayer({ name: 'hx', type: 'HingeLoss' }), [x, blob([2], [0, 3])]), /hx.*out of range/);
  // Inputs kept away from the kinks at +/-1.
  const lab = labels([4], 5);
  for (const norm of [1, 2]) {
    checkGradient(makeLayer({ name: 'h', type: 'HingeLoss', hinge_loss_param: { norm } }), [fillUniform(new Blob([4, 5]), -0.9, 0.9), lab], [new Blob()], { bottoms: [0] });
  }
  checkGradient(makeLayer({ name: 'h', type: 'HingeLoss' }), [fillUniform(new Blob([4, 5]), 1.1, 3), lab], [new Blob()], { bottoms: [0] });
});

test('ContrastiveLoss: loss by hand, legacy_version, gradients', () => {
  const a = blob([2, 2], [1, 0, 0, 0]);
  const b = blob([2, 2], [0, 0, 0.3, 0.4]);
  const sim = blob([2], [1, 0]);
  // Pair 0 similar, d^2 = 1; pair 1 dissimilar, d = 0.5: max(1 - 0.5, 0)^2 = 0.25 (legacy: max(1 - 0.25, 0) = 0.75).
  near(loss(makeLayer({ name: 'c', type: 'ContrastiveLoss' }), [a, b, sim]), (1 + 0.25) / 4);
  near(loss(makeLayer({ name: 'c', type: 'ContrastiveLoss', contrastive_loss_param: { legacy_version: true } }), [a, b, sim]), (1 + 0.75) / 4);
  near(loss(makeLayer({ name: 'c', type: 'ContrastiveLoss', contrastive_loss_param: { margin: 0.4 } }), [a, b, sim]), 1 / 4);
  assert.throws(() => loss(makeLayer({ name: 'cx', type: 'ContrastiveLoss' }), [new Blob([2, 2]), new Blob([2, 3]), new Blob([2])]), /cx.*channels/);
  const l = makeLayer({ name: 'c', type: 'ContrastiveLoss' });
  assert.ok(!l.allowForceBackward(2) && l.allowForceBackward(1));

  const s = blob([6, 1, 1, 1], [1, 0, 0, 1, 0, 1]);
  const feats = () => [fillUniform(new Blob([6, 3, 1, 1]), -0.5, 0.5, 21), fillUniform(new Blob([6, 3, 1, 1]), -0.5, 0.5, 22)];
  // Distances stay below the margin (no kink); a small margin exercises the zero branch too.
  checkGradient(makeLayer({ name: 'c', type: 'ContrastiveLoss', contrastive_loss_param: { margin: 2 } }), [...feats(), s], [new Blob()], { bottoms: [0, 1] });
  checkGradient(makeLayer({ name: 'c', type: 'ContrastiveLoss', contrastive_loss_param: { margin: 4, legacy_version: true } }), [...feats(), s], [new Blob()], { bottoms: [0, 1] });
  checkGradient(makeLayer({ name: 'c', type: 'ContrastiveLoss', contrastive_loss_param: { margin: 0.01 } }), [...feats(), s], [new Blob()], { bottoms: [0, 1] });
});

test('InfogainLoss: H from a third bottom or a binaryproto, axis, ignore_label, normalization, gradients', () => {
  // Logits [0, ln 2, ln 5] give p = [1/8, 1/4, 5/8]; label 2 picks H's third row.
  const x = blob([1, 3], [0, Math.log(2), Math.log(5)]);
  const y = blob([1], [2]);
  const H = blob([1, 1, 3, 3], [1, 0, 0, 0, 1, 0, 0.5, 0.25, 1]);
  near(loss(makeLayer({ name: 'i', type: 'InfogainLoss' }), [x, y, H]), -(0.5 * Math.log(1 / 8) + 0.25 * Math.log(1 / 4) + Math.log(5 / 8)));
  // The probabilities come out as a second top.
  const il = makeLayer({ name: 'i', type: 'InfogainLoss' });
  const tops = [new Blob(), new Blob()];
  il.setUp([x, y, H], tops);
  il.forward([x, y, H], tops);
  [1 / 8, 1 / 4, 5 / 8].forEach((p, k) => near(tops[1]!.data[k]!, p));

  // H = identity from a binaryproto file: the same as SoftmaxWithLoss, over axis 1 of an N x C x S blob.
  const dir = scratchDir();
  try {
    const K = 4;
    const eye = Array.from({ length: K * K }, (_, i) => (i % (K + 1) === 0 ? 1 : 0));
    const file = path.join(dir, 'H.binaryproto');
    writeFileSync(file, encodeMessage('BlobProto', { shape: { dim: [1, 1, K, K] }, data: eye }));
    const pred = fillUniform(new Blob([2, K, 3]), -2, 2, 5);
    const lab = labels([2, 3], K);
    const ig = loss(makeLayer({ name: 'i', type: 'InfogainLoss', infogain_loss_param: { source: file } }), [pred, lab]);
    const sm = loss(makeLayer({ name: 's', type: 'SoftmaxWithLoss' }), [pred, lab]);
    near(ig, sm, 1e-5, 'identity H');
    // axis 2 over an N x S x C blob, ignore_label.
    const predT = new Blob([2, 3, K]);
    for (let n = 0; n < 2; n++) for (let k = 0; k < K; k++) for (let s = 0; s < 3; s++) predT.data[(n * 3 + s) * K + k] = pred.data[(n * K + k) * 3 + s]!;
    near(loss(makeLayer({ name: 'i', type: 'InfogainLoss', infogain_loss_param: { source: file, axis: 2 } }), [predT, lab]), sm, 1e-5, 'axis 2');
    const smIgn = loss(makeLayer({ name: 's', type: 'SoftmaxWithLoss', loss_param: { ignore_label: 1 } }), [pred, lab]);
    near(loss(makeLayer({ name: 'i', type: 'InfogainLoss', infogain_loss_param: { source: file }, loss_param: { ignore_label: 1 } }), [pred, lab]), smIgn, 1e-5, 'ignore_label');
    assert.throws(() => loss(makeLayer({ name: 'ix', type: 'InfogainLoss', infogain_loss_param: { source: file } }), [new Blob([2, 3]), new Blob([2])]), /ix.*3x3/);
  } finally {
    removeDir(dir);
  }
  assert.throws(() => loss(makeLayer({ name: 'iy', type: 'InfogainLoss' }), [new Blob([2, 3]), new Blob([2])]), /iy.*source/);

  const K = 5;
  const Hr = fillUniform(new Blob([K, K]), 0, 1, 13);
  const lab = labels([2, 2, 3], K);
  for (const lp of [{}, { normalization: 0 }, { normalization: 2 }, { ignore_label: 3 }]) {
    checkGradient(makeLayer({ name: 'i', type: 'InfogainLoss', loss_param: lp }), [fillUniform(new Blob([2, K, 2, 3]), -2, 2), lab, Hr], [new Blob()], { bottoms: [0] });
  }
  checkGradient(makeLayer({ name: 'i', type: 'InfogainLoss', infogain_loss_param: { axis: -1 } }), [fillUniform(new Blob([3, 2, K]), -2, 2), labels([3, 2], K), Hr], [new Blob()], { bottoms: [0] });
});

test('In a Net: DummyData and Parameter feed EuclideanLoss; BatchNorm statistics get lr_mult 0', async () => {
  setQuiet(true);
  const text = `
    layer { name: "x" type: "DummyData" top: "x" dummy_data_param { shape { dim: 2 dim: 3 } data_filler { type: "gaussian" } } }
    layer { name: "p" type: "Parameter" top: "p" parameter_param { shape { dim: 2 dim: 3 } } }
    layer { name: "bn" type: "BatchNorm" bottom: "x" top: "xn" }
    layer { name: "loss" type: "EuclideanLoss" bottom: "xn" bottom: "p" top: "loss" }`;
  const net = await Net.create(parseTextProto(text, 'NetParameter'), 0, { verbose: false });
  // Parameter's blob plus BatchNorm's three statistics; only the Parameter is learned.
  assert.deepEqual(net.paramsLr, [1, 0, 0, 0]);
  const p = net.learnableParams[0]!;
  p.data.set([1, 2, 3, 4, 5, 6]);
  const loss = await net.forward();
  const xn = net.blobByName('xn')!.data;
  let want = 0;
  for (let i = 0; i < 6; i++) want += (xn[i]! - p.data[i]!) ** 2;
  near(loss, want / 2 / 2, 1e-5, 'loss');
  net.clearParamDiffs();
  await net.backward();
  for (let i = 0; i < 6; i++) near(p.diff[i]!, -(xn[i]! - p.data[i]!) / 2, 1e-5, `p diff ${i}`);
});
