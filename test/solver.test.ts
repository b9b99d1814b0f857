// Solvers: convergence of each update rule on real MNIST, determinism, learning-rate policies, one-step update rules,
// iter_size/clipping/regularization, snapshot + resume equivalence.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Solver } from '../src/solver/solver.js';
import { LearningRate } from '../src/solver/lr_policy.js';
import { parseTextProto } from '../src/proto/textformat.js';
import type { SolverParameter } from '../src/proto/types.generated.js';
import { setLogSink, setQuiet } from '../src/util/log.js';
import { mnistWorkDir } from './helpers.js';
import '../src/backend/all.js';

let dir = '';
before(async () => {
  setQuiet(true);
  dir = await mnistWorkDir('tscaffe-solver-');
});

function mlp(batch = 64): string {
  return `name: "mlp"
layer { name: "d" type: "Data" top: "data" top: "label" include { phase: TRAIN }
  transform_param { scale: 0.00390625 } data_param { source: "${path.join(dir, 'mnist_train_lmdb')}" batch_size: ${batch} backend: LMDB } }
layer { name: "d" type: "Data" top: "data" top: "label" include { phase: TEST }
  transform_param { scale: 0.00390625 } data_param { source: "${path.join(dir, 'mnist_test_lmdb')}" batch_size: 100 backend: LMDB } }
layer { name: "ip1" type: "InnerProduct" bottom: "data" top: "ip1"
  inner_product_param { num_output: 64 weight_filler { type: "xavier" } bias_filler { type: "constant" } } }
layer { name: "relu" type: "ReLU" bottom: "ip1" top: "ip1" }
layer { name: "ip2" type: "InnerProduct" bottom: "ip1" top: "ip2"
  inner_product_param { num_output: 10 weight_filler { type: "xavier" } bias_filler { type: "constant" } } }
layer { name: "acc" type: "Accuracy" bottom: "ip2" bottom: "label" top: "accuracy" include { phase: TEST } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip2" bottom: "label" top: "loss" }`;
}

function solverParam(extra: string, iters: number, batch = 64): SolverParameter {
  return parseTextProto<SolverParameter>(`net_param { ${mlp(batch)} }
test_iter: 10 test_interval: ${iters} test_initialization: false display: 0 max_iter: ${iters}
snapshot_prefix: "${path.join(dir, 'snap')}" snapshot_after_train: false ${extra.includes("random_seed") ? "" : "random_seed: 1701"} ${extra}`, 'SolverParameter', 'test');
}

async function train(extra: string, iters: number) {
  const losses: number[] = [];
  let accuracy = 0;
  const s = await Solver.create(solverParam(extra, iters), {
    onIteration: (_i, loss) => losses.push(loss),
    onTest: (_i, scores) => { accuracy = scores.find((x) => x.name === 'accuracy')!.value; },
  });
  await s.solve();
  await s.close();
  return { losses, accuracy, solver: s };
}

const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;

test('every solver type trains a small net on MNIST: the loss falls and test accuracy passes 85%', async () => {
  for (const extra of [
    'type: "SGD" base_lr: 0.05 momentum: 0.9 weight_decay: 0.0005 lr_policy: "inv" gamma: 0.0001 power: 0.75',
    'type: "Nesterov" base_lr: 0.05 momentum: 0.9 lr_policy: "fixed"',
    'type: "AdaGrad" base_lr: 0.05 lr_policy: "fixed"',
    'type: "RMSProp" base_lr: 0.002 rms_decay: 0.98 lr_policy: "fixed"',
    'type: "AdaDelta" base_lr: 1.0 momentum: 0.95 delta: 1e-6 lr_policy: "fixed"',
    'type: "Adam" base_lr: 0.002 momentum: 0.9 momentum2: 0.999 lr_policy: "fixed"',
  ]) {
    const { losses, accuracy } = await train(extra, 300);
    const first = mean(losses.slice(0, 10)), last = mean(losses.slice(-30));
    assert.ok(last < first * 0.5, `${extra}: loss ${first} -> ${last}`);
    assert.ok(accuracy > 0.85, `${extra}: accuracy ${accuracy}`);
  }
});

