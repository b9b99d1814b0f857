// Inference throughput, side by side in one process: tscaffe's Net forward (active backend, default wasm) of Caffe's
// LeNet deploy net against onnxruntime-node running the same net exported by `tscaffe export_onnx`, on MNIST test
// images. Both are warmed up, then timed in interleaved rounds; the medians are reported. Where Debian's python3-torch
// is installed (bench/lenet_vs_pytorch.sh installs it), PyTorch 1.13 at its best (OpenBLAS, OPENBLAS_NUM_THREADS=1)
// is timed the same way right after each batch size (bench/pytorch_lenet.py infer), as a third column.
// Usage: node dist/bench/inference_vs_onnxruntime.js [batches=1,1000] [rounds=9]
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus } from 'node:os';
import * as ort from 'onnxruntime-node';
import { Net, TEST, backend, readNetParamsFromTextFile, readProtoBinary, setQuiet, type NetParameter } from '../src/index.js';
import { readIdxImages } from '../src/io/idx.js';
import { mnistIdxFiles } from '../src/tools/data_mnist.js';
import { exportOnnx } from '../src/tools/onnx/export.js';

const batches = (process.argv[2] ?? '1,1000').split(',').map(Number);
const rounds = Number(process.argv[3] ?? 9);
setQuiet(true);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const vectors = path.join(root, '../shared/vectors');
const deploy = readNetParamsFromTextFile<NetParameter>(path.join(vectors, 'prototxt-corpus/lenet.prototxt'));
const weights = readProtoBinary(path.join(vectors, 'lenet_iter_100.caffemodel'), 'NetParameter');

const net = await Net.create(deploy, TEST, { verbose: false });
net.copyTrainedLayersFrom(weights);
const onnx = await exportOnnx(deploy, weights);
const session = await ort.InferenceSession.create(onnx.bytes);
const data = net.blobByName('data')!;
const prob = net.blobByName('prob')!;

const pixels = readIdxImages(mnistIdxFiles().testImages).pixels;
const maxBatch = Math.max(...batches);
const images = new Float32Array(maxBatch * 784);
for (let i = 0; i < images.length; i++) images[i] = pixels[i % pixels.length]! * 0.00390625;

/** One inference of `batch` images, as a caller would run it: copy the images in, forward, read the probabilities. */
async function tscaffe(batch: number): Promise<number> {
  data.reshape([batch, 1, 28, 28]);
  data.data.set(images.subarray(0, batch * 784));
  await net.forward();
  return prob.data[0]!;
}

async function onnxruntime(batch: number): Promise<number> {
  const x = new ort.Tensor('float32', images.subarray(0, batch * 784), [batch, 1, 28, 28]);
  const r = await session.run({ data: x });
  return (r.prob!.data as Float32Array)[0]!;
}

/** Images per second over `reps` calls. */
async function rate(fn: (b: number) => Promise<number>, batch: number, reps: number): Promise<number> {
  const t = performance.now();
  for (let i = 0; i < reps; i++) await fn(batch);
  return (batch * reps) / ((performance.now() - t) / 1000);
}

/** PyTorch's images/s at `batch` (median of its rounds), or undefined where python3-torch is missing. */
function pytorch(batch: number): number | undefined {
  const mnist = path.dirname(mnistIdxFiles().testImages);
  const r = spawnSync('/usr/bin/python3', [path.join(root, 'bench/pytorch_lenet.py'), 'infer', String(batch), String(rounds)],
    { encoding: 'utf8', env: { ...process.env, OPENBLAS_NUM_THREADS: '1', MNIST_DIR: mnist } });
  const m = /images_per_s (\d+)/.exec(r.stdout ?? '');
  return m ? Number(m[1]) : undefined;
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
const b = backend() as { name: string; threads?: number };
console.log(`tscaffe ${b.name}${b.threads ? ` (${b.threads} threads)` : ''} vs onnxruntime-node ${ort.env.versions.common} ` +
  `(default session options), ${cpus().length} cores, ${rounds} interleaved rounds, medians`);
console.log('| batch | tscaffe images/s (rounds: min-max) | onnxruntime images/s (min-max) | ratio tscaffe/onnxruntime | PyTorch images/s | ratio tscaffe/PyTorch |');
console.log('|---|---|---|---|---|---|');
for (const batch of batches) {
  // About 0.3 s of work per round for each side.
  const reps = Math.max(1, Math.round(3000 / batch));
  for (let i = 0; i < Math.max(2, reps); i++) { await tscaffe(batch); await onnxruntime(batch); }
  const ts: number[] = [], ox: number[] = [];
  for (let r = 0; r < rounds; r++) {
    ts.push(await rate(tscaffe, batch, reps));
    ox.push(await rate(onnxruntime, batch, reps));
  }
  const [mt, mo] = [median(ts), median(ox)];
  const range = (a: number[]) => `${Math.min(...a).toFixed(0)}-${Math.max(...a).toFixed(0)}`;
  const pt = pytorch(batch);
  const ptCols = pt ? `${pt} | ${(mt / pt).toFixed(2)}` : 'n/a (no python3-torch) | ';
  console.log(`| ${batch} | ${mt.toFixed(0)} (${range(ts)}) | ${mo.toFixed(0)} (${range(ox)}) | ${(mt / mo).toFixed(2)} | ${ptCols} |`);
}
await session.release();
await net.close();
