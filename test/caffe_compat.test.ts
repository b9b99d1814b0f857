// tscaffe against real Caffe's own outputs (../shared/vectors): snapshots, `test` scores and training losses.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { runLogged } from './cli_capture.js';
import { copyVector, mnistWorkDir, vector } from './helpers.js';

let work = '';

before(async () => {
  work = await mnistWorkDir('tscaffe-compat-', ['lenet_train_test.prototxt', 'lenet_solver_init.prototxt', 'lenet_iter_100.caffemodel', 'lenet_iter_100.solverstate']);
  mkdirSync(path.join(work, 'init'));
  mkdirSync(path.join(work, 'resume'));
  symlinkSync(copyVector('mnist_test64_lmdb'), path.join(work, 'mnist_test64_lmdb'));
  process.chdir(work);
});

const run = runLogged;

/** "Iteration N ..., loss = X" and test outputs from a Caffe-format log. */
function lossesOf(lines: string[]): Map<string, number> {
  const out = new Map<string, number>();
  let testIter = -1;
  for (const l of lines) {
    let m = /Iteration (\d+) \(.*\), loss = ([-\d.e+]+)/.exec(l);
    if (m) out.set(`train ${m[1]}`, Number(m[2]));
    m = /Iteration (\d+), loss = ([-\d.e+]+)/.exec(l);
    if (m) out.set(`train ${m[1]}`, Number(m[2]));
    m = /Iteration (\d+), Testing net/.exec(l);
    if (m) testIter = Number(m[1]);
    m = /Test net output #\d+: (\w+) = ([-\d.e+]+)/.exec(l);
    if (m) out.set(`test ${testIter} ${m[1]}`, Number(m[2]));
  }
  return out;
}

function compareLosses(ours: Map<string, number>, caffeLog: string, rel: number, atLeast: number): void {
  const theirs = lossesOf(readFileSync(caffeLog, 'utf8').split('\n'));
  assert.ok(theirs.size >= atLeast, `Caffe log parsed (${theirs.size} values)`);
  for (const [k, v] of theirs) {
    const got = ours.get(k);
    assert.ok(got !== undefined, `missing ${k} in our log`);
    assert.ok(Math.abs(got - v) <= rel * Math.abs(v), `${k}: tscaffe ${got} vs Caffe ${v}`);
  }
}

test('random_seed 1701 alone gives Caffe\'s initial weights: the iteration-0 snapshot is byte-identical to Caffe\'s', async () => {
  // Caffe's engine and Boost's float uniform_real, drawn in Caffe's order (each data layer's setup takes one draw).
  const r = await run(['train', '-solver', 'lenet_solver_init.prototxt']);
  assert.equal(r.code, 0);
  assert.ok(r.lines.some((l) => l.endsWith('Snapshotting to binary proto file init/lenet_iter_0.caffemodel')));
  assert.deepEqual(readFileSync('init/lenet_iter_0.caffemodel'), readFileSync(vector('init/lenet_iter_0.caffemodel')));
  assert.deepEqual(readFileSync('init/lenet_iter_0.solverstate'), readFileSync(vector('init/lenet_iter_0.solverstate')));
  // The test pass at iteration 0 on the first 1000 test images: Caffe printed 0.078 / 2.33173.
  compareLosses(lossesOf(r.lines), vector('train_init_iter0.log'), 1e-5, 2);
});

test('`test` on Caffe\'s LeNet snapshot reproduces Caffe\'s accuracy and loss', async () => {
  writeFileSync('lenet_test64.prototxt', readFileSync('lenet_train_test.prototxt', 'utf8')
    .replace('"mnist_test_lmdb"', '"mnist_test64_lmdb"').replace('batch_size: 100', 'batch_size: 64'));
  const r = await run(['test', '-model', 'lenet_test64.prototxt', '-weights', 'lenet_iter_100.caffemodel', '-iterations', '10']);
  assert.equal(r.code, 0);
  const tail = r.lines.slice(-2).map((l) => l.slice(l.indexOf('] ') + 2));
  assert.deepEqual(tail, ['accuracy = 0.9375', 'loss = 0.217098 (* 1 = 0.217098 loss)']);
  const full = await run(['test', '-model', 'lenet_train_test.prototxt', '-weights', 'lenet_iter_100.caffemodel', '-iterations', '10']);
  const t2 = full.lines.slice(-2).map((l) => l.slice(l.indexOf('] ') + 2));
  assert.deepEqual(t2, ['accuracy = 0.908', 'loss = 0.287151 (* 1 = 0.287151 loss)']);
});

test('100 iterations from the same random_seed reproduce every loss and score Caffe logged (within 1e-4)', async () => {
  writeFileSync('s100.prototxt', readFileSync('lenet_solver_init.prototxt', 'utf8')
    .replace('max_iter: 0', 'max_iter: 100').replace('snapshot: 0', 'snapshot: 100')
    .replace('test_initialization: false', '').replace('init/lenet', 'ours'));
  const r = await run(['train', '-solver', 's100.prototxt']);
  assert.equal(r.code, 0);
  // Caffe's start, data order and float arithmetic: the 6-digit values differ at most in their last digit.
  compareLosses(lossesOf(r.lines), vector('train_100.log'), 1e-4, 17);
  // Learning rates are printed exactly as Caffe printed them.
  const lrs = (ls: string[]) => ls.filter((l) => / lr = /.test(l)).map((l) => l.slice(l.indexOf('Iteration')));
  assert.deepEqual(lrs(r.lines), lrs(readFileSync(vector('train_100.log'), 'utf8').split('\n')));
});

test('resuming Caffe\'s .solverstate continues Caffe\'s run (losses within 1%)', async () => {
  writeFileSync('resume.prototxt', readFileSync(vector('resume/lenet_solver_resume200.prototxt'), 'utf8')
    .replace('max_iter: 200', 'max_iter: 150').replace('snapshot: 200', 'snapshot: 0'));
  const r = await run(['train', '-solver', 'resume.prototxt', '-snapshot', 'lenet_iter_100.solverstate']);
  assert.equal(r.code, 0);
  const ours = lossesOf(r.lines);
  const theirs = lossesOf(readFileSync(vector('resume/train_resume_100_to_200.log'), 'utf8').split('\n'));
  let compared = 0;
  for (const [k, v] of theirs) {
    const n = Number(k.split(' ')[1]);
    if (n >= 150) continue;
    const got = ours.get(k);
    assert.ok(got !== undefined, `missing ${k}`);
    assert.ok(Math.abs(got - v) <= 0.01 * Math.abs(v), `${k}: tscaffe ${got} vs Caffe ${v}`);
    compared++;
  }
  assert.ok(compared >= 7, `compared ${compared} values`);
  assert.equal(ours.get('test 150 accuracy'), theirs.get('test 150 accuracy'));
});