test('same random_seed, same run, bit for bit', async () => {
  const a = await train('base_lr: 0.05 momentum: 0.9 lr_policy: "fixed"', 30);
  const b = await train('base_lr: 0.05 momentum: 0.9 lr_policy: "fixed"', 30);
  assert.deepEqual(a.losses, b.losses);
  a.solver.net.learnableParams.forEach((p, i) => assert.deepEqual(p.data, b.solver.net.learnableParams[i]!.data));
  const c = await train('base_lr: 0.05 momentum: 0.9 lr_policy: "fixed" random_seed: 7', 30);
  assert.notDeepEqual(a.losses, c.losses);
});

test('snapshot then resume continues with the same weights, history and learning-rate step', async () => {
  const extra = 'base_lr: 0.05 momentum: 0.9 lr_policy: "multistep" gamma: 0.5 stepvalue: 10 stepvalue: 15';
  const s = await Solver.create(solverParam(extra, 20));
  await s.step(12);
  const files = await s.snapshot();
  const r = await Solver.create(solverParam(extra, 20));
  await r.restore(files.state);
  assert.equal(r.iter, 12);
  assert.equal(r.learningRate(), s.learningRate());
  s.net.learnableParams.forEach((p, i) => assert.deepEqual(p.data, r.net.learnableParams[i]!.data));
  s.history.forEach((h, i) => assert.deepEqual(h.data, r.history[i]!.data));
  assert.ok(readFileSync(files.model).length > 0);
  await s.close();
  await r.close();
});

test('learning-rate policies follow Caffe\'s formulas', () => {
  const lr = (p: string, iter: number) => new LearningRate(parseTextProto<SolverParameter>(p, 'SolverParameter')).rate(iter);
  const near = (a: number, b: number) => assert.ok(Math.abs(a - b) <= 1e-6 * Math.abs(b), `${a} vs ${b}`);
  near(lr('base_lr: 0.01 lr_policy: "fixed"', 500), 0.01);
  near(lr('base_lr: 0.01 lr_policy: "step" gamma: 0.1 stepsize: 100', 250), 0.01 * 0.1 ** 2);
  near(lr('base_lr: 0.01 lr_policy: "exp" gamma: 0.99', 10), 0.01 * 0.99 ** 10);
  near(lr('base_lr: 0.01 lr_policy: "inv" gamma: 0.0001 power: 0.75', 100), 0.01 * (1 + 0.0001 * 100) ** -0.75);
  near(lr('base_lr: 0.01 lr_policy: "poly" power: 2 max_iter: 1000', 250), 0.01 * (1 - 0.25) ** 2);
  near(lr('base_lr: 0.01 lr_policy: "sigmoid" gamma: -0.01 stepsize: 100', 150), 0.01 / (1 + Math.exp(0.01 * 50)));
  const ms = new LearningRate(parseTextProto<SolverParameter>('base_lr: 1 lr_policy: "multistep" gamma: 0.5 stepvalue: 2 stepvalue: 4', 'SolverParameter'));
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((i) => ms.rate(i)), [1, 1, 0.5, 0.5, 0.25, 0.25]);
  assert.throws(() => lr('lr_policy: "bogus"', 0), /unknown lr_policy 'bogus'/);
});

test('bad solver input: no net, both net fields, unknown type, test_iter without test_interval', async () => {
  await assert.rejects(Solver.create(parseTextProto<SolverParameter>('base_lr: 0.1', 'SolverParameter')), /must specify a train net/);
  await assert.rejects(Solver.create(parseTextProto<SolverParameter>('net: "a" train_net: "b"', 'SolverParameter')), /must not contain more than one/);
  await assert.rejects(Solver.create(solverParam('type: "Bogus"', 1)), /unknown solver type 'Bogus'/);
  await assert.rejects(Solver.create(solverParam('net: "x.prototxt"', 1)), /must not contain more than one/);
  await assert.rejects(Solver.create(parseTextProto<SolverParameter>(`net_param { ${mlp()} } test_iter: 5`, 'SolverParameter')), /test_interval/);
});

