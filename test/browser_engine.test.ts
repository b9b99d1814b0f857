// The browser entry (src/browser/index.ts): the same probabilities as the Node Net on Caffe's LeNet snapshot, on the
// TypeScript and wasm backends (shared and unshared memory); and its bundle for the web (the draw page, built with
// Vite) holds no Node module.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { noAdapter, requireAdapter } from './webgpu_helpers.js';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadModel, kernelsForUnsharedMemory, type KernelBytes, type Model } from '../src/browser/index.js';
import { Net } from '../src/net/net.js';
import { readNetParamsFromTextFile } from '../src/proto/upgrade.js';
import { readProtoBinary } from '../src/proto/io.js';
import type { NetParameter } from '../src/proto/types.generated.js';
import { createBackend, setBackend } from '../src/backend/backend.js';
import '../src/backend/all.js';
import { readIdxImages, readIdxLabels } from '../src/io/idx.js';
import { setQuiet } from '../src/util/log.js';
import { repoRoot, scratchDir, vector } from './helpers.js';

setQuiet(true);

const deployFile = vector('prototxt-corpus', 'lenet.prototxt');
const weightsFile = vector('lenet_iter_100.caffemodel');
const images = readIdxImages(vector('idx64', 'first64-t10k-images-idx3-ubyte'));
const labels = readIdxLabels(vector('idx64', 'first64-t10k-labels-idx1-ubyte')).labels;
const SCALE = 0.00390625; // lenet_train_test.prototxt's transform_param: what the snapshot was trained on
const f = Math.fround;
const kernels: KernelBytes = {
  simd: readFileSync(path.join(repoRoot, 'src/backend/wasm/kernels-simd.wasm')),
  relaxed: readFileSync(path.join(repoRoot, 'src/backend/wasm/kernels-relaxed.wasm')),
};

/** lenet.prototxt with the training's scale on its Input layer, as the platform's deploy nets carry it. */
const deployText = readFileSync(deployFile, 'utf8').replace(
  /input_param \{/, `transform_param { scale: ${SCALE} }\n  input_param {`);

const raw = (i: number) => images.pixels.subarray(i * 784, (i + 1) * 784);

/** Node's Net on the same files, all 64 images in one batch (the deploy net's own batch size). */
async function nodeProbabilities(): Promise<Float32Array[]> {
  setBackend(createBackend('wasm'));
  const net = await Net.create(readNetParamsFromTextFile<NetParameter>(deployFile), 1, { verbose: false });
  net.copyTrainedLayersFrom(readProtoBinary<NetParameter>(weightsFile, 'NetParameter'));
  const data = net.blobByName('data')!;
  assert.deepEqual(data.shape, [64, 1, 28, 28]);
  for (let i = 0; i < 64 * 784; i++) data.data[i] = f(images.pixels[i]! * SCALE);
  await net.forward();
  const prob = net.blobByName('prob')!;
  return Array.from({ length: 64 }, (_, i) => prob.data.slice(i * 10, (i + 1) * 10));
}


// Computed before any test runs: layers use the active backend, which each model's loadModel/predict sets.
const reference = await nodeProbabilities();

async function check(model: Model): Promise<void> {
  const ref = reference;
  assert.deepEqual(model.inputShape, [1, 28, 28]);
  assert.deepEqual(model.transform, { scale: f(SCALE), meanValue: [] });
  let correct = 0, worst = 0;
  for (let i = 0; i < 64; i++) {
    const x = model.toInput(raw(i));
    assert.equal(x[200], f(raw(i)[200]! * SCALE));
    const p = await model.predict(x);
    assert.equal(p.length, 10);
    for (let k = 0; k < 10; k++) worst = Math.max(worst, Math.abs(p[k]! - ref[i]![k]!));
    if (p.indexOf(Math.max(...p)) === labels[i]) correct++;
  }
  assert.ok(worst < 2e-6, `${model.backend}: largest difference from the Node net ${worst}`);
  // Caffe's own `caffe test` on these 64 images with this snapshot: accuracy = 0.9375 (test_iter100_test64.log).
  assert.equal(correct, 60);
}

test('the browser engine on the ts backend gives the Node Net\'s probabilities', async () => {
  const m = await loadModel({ deployPrototxt: deployText, weights: readFileSync(weightsFile), backend: 'ts' });
  assert.equal(m.backend, 'ts');
  await check(m);
});

test('the browser engine on wasm kernels (shared memory) gives the Node Net\'s probabilities', async () => {
  const m = await loadModel({ deployPrototxt: deployText, weights: readFileSync(weightsFile), backend: 'wasm', kernels });
  assert.equal(m.backend, 'wasm');
  assert.equal(m.memory, 'shared');
  await check(m);
});

test('the browser engine on wasm kernels with unshared memory (no cross-origin isolation) gives the same', async () => {
  const m = await loadModel({
    deployPrototxt: deployText, weights: readFileSync(weightsFile), backend: 'wasm', kernels: { simd: kernels.simd }, memory: 'unshared',
  });
  assert.equal(m.memory, 'unshared');
  assert.equal(m.simd, 'simd');
  await check(m);
});

test('the browser engine on WebGPU gives the Node Net\'s probabilities', { skip: requireAdapter }, async () => {
  assert.ok(!noAdapter, noAdapter || '');
  const m = await loadModel({ deployPrototxt: deployText, weights: readFileSync(weightsFile), backend: 'webgpu', kernels });
  try {
    assert.equal(m.backend, 'webgpu');
    assert.ok(m.adapter);
    await check(m);
  } finally {
    m.close();
  }
  // 'auto' picks WebGPU where there is an adapter
  const a = await loadModel({ deployPrototxt: deployText, weights: readFileSync(weightsFile), backend: 'auto', kernels });
  assert.equal(a.backend, 'webgpu');
  a.close();
});

test('an unshared heap too small for the net is made larger until the net fits', async () => {
  const m = await loadModel({
    deployPrototxt: deployText, weights: readFileSync(weightsFile), backend: 'wasm', kernels, memory: 'unshared', memoryBytes: 1 << 20,
  });
  assert.equal(m.memory, 'unshared');
  const p = await m.predict(m.toInput(raw(0)));
  assert.ok(Math.abs(p[labels[0]!]! - reference[0]![labels[0]!]!) < 2e-6);
});

test('kernelsForUnsharedMemory flips only the shared flag of the memory import', () => {
  const out = kernelsForUnsharedMemory(kernels.simd);
  const diff = [...out.keys()].filter((i) => out[i] !== kernels.simd[i]);
  assert.equal(diff.length, 1);
  assert.equal(kernels.simd[diff[0]!]! & 2, 2);
  assert.equal(out[diff[0]!], kernels.simd[diff[0]!]! & ~2);
  assert.throws(() => kernelsForUnsharedMemory(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])), /not a wasm module/);
});

