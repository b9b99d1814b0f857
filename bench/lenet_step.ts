// Time of one LeNet training iteration (forward + backward + SGD update), Caffe's examples/mnist net and solver, at a
// given batch size, on the active backend. Usage: node dist/bench/lenet_step.js <batch> [iterations]
// Prints `ms_per_iter X`. The MNIST LMDBs are made (once) under $TMPDIR/tscaffe-bench-mnist.
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Solver, parseTextProto, setQuiet, backend, type NetParameter, type SolverParameter } from '../src/index.js';
import { ensureMnistLmdb } from '../src/tools/data_mnist.js';

const batch = Number(process.argv[2] ?? 64);
const iters = Number(process.argv[3] ?? (batch <= 64 ? 50 : 10));
setQuiet(true);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const corpus = path.join(root, '../shared/vectors/prototxt-corpus');
const dir = path.join(tmpdir(), 'tscaffe-bench-mnist');
await ensureMnistLmdb(dir, { progress: false });
const netText = readFileSync(path.join(corpus, 'lenet_train_test.prototxt'), 'utf8')
  .replace(/examples\/mnist\/(mnist_\w+_lmdb)/g, (_m, db: string) => path.join(dir, db))
  .replace('batch_size: 64', `batch_size: ${batch}`);
const sp = parseTextProto<SolverParameter>(readFileSync(path.join(corpus, 'lenet_solver.prototxt'), 'utf8'), 'SolverParameter');
delete (sp as { net?: string }).net;
sp.net_param = parseTextProto<NetParameter>(netText, 'NetParameter');
sp.test_iter = [];
sp.test_interval = 0;
sp.display = 0;
sp.snapshot = 0;
sp.snapshot_after_train = false;
const solver = await Solver.create(sp);
await solver.step(3);
const t = performance.now();
await solver.step(iters);
const ms = (performance.now() - t) / iters;
await solver.close();
console.log(`backend ${backend().name} batch ${batch} ms_per_iter ${ms.toFixed(2)}`);