test('iter_size 2 at batch 32 takes the same step as batch 64; clip_gradients caps the gradient norm', async () => {
  const one = await Solver.create(solverParam('base_lr: 0.1 lr_policy: "fixed"', 1, 64));
  const two = await Solver.create(solverParam('base_lr: 0.1 lr_policy: "fixed" iter_size: 2', 1, 32));
  await one.step(1);
  await two.step(1);
  one.net.learnableParams.forEach((p, i) => {
    const q = two.net.learnableParams[i]!;
    for (let k = 0; k < p.count(); k++) assert.ok(Math.abs(p.data[k]! - q.data[k]!) < 1e-6, `param ${i}[${k}]`);
  });
  await one.close();
  await two.close();
  const clipped = await Solver.create(solverParam('base_lr: 1 lr_policy: "fixed" clip_gradients: 0.01', 1));
  const before = clipped.net.learnableParams.map((p) => Float32Array.from(p.data));
  await clipped.step(1);
  let sq = 0;
  clipped.net.learnableParams.forEach((p, i) => p.data.forEach((v, k) => { sq += (v - before[i]![k]!) ** 2; }));
  assert.ok(Math.abs(Math.sqrt(sq) - 0.01) < 1e-4, `step norm ${Math.sqrt(sq)}`);
  await clipped.close();
});

test('debug_info: on display iterations, Caffe\'s per-layer [Forward]/[Backward] lines with mean absolute values', async () => {
  const lines: string[] = [];
  const sp = solverParam('base_lr: 0.01 lr_policy: "fixed" debug_info: true', 3);
  sp.display = 2;
  const s = await Solver.create(sp);
  setQuiet(false);
  const prev = setLogSink({ write: (l) => void lines.push(l.trimEnd()) });
  try {
    await s.step(1); // iteration 0: displayed
    const net = s.net;
    const mean = (a: Float32Array) => a.reduce((x, v) => x + Math.abs(v), 0) / a.length;
    // the values logged are those of the blobs after the pass (the update changes params, not tops or bottom diffs)
    const logged = (re: RegExp) => Number(re.exec(lines.join('\n'))?.[1]);
    const ip2 = net.blobByName('ip2')!;
    assert.ok(Math.abs(logged(/\[Forward\] Layer ip2, top blob ip2 data: (\S+)/) - mean(ip2.data)) <= 1e-5 * mean(ip2.data));
    assert.ok(Math.abs(logged(/\[Backward\] Layer relu, bottom blob ip1 diff: (\S+)/) - mean(net.blobByName('ip1')!.diff)) <= 1e-5 * mean(net.blobByName('ip1')!.diff));
    assert.match(lines.join('\n'), /\[Forward\] Layer ip1, param blob 0 data: \S+\n.*\[Forward\] Layer ip1, param blob 1 data: /);
    assert.match(lines.join('\n'), /\[Backward\] Layer ip1, param blob 1 diff: [\d.e-]+/);
    // the data layer's bottoms need no backward: no line for them; the norms line is an E line like Caffe's
    assert.ok(!lines.some((l) => /\[Backward\] Layer d,/.test(l)));
    assert.ok(lines.some((l) => /^E\d{8} .*\]\s+\[Backward\] All net params \(data, diff\): L1 norm = \([\d.e+-]+, [\d.e+-]+\); L2 norm = \(/.test(l)));
    const count = lines.filter((l) => l.includes('[Forward]')).length;
    lines.length = 0;
    await s.step(1); // iteration 1: not displayed, no debug lines
    assert.ok(count > 0 && !lines.some((l) => l.includes('[Forward]') || l.includes('[Backward]')));
  } finally {
    setLogSink(prev);
    setQuiet(true);
    await s.close();
  }
});
