import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Blob } from '../src/blob/blob.js';
import { checkGradient, fillDistinct, fillUniform, makeLayer } from './gradient_checker.js';

const filler = { type: 'gaussian', std: 0.5 };

test('Convolution: forward by hand and gradients (pad, stride, dilation, group)', () => {
  // 1 image, 1 channel 3x3, kernel 2x2 of ones, bias 1: each output is 1 + sum of its window.
  const conv = makeLayer({ name: 'c', type: 'Convolution', convolution_param: { num_output: 1, kernel_size: [2], weight_filler: { type: 'constant', value: 1 }, bias_filler: { type: 'constant', value: 1 } } });
  const b = new Blob([1, 1, 3, 3]);
  b.data.set([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const t = new Blob();
  conv.setUp([b], [t]);
  conv.forward([b], [t]);
  assert.deepEqual([...t.shape], [1, 1, 2, 2]);
  assert.deepEqual([...t.data], [13, 17, 25, 29]);
  for (const cp of [
    { num_output: 3, kernel_size: [3], pad: [1], stride: [2] },
    { num_output: 4, kernel_size: [2], group: 2 },
    { num_output: 2, kernel_h: 2, kernel_w: 3, dilation: [2], bias_term: false },
    { num_output: 2, kernel_size: [1] },
  ]) {
    const layer = makeLayer({ name: 'c', type: 'Convolution', convolution_param: { ...cp, weight_filler: filler, bias_filler: filler } });
    checkGradient(layer, [fillUniform(new Blob([2, 2, 5, 6]))], [new Blob()]);
  }
});

test('Pooling: MAX/AVE forward by hand, ceil output size, gradients', () => {
  const p = makeLayer({ name: 'p', type: 'Pooling', pooling_param: { pool: 0, kernel_size: 2, stride: 2 } });
  const b = new Blob([1, 1, 3, 3]);
  b.data.set([1, 9, 2, 3, 4, 8, 7, 5, 6]);
  const t = new Blob();
  p.setUp([b], [t]);
  p.forward([b], [t]);
  // ceil((3-2)/2)+1 = 2 outputs per axis; windows clipped at the border.
  assert.deepEqual([...t.shape], [1, 1, 2, 2]);
  assert.deepEqual([...t.data], [9, 8, 7, 6]);
  const a = makeLayer({ name: 'p', type: 'Pooling', pooling_param: { pool: 1, kernel_size: 2, stride: 1 } });
  const ta = new Blob();
  a.setUp([b], [ta]);
  a.forward([b], [ta]);
  assert.deepEqual([...ta.data], [(1 + 9 + 3 + 4) / 4, (9 + 2 + 4 + 8) / 4, (3 + 4 + 7 + 5) / 4, (4 + 8 + 5 + 6) / 4]);
  for (const pp of [{ pool: 0, kernel_size: 3, stride: 2 }, { pool: 1, kernel_size: 3, stride: 2, pad: 1 }, { pool: 1, global_pooling: true }, { pool: 0, kernel_h: 2, kernel_w: 3, stride: 1, pad: 1 }]) {
    checkGradient(makeLayer({ name: 'p', type: 'Pooling', pooling_param: pp }), [fillDistinct(new Blob([2, 3, 5, 5]))], [new Blob()]);
  }
});

test('InnerProduct: forward by hand, axis, transpose, gradients', () => {
  const ip = makeLayer({ name: 'ip', type: 'InnerProduct', inner_product_param: { num_output: 2, weight_filler: { type: 'constant', value: 0.5 }, bias_filler: { type: 'constant', value: -1 } } });
  const b = new Blob([2, 3]);
  b.data.set([1, 2, 3, 4, 5, 6]);
  const t = new Blob();
  ip.setUp([b], [t]);
  ip.forward([b], [t]);
  assert.deepEqual([...t.data], [2, 2, 6.5, 6.5]);
  for (const p of [{ num_output: 4 }, { num_output: 3, transpose: true }, { num_output: 2, axis: 2 }, { num_output: 3, bias_term: false }]) {
    checkGradient(makeLayer({ name: 'ip', type: 'InnerProduct', inner_product_param: { ...p, weight_filler: filler, bias_filler: filler } }), [fillUniform(new Blob([2, 3, 2, 2]))], [new Blob()]);
  }
});

test('ReLU (leaky), Softmax: forward by hand and gradients', () => {
  const r = makeLayer({ name: 'r', type: 'ReLU', relu_param: { negative_slope: 0.1 } });
  const b = new Blob([4]);
  b.data.set([-2, -0.5, 0.5, 3]);
  const t = new Blob();
  r.setUp([b], [t]);
  r.forward([b], [t]);
  assert.deepEqual([...t.data].map((v) => Math.round(v * 1e6) / 1e6), [-0.2, -0.05, 0.5, 3]);
  checkGradient(makeLayer({ name: 'r', type: 'ReLU' }), [fillUniform(new Blob([2, 3, 4]))], [new Blob()], { kink: 0, kinkRange: 0.02 });
  checkGradient(makeLayer({ name: 'r', type: 'ReLU', relu_param: { negative_slope: 0.3 } }), [fillUniform(new Blob([2, 3, 4]))], [new Blob()], { kink: 0, kinkRange: 0.02 });
  const s = makeLayer({ name: 's', type: 'Softmax' });
  const sb = new Blob([1, 3]);
  sb.data.set([0, Math.log(2), Math.log(5)]);
  const st = new Blob();
  s.setUp([sb], [st]);
  s.forward([sb], [st]);
  [0.125, 0.25, 0.625].forEach((v, i) => assert.ok(Math.abs(st.data[i]! - v) < 1e-6));
  checkGradient(makeLayer({ name: 's', type: 'Softmax' }), [fillUniform(new Blob([2, 4, 3]))], [new Blob()]);
});

test('SoftmaxWithLoss: loss by hand, ignore_label, normalization, gradients', () => {
  const x = new Blob([2, 3]);
  x.data.set([0, 0, 0, 1, 2, 3]);
  const y = new Blob([2]);
  y.data.set([1, 2]);
  const l = makeLayer({ name: 'l', type: 'SoftmaxWithLoss' });
  const t = new Blob();
  l.setUp([x, y], [t]);
  const loss = l.forwardWithLoss([x, y], [t]);
  const expect = (Math.log(3) + -Math.log(Math.exp(3) / (Math.exp(1) + Math.exp(2) + Math.exp(3)))) / 2;
  assert.ok(Math.abs(loss - expect) < 1e-5, `${loss} vs ${expect}`);
  const li = makeLayer({ name: 'l', type: 'SoftmaxWithLoss', loss_param: { ignore_label: 2 } });
  const ti = new Blob();
  li.setUp([x, y], [ti]);
  assert.ok(Math.abs(li.forwardWithLoss([x, y], [ti]) - Math.log(3)) < 1e-5);
  const labels = new Blob([2, 1, 3]);
  labels.data.set([0, 1, 3, 2, 4, 0]);
  for (const lp of [{}, { normalization: 0 }, { normalization: 2 }, { normalization: 3 }, { ignore_label: 1 }]) {
    checkGradient(makeLayer({ name: 'l', type: 'SoftmaxWithLoss', loss_param: lp }), [fillUniform(new Blob([2, 5, 3])), labels], [new Blob()], { bottoms: [0] });
  }
});

test('Accuracy: top_k, ignore_label, per-class', () => {
  const x = new Blob([4, 3]);
  x.data.set([0.1, 0.7, 0.2, 0.5, 0.3, 0.2, 0.1, 0.2, 0.7, 0.3, 0.4, 0.3]);
  const y = new Blob([4]);
  y.data.set([1, 1, 2, 0]);
  const run = (ap: object, tops = 1) => {
    const a = makeLayer({ name: 'a', type: 'Accuracy', accuracy_param: ap });
    const t = Array.from({ length: tops }, () => new Blob());
    a.setUp([x, y], t);
    a.forward([x, y], t);
    return t.map((b) => [...b.data]);
  };
  assert.deepEqual(run({})[0], [0.5]);
  // Ties count against the true class, as in Caffe (item 3: 0.3 vs 0.4 and 0.3).
  assert.deepEqual(run({ top_k: 2 })[0], [0.75]);
  assert.deepEqual(run({ top_k: 3 })[0], [1]);
  assert.deepEqual(run({ ignore_label: 0 })[0], [Math.fround(2 / 3)]);
  const [acc, perClass] = run({}, 2);
  assert.deepEqual(acc, [0.5]);
  assert.deepEqual(perClass, [0, 0.5, 1]);
});

test('Split: copies forward, sums gradients', () => {
  const s = makeLayer({ name: 's', type: 'Split' });
  checkGradient(s, [fillUniform(new Blob([2, 3]))], [new Blob(), new Blob(), new Blob()]);
});
