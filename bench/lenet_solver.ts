// Caffe's standard LeNet solver (examples/mnist, copied unmodified in bench/lenet) for the training benches: at
// a given batch size, training only (no test passes, display or snapshots), on MNIST LMDBs made once under
// $TMPDIR/tscaffe-bench-mnist.
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseTextProto, type NetParameter, type SolverParameter } from '../src/index.js';
import { ensureMnistLmdb } from '../src/tools/data_mnist.js';

export async function lenetTrainingSolver(batch: number): Promise<SolverParameter> {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
  const corpus = path.join(root, 'bench', 'lenet');
  const dir = path.join(tmpdir(), 'tscaffe-bench-mnist');
  await ensureMnistLmdb(dir, { progress: false });
  const netText = readFileSync(path.join(corpus, 'lenet_train_test.prototxt'), 'utf8')
    .replace(/examples\/mnist\/(mnist_\w+_lmdb)/g, (_m, db: string) => path.join(dir, db))
    .replace('batch_size: 64', `batch_size: ${batch}`);
  const sp = parseTextProto<SolverParameter>(readFileSync(path.join(corpus, 'lenet_solver.prototxt'), 'utf8'), 'SolverParameter');
  delete (sp as { net?: string }).net;
  sp.net_param = parseTextProto<NetParameter>(netText, 'NetParameter');
  return Object.assign(sp, { test_iter: [], test_interval: 0, display: 0, snapshot: 0, snapshot_after_train: false });
}
