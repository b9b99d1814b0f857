// The `tscaffe` command as users run it: the seed's example end to end, and one clear line + non-zero exit on bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot, scratchDir, vector } from './helpers.js';
import { digit, pngOf } from './inference_helpers.js';

const bin = path.join(repoRoot, 'bin/tscaffe.js');
function tscaffe(args: string[], cwd = scratchDir()) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, cwd };
}

test('`tscaffe example mnist` writes the LMDBs and the seed\'s prototxt files, trains, and reports accuracy and model', () => {
  const dir = scratchDir();
  const r = tscaffe(['example', 'mnist', 'ex', '-iterations', '40', '-train_batch', '64', '-test_batch', '100', '-test_iter', '10'], dir);
  assert.equal(r.code, 0, r.stderr.slice(-2000));
  const acc = /Test accuracy: ([\d.]+)%/.exec(r.stdout);
  assert.ok(acc && Number(acc[1]) > 70, r.stdout);
  const model = /Model: (.*)/.exec(r.stdout)![1]!;
  assert.ok(existsSync(model) && model.endsWith('mnist_lenet_iter_40.caffemodel'), model);
  const net = readFileSync(path.join(dir, 'ex/lenet_train_test.prototxt'), 'utf8');
  assert.match(net, /source: ".*ex\/mnist_train_lmdb"/);
  assert.match(r.stderr, /Iteration 0, Testing net \(#0\)/);
  assert.match(r.stderr, /Optimization Done\./);
  // The command it prints to recognize a digit with the model works as printed.
  const recognize = /Recognize a digit image: tscaffe (.*)/.exec(r.stdout)![1]!.split(' ');
  writeFileSync(path.join(dir, 'digit.png'), pngOf(digit(0), 28, 28));
  const c = tscaffe(recognize, dir);
  assert.equal(c.code, 0, c.stderr.slice(-2000));
  const [file, ...pairs] = c.stdout.trim().split(' ');
  assert.equal(file, 'digit.png');
  assert.equal(pairs.length, 10, c.stdout); // top 5: class, probability
  const probs = pairs.filter((_, i) => i % 2 === 1).map(Number);
  assert.ok(probs.every((p, i) => p >= 0 && (i === 0 || p <= probs[i - 1]!)) && probs.reduce((a, b) => a + b) <= 1.0001, c.stdout);
  assert.ok(pairs.filter((_, i) => i % 2 === 0).every((k) => /^[0-9]$/.test(k)), c.stdout);
});

test('bad input: one line naming the file and the problem, non-zero exit, nothing half-written', () => {
  const dir = scratchDir();
  writeFileSync(path.join(dir, 'typo.prototxt'), 'name: "x"\nlayer {\n  name: "a"\n  tpye: "ReLU"\n}\n');
  let r = tscaffe(['test', '-model', 'typo.prototxt', '-weights', 'w'], dir);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr.trim().split('\n').pop()!, /typo\.prototxt:4:3: unknown field 'tpye' in caffe\.LayerParameter/);
  writeFileSync(path.join(dir, 'junk.caffemodel'), 'this is not a protobuf');
  r = tscaffe(['upgrade_net_proto_text', vector('prototxt-corpus/lenet.prototxt'), 'out.prototxt'], dir);
  assert.equal(r.code, 0);
  r = tscaffe(['train', '-solver', 'missing_solver.prototxt'], dir);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /missing_solver\.prototxt/);
  r = tscaffe(['convert_mnist_data', vector('idx64/first64-t10k-labels-idx1-ubyte'), vector('idx64/first64-t10k-labels-idx1-ubyte'), 'db'], dir);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /not an IDX image file/);
  assert.ok(!existsSync(path.join(dir, 'db')));
  r = tscaffe(['train', '-solver', 'x', '-bogus_flag', '1'], dir);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /unknown flag '-bogus_flag'/);
  r = tscaffe(['nonsense'], dir);
  assert.notEqual(r.code, 0);
});

test('SIGHUP snapshots and trains on; SIGINT stops with a final snapshot (Caffe\'s default signal effects)', async () => {
  const { spawn } = await import('node:child_process');
  const { ensureMnistLmdb } = await import('../src/tools/data_mnist.js');
  const { seedNetPrototxt, seedSolverPrototxt } = await import('../src/examples/mnist.js');
  const dir = scratchDir();
  await ensureMnistLmdb(dir, { progress: false });
  writeFileSync(path.join(dir, 'net.prototxt'), seedNetPrototxt(dir, 16, 100));
  writeFileSync(path.join(dir, 'solver.prototxt'), seedSolverPrototxt(path.join(dir, 'net.prototxt'), path.join(dir, 'snap/lenet'),
    { maxIter: 100000, testIter: 1, testInterval: 100000 }).replace('display: 100', 'display: 10'));
  const child = spawn(process.execPath, [bin, 'train', '-solver', 'solver.prototxt'], { cwd: dir });
  // Never leave a trainer running if an assertion fails.
  process.on('exit', () => child.kill('SIGKILL'));
  setTimeout(() => child.kill('SIGKILL'), 120_000).unref();
  let err = '';
  const seen = (re: RegExp, from = 0) => new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out waiting for ${re}; log tail: ${err.slice(-500)}`)), 60_000);
    const check = () => { if (re.test(err.slice(from))) { clearTimeout(t); resolve(); } else setTimeout(check, 50); };
    check();
  });
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await seen(/Iteration 20, lr/);
  child.kill('SIGHUP');
  await seen(/Snapshotting solver state to binary proto file .*snap\/lenet_iter_\d+\.solverstate/);
  const afterHup = err.length;
  await seen(/Iteration \d+, lr/, afterHup);
  child.kill('SIGINT');
  const code = await exited;
  assert.equal(code, 0, err.slice(-1000));
  assert.match(err.slice(afterHup), /Snapshotting to binary proto file/);
  assert.match(err, /Optimization stopped early\./);
  const final = /Snapshotting to binary proto file (\S+)/g;
  const models = [...err.matchAll(final)].map((m) => m[1]!);
  assert.ok(models.length >= 2 && models.every((m) => existsSync(path.isAbsolute(m) ? m : path.join(dir, m))));
});

test('`tscaffe time` prints Caffe\'s per-layer lines and averages', () => {
  const r = tscaffe(['time', '-model', vector('prototxt-corpus/lenet.prototxt'), '-iterations', '2']);
  assert.equal(r.code, 0, r.stderr.slice(-1000));
  for (const re of [/conv1\tforward: [\d.e+-]+ ms\./, /conv1\tbackward: [\d.e+-]+ ms\./, /Average Forward pass: [\d.e+-]+ ms\./,
    /Average Backward pass: [\d.e+-]+ ms\./, /Average Forward-Backward: [\d.e+-]+ ms\./]) assert.match(r.stderr, re);
});