test('loadModel: old formats and unreadable means are refused with the reason', async () => {
  const weights = readFileSync(weightsFile);
  await assert.rejects(loadModel({ deployPrototxt: 'name: "x"\ninput: "data"\ninput_dim: 1', weights, backend: 'ts' }),
    /deprecated 'input' fields.*upgrade_net_proto_text/);
  await assert.rejects(loadModel({ deployPrototxt: 'layers { name: "a" type: RELU }', weights, backend: 'ts' }), /V0\/V1 'layers'/);
  await assert.rejects(loadModel({ deployPrototxt: deployText.replace(`scale: ${SCALE}`, 'mean_file: "m.binaryproto"'), weights, backend: 'ts' }),
    /mean_file m\.binaryproto.*cannot read/);
  await assert.rejects(loadModel({ deployPrototxt: deployText, weights: new Uint8Array([10, 200]), backend: 'ts' }), /^Error: weights: not a valid caffe\.NetParameter/);
});

test('caffe_proto.generated.ts is up to date with caffe.proto (npm run gen:proto)', async () => {
  const gen = (await import(pathToFileURL(path.join(repoRoot, 'scripts/gen-proto-schema.mjs')).href)) as {
    generateSchemaModule(text: string): string;
  };
  const fresh = gen.generateSchemaModule(readFileSync(path.join(repoRoot, 'src/proto/caffe.proto'), 'utf8'));
  assert.ok(fresh === readFileSync(path.join(repoRoot, 'src/proto/caffe_proto.generated.ts'), 'utf8'),
    'src/proto/caffe_proto.generated.ts is stale: run npm run gen:proto');
});

test('the draw page bundles for the browser without any Node module', async () => {
  const { build, createLogger } = await import('vite');
  const out = scratchDir('tscaffe-draw-bundle-');
  const warnings: string[] = [];
  const logger = createLogger('silent');
  logger.warn = (msg) => void warnings.push(msg);
  logger.warnOnce = logger.warn;
  try {
    await build({
      configFile: false, root: path.join(repoRoot, 'web'), base: '/', logLevel: 'silent', customLogger: logger,
      build: {
        outDir: out, emptyOutDir: true, target: 'es2022', reportCompressedSize: false, minify: false,
        rolldownOptions: { input: path.join(repoRoot, 'web/draw.html') },
      },
    });
    const files = readdirSync(out, { recursive: true }).map(String);
    const js = files.filter((x) => x.endsWith('.js'));
    assert.ok(js.length > 0 && files.includes('draw.html'), `bundle: ${files.join(', ')}`);
    assert.ok(files.some((x) => /kernels-simd.*\.wasm$/.test(x)), `the wasm kernels are emitted: ${files.join(', ')}`);
    for (const x of js) {
      const text = readFileSync(path.join(out, x), 'utf8');
      const nodeImport = /(?:from\s*|import\s*\(\s*|require\s*\(\s*)["'](node:[\w/]+|fs|path|os|v8|vm|worker_threads|url)["']/.exec(text);
      assert.equal(nodeImport?.[1], undefined, `${x} imports a Node module`);
      assert.ok(!/registerLayer\(["']Data["']/.test(text), `${x} holds the Data layer (LMDB/LevelDB)`);
    }
    // A Node module imported by tscaffe's code would be replaced by an empty stub, with this warning (protobufjs's own
    // guarded require('fs') is stubbed silently, and never called in a browser).
    assert.deepEqual(warnings.filter((w) => /externalized|browser compatibility/i.test(w)), []);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
