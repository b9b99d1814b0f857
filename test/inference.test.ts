// Inference: the deploy net derived from train_test nets (checked against Caffe's own deploy files and, numerically,
// against the train_test net's forward with Caffe's iteration-100 LeNet weights), image decoding and preprocessing,
// the Classifier's batching, and the deploy_prototxt / classify commands.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import type { LayerParameter, NetParameter } from '../src/proto/types.generated.js';
import { readNetParamsFromTextFile } from '../src/proto/upgrade.js';
import { parseTextProto, printTextProto } from '../src/proto/textformat.js';
import { Net } from '../src/net/net.js';
import { setQuiet } from '../src/util/log.js';
import { fmtG } from '../src/util/format.js';
import { seedNetPrototxt } from '../src/examples/mnist.js';
import { deriveDeployNet } from '../src/inference/deploy.js';
import { decodeImage, imageToPlanar, readImageFile, type DecodedImage } from '../src/inference/image.js';
import { Preprocessor } from '../src/inference/preprocess.js';
import { Classifier } from '../src/inference/classifier.js';
import { copyVector, removeDir, scratchDir, vector } from './helpers.js';
import { runCli } from './cli_capture.js';
import { DIGITS, SCALE, argmax, digit, digitTensor, labels, maxAbsDiff, pngOf, softmax, trainTest, trainTestFile, weights, weightsFile } from './inference_helpers.js';

const corpus = (f: string) => vector('prototxt-corpus', f);

/** A layer as JSON without what deploy files legitimately differ in (fillers; Caffe's caffenet deploy drops param). */
function layerShape(l: LayerParameter, drop: string[]): string {
  return JSON.stringify((l as unknown as { toJSON(): object }).toJSON(), (k, v) => (drop.includes(k) ? undefined : v));
}

async function sameAsCaffeDeploy(trainVal: string, deploy: string, drop: string[] = []): Promise<void> {
  const ref = readNetParamsFromTextFile<NetParameter>(corpus(deploy));
  const shape = ref.layer![0]!.input_param!.shape![0]!.dim!.map(Number);
  const d = await deriveDeployNet(readNetParamsFromTextFile<NetParameter>(corpus(trainVal)), { inputShape: shape, baseDirs: [vector('prototxt-corpus')] });
  const skip = ['weight_filler', 'bias_filler', 'transform_param', ...drop];
  assert.deepEqual(d.net.layer!.map((l) => layerShape(l, skip)), ref.layer!.map((l) => layerShape(l, skip)), `${trainVal} vs ${deploy}`);
  assert.equal(d.output, 'prob');
}

describe('deploy net derivation', () => {
  before(() => setQuiet(true));
  after(() => setQuiet(false));

  test("lenet_train_test: Caffe's lenet.prototxt, plus the TEST transform_param on the Input layer", async () => {
    await sameAsCaffeDeploy('lenet_train_test.prototxt', 'lenet.prototxt');
    const d = await deriveDeployNet(trainTest(), { baseDirs: [vector('prototxt-corpus')] });
    assert.equal(d.input, 'data');
    assert.equal(d.output, 'prob');
    assert.equal(d.outputIsProbability, true);
    assert.deepEqual(d.inputShape, [1, 1, 28, 28]);
    assert.equal(d.transform?.scale, SCALE);
    const input = d.net.layer![0]!;
    assert.equal(input.type, 'Input');
    assert.equal(input.transform_param?.scale, SCALE);
    assert.deepEqual(d.net.layer!.map((l) => l.name), ['data', 'conv1', 'pool1', 'conv2', 'pool2', 'ip1', 'relu1', 'ip2', 'prob']);
    assert.ok(d.notes.some((n) => /ASSUMED 1x28x28/.test(n) && /mnist_test_lmdb/.test(n)), d.notes.join('\n'));
    assert.ok(d.notes.some((n) => /'accuracy' \(Accuracy\)/.test(n)));
    // The text form reads back to the same net (what deploy_prototxt writes).
    const back = parseTextProto<NetParameter>(printTextProto(d.net, 'NetParameter'), 'NetParameter');
    assert.equal(printTextProto(back, 'NetParameter'), printTextProto(d.net, 'NetParameter'));
  });

  test("ImageNet and CIFAR nets: the same layers as Caffe's deploy files (GoogLeNet's auxiliary heads dropped)", async () => {
    await sameAsCaffeDeploy('bvlc_googlenet_train_val.prototxt', 'bvlc_googlenet_deploy.prototxt');
    await sameAsCaffeDeploy('bvlc_alexnet_train_val.prototxt', 'bvlc_alexnet_deploy.prototxt');
    await sameAsCaffeDeploy('bvlc_reference_caffenet_train_val.prototxt', 'bvlc_reference_caffenet_deploy.prototxt', ['param']);
    await sameAsCaffeDeploy('cifar10_quick_train_test.prototxt', 'cifar10_quick.prototxt');
    // A deploy net stays what it is.
    await sameAsCaffeDeploy('lenet.prototxt', 'lenet.prototxt');
    // Without an explicit shape: crop_size and the three mean_values tell 3x224x224.
    const g = await deriveDeployNet(readNetParamsFromTextFile<NetParameter>(corpus('bvlc_googlenet_train_val.prototxt')), { baseDirs: [vector('prototxt-corpus')] });
    assert.deepEqual(g.inputShape, [1, 3, 224, 224]);
  });

  test("the seed's nets: the image shape from a Datum of the TEST database when it is there", async () => {
    const dir = scratchDir();
    try {
      symlinkSync(copyVector('mnist_test64_lmdb'), path.join(dir, 'mnist_test_lmdb'));
      const seed = parseTextProto<NetParameter>(seedNetPrototxt(dir), 'NetParameter');
      const d = await deriveDeployNet(seed, { batch: 4 });
      assert.deepEqual(d.inputShape, [4, 1, 28, 28]);
      assert.ok(d.notes.some((n) => n.includes('1x28x28 from the first Datum of') && n.includes('mnist_test_lmdb')), d.notes.join('\n'));
      assert.ok(!d.notes.some((n) => n.includes('ASSUMED')));
      assert.equal(d.output, 'prob');
      // The job form (/home/work paths, no database here): the assumption is said.
      const job = parseTextProto<NetParameter>(seedNetPrototxt('/home/work/dataset'), 'NetParameter');
      const j = await deriveDeployNet(job);
      assert.deepEqual(j.inputShape, [1, 1, 28, 28]);
      assert.ok(j.notes.some((n) => n.includes('ASSUMED')));
      assert.equal(printTextProto(j.net, 'NetParameter'), printTextProto(d.net, 'NetParameter').replace('dim: 4', 'dim: 1'));
    } finally {
      removeDir(dir);
    }
  });

  test('errors: no input in the TEST phase (stage hint); a kept layer that reads the label; a bad shape', async () => {
    await assert.rejects(deriveDeployNet(readNetParamsFromTextFile<NetParameter>(corpus('mnist_autoencoder.prototxt'))), /no data or Input layer.*stage rules/);
    const net = trainTest();
    net.layer!.push(parseTextProto<LayerParameter>('name: "mix" type: "Eltwise" bottom: "ip2" bottom: "label" top: "out"', 'LayerParameter'));
    net.layer!.push(parseTextProto<LayerParameter>('name: "final" type: "Softmax" bottom: "out" top: "final"', 'LayerParameter'));
    net.layer = net.layer!.filter((l) => l.type !== 'SoftmaxWithLoss' && l.type !== 'Accuracy');
    await assert.rejects(deriveDeployNet(net, { readDb: false }), /layer 'mix' \(Eltwise\) feeds the output 'final' but reads the label blob 'label'/);
    await assert.rejects(deriveDeployNet(trainTest(), { inputShape: [1, 28] }), /C,H,W or N,C,H,W/);
  });
});

describe('the classifier against the train_test net (Caffe iteration-100 LeNet)', () => {
  let ref: number[][];
  let c: Classifier;
  before(async () => {
    setQuiet(true);
    // The train_test net's own TEST forward over the 64 digits of its database: the softmax of its last InnerProduct.
    const db = copyVector('mnist_test64_lmdb');
    const net = readNetParamsFromTextFile<NetParameter>(vector('lenet_test64.prototxt'));
    for (const l of net.layer!) if (l.data_param?.source === 'mnist_test64_lmdb') l.data_param.source = db;
    const tt = await Net.create(net, 1, { verbose: false });
    tt.copyTrainedLayersFrom(weights());
    await tt.forward();
    const ip2 = tt.blobByName('ip2')!;
    ref = Array.from({ length: DIGITS }, (_, i) => softmax(ip2.data.subarray(i * 10, (i + 1) * 10)));
    await tt.close();
    removeDir(path.dirname(db));
    c = await Classifier.load({ model: trainTestFile, weights: weightsFile, maxBatch: 64 });
  });
  after(async () => {
    await c?.close();
    setQuiet(false);
  });

  test('the derived deploy net gives the probabilities of the train_test net; 60/64 right as Caffe scored it', async () => {
    const out = await c.runBatch(Array.from({ length: DIGITS }, (_, i) => digitTensor(i)));
    for (let i = 0; i < DIGITS; i++) assert.ok(maxAbsDiff(out[i]!, ref[i]!) < 1e-5, `digit ${i}: ${maxAbsDiff(out[i]!, ref[i]!)}`);
    // Caffe: `caffe test -model lenet_test64.prototxt -weights lenet_iter_100.caffemodel` -> accuracy = 0.9375.
    assert.equal(out.filter((p, i) => argmax(p) === labels[i]).length, 60);
    // Batch 1 (another batch size: the input reshaped) gives the same.
    const [one] = await c.runBatch([digitTensor(5)]);
    assert.ok(maxAbsDiff(one!, ref[5]!) < 1e-5);
  });

  test('the deploy text written and read back, loaded as a deploy net, gives the same', async () => {
    const dir = scratchDir();
    try {
      const d = await deriveDeployNet(trainTest());
      const file = path.join(dir, 'deploy.prototxt');
      writeFileSync(file, printTextProto(d.net, 'NetParameter'));
      const c2 = await Classifier.load({ model: file, weights: weightsFile });
      try {
        assert.equal(c2.preprocessing.scale, SCALE);
        const [p] = await c2.classify([{ width: 28, height: 28, rgb: Uint8Array.from(Array.from(digit(3)).flatMap((v) => [v, v, v])), gray: true, format: 'png' }]);
        assert.ok(maxAbsDiff(p!.probabilities, ref[3]!) < 1e-5);
      } finally {
        await c2.close();
      }
    } finally {
      removeDir(dir);
    }
  });

  test('PNG (grey, RGB, RGBA, twice the size) and JPEG digits: the same as feeding the pixels directly', async () => {
    for (const i of [0, 1, 7]) {
      const [direct] = await c.classify([{ tensor: digitTensor(i) }]);
      for (const ct of [0, 2, 6] as const) {
        const [p] = await c.classify([pngOf(digit(i), 28, 28, ct)]);
        assert.deepEqual(p!.probabilities, direct!.probabilities, `digit ${i} colorType ${ct}`);
      }
      // 56x56 (each pixel doubled): shrinking by area averaging gives back the 28x28 pixels exactly.
      const big = new Uint8Array(56 * 56);
      for (let y = 0; y < 56; y++) for (let x = 0; x < 56; x++) big[y * 56 + x] = digit(i)[(y >> 1) * 28 + (x >> 1)]!;
      const [p2] = await c.classify([pngOf(big, 56, 56)]);
      assert.deepEqual(p2!.probabilities, direct!.probabilities);
      // JPEG is lossy: the same class, probabilities close.
      const rgba = new Uint8Array(784 * 4);
      digit(i).forEach((v, k) => rgba.set([v, v, v, 255], k * 4));
      const jpg = jpeg.encode({ width: 28, height: 28, data: rgba }, 100).data;
      const [pj] = await c.classify([jpg]);
      assert.equal(pj!.top[0]!.index, direct!.top[0]!.index);
      assert.ok(maxAbsDiff(pj!.probabilities, direct!.probabilities) < 0.005, `jpeg digit ${i}`);
      assert.equal(direct!.top[0]!.index, argmax(ref[i]!));
    }
  });

  test('concurrent requests share forward passes (up to maxBatch) and get what they would alone', async () => {
    const c8 = await Classifier.load({ model: trainTestFile, weights: weightsFile, maxBatch: 8 });
    try {
      const alone: Float32Array[] = [];
      for (let i = 0; i < 20; i++) alone.push((await c8.runBatch([digitTensor(i)]))[0]!);
      const before = c8.stats.forwards;
      const res = await Promise.all(Array.from({ length: 20 }, (_, i) => c8.classify([{ tensor: digitTensor(i) }], 3)));
      assert.equal(c8.stats.forwards - before, 3);
      assert.equal(c8.stats.largestBatch, 8);
      assert.deepEqual(c8.stats.batchSizes, { 1: 20, 8: 2, 4: 1 });
      res.forEach(([p], i) => {
        assert.ok(maxAbsDiff(p!.probabilities, alone[i]!) < 1e-6, `input ${i}`);
        assert.equal(p!.top.length, 3);
        assert.equal(p!.top[0]!.index, argmax(alone[i]!));
      });
    } finally {
      await c8.close();
    }
    await assert.rejects(c8.classify([{ tensor: digitTensor(0) }]), /closed/);
  });

  test('bad inputs: a wrong tensor size, labels that do not fit, a file that is no image', async () => {
    await assert.rejects(c.classify([{ tensor: [1, 2, 3] }]), /tensor has 3 values, the input 1x28x28 takes 784/);
    await assert.rejects(c.classify([new TextEncoder().encode('hello')]), /input: unsupported image format/);
    await assert.rejects(Classifier.load({ model: trainTestFile, weights: weightsFile, labels: ['a', 'b'] }), /the labels give 2 classes, the net's output 'prob' has 10/);
    await assert.rejects(Classifier.load({ model: trainTestFile, weights: trainTestFile }), /lenet_train_test.prototxt: not a valid caffe.NetParameter/);
  });
});

describe('images and preprocessing', () => {
  const img = (w: number, h: number, rgb: number[], gray = false): DecodedImage => ({ width: w, height: h, rgb: Uint8Array.from(rgb), gray, format: 'png' });

  test("colour in Caffe's BGR order; grey by BT.601 weights; alpha over black", () => {
    assert.deepEqual([...imageToPlanar(img(1, 1, [10, 20, 30]), 3, 1, 1)], [30, 20, 10]);
    assert.deepEqual([...imageToPlanar(img(1, 1, [10, 20, 30]), 1, 1, 1)], [Math.round(0.299 * 10 + 0.587 * 20 + 0.114 * 30)]);
    assert.deepEqual([...imageToPlanar(img(1, 1, [77, 77, 77], true), 3, 1, 1)], [77, 77, 77]);
    const png = new PNG({ width: 1, height: 1 });
    png.data.set([255, 255, 255, 128]);
    const d = decodeImage(PNG.sync.write(png), 'a.png');
    assert.deepEqual([...d.rgb], [128, 128, 128]);
    assert.equal(d.gray, true);
  });

  test('resizing: bilinear when enlarging (pixel centres aligned), area average when shrinking', () => {
    // 2 -> 4: source positions -0.25 (clamped), 0.25, 0.75, 1.25 (clamped).
    const up = imageToPlanar(img(2, 1, [0, 0, 0, 100, 100, 100], true), 1, 1, 4);
    assert.deepEqual([...up], [0, 25, 75, 100]);
    const down = imageToPlanar(img(4, 1, [0, 0, 0, 10, 10, 10, 20, 20, 20, 50, 50, 50], true), 1, 1, 2);
    assert.deepEqual([...down], [5, 35]);
    // 3 -> 2: each output covers 1.5 source pixels.
    const third = imageToPlanar(img(3, 1, [0, 0, 0, 30, 30, 30, 60, 60, 60], true), 1, 1, 2);
    assert.deepEqual([...third].map((v) => Math.round(v * 1e4) / 1e4), [10, 50]);
  });

  test('mean file, mean value, scale and raw_scale as Caffe applies them', () => {
    const px = digit(2);
    const image = img(28, 28, Array.from(px).flatMap((v) => [v, v, v]), true);
    const meanFile = vector('mean_test64.binaryproto');
    const p = new Preprocessor([1, 28, 28], undefined, { meanFile, scale: SCALE });
    const out = new Float32Array(784);
    p.apply(image, out);
    const mean = new Float32Array(784);
    const b = readFileSync(meanFile);
    // The mean's floats, read here straight from the BlobProto's packed data field (1x1x28x28).
    const start = b.length - 784 * 4;
    for (let i = 0; i < 784; i++) mean[i] = b.readFloatLE(start + i * 4);
    assert.equal(fmtG(mean.reduce((a, v) => a + v, 0) / 784), '29.2535'); // mean_test64.binaryproto.summary.txt
    const f = Math.fround;
    for (let i = 0; i < 784; i++) assert.equal(out[i], f(f(px[i]! - mean[i]!) * f(SCALE)), `pixel ${i}`);
    assert.deepEqual(p.description.resizeTo, [28, 28]);

    const mv = new Preprocessor([1, 28, 28], parseTextProto('mean_value: 33 scale: 0.5', 'TransformationParameter'), { rawScale: 1 });
    mv.apply(image, out);
    for (let i = 0; i < 784; i++) assert.equal(out[i], f(f(f(px[i]! * (1 / 255)) - 33) * 0.5));
    assert.throws(() => new Preprocessor([3, 28, 28], undefined, { meanFile }), /mean has 1 channels, the net's input 3/);
  });

  test('unreadable files: errors name the file and say why', () => {
    const dir = scratchDir();
    try {
      const w = (n: string, b: Uint8Array | string) => (writeFileSync(path.join(dir, n), b), path.join(dir, n));
      assert.throws(() => readImageFile(path.join(dir, 'none.png')), /none\.png: cannot read the image \(no such file\)/);
      assert.throws(() => readImageFile(w('t.png', 'not an image')), /t\.png: unsupported image format \(not an image\); PNG and JPEG are supported/);
      assert.throws(() => readImageFile(w('g.gif', 'GIF89a....')), /g\.gif: unsupported image format \(a GIF image\)/);
      assert.throws(() => readImageFile(w('e.png', '')), /e\.png: empty/);
      assert.throws(() => readImageFile(w('cut.png', pngOf(digit(0), 28, 28).subarray(0, 60))), /cut\.png: not a readable PNG image/);
      assert.throws(() => readImageFile(w('cut.jpg', Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16]))), /cut\.jpg: not a readable JPEG image/);
      mkdirSync(path.join(dir, 'd.png'));
      assert.throws(() => readImageFile(path.join(dir, 'd.png')), /d\.png: cannot read the image \(is a directory\)/);
    } finally {
      removeDir(dir);
    }
  });
});

describe('tscaffe deploy_prototxt and classify', () => {
  const dir = scratchDir();
  let c: Classifier;
  const files = [0, 1, 2].map((i) => path.join(dir, `digit${i}.png`));
  before(async () => {
    setQuiet(true);
    files.forEach((f, i) => writeFileSync(f, pngOf(digit(i), 28, 28)));
    c = await Classifier.load({ model: trainTestFile, weights: weightsFile });
  });
  after(async () => {
    await c?.close();
    setQuiet(false);
    removeDir(dir);
  });

  test('deploy_prototxt writes the deploy net and says what it changed; it loads back', async () => {
    const out = path.join(dir, 'lenet_deploy.prototxt');
    const r = await runCli(['deploy_prototxt', trainTestFile, out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /data layer 'mnist' \(Data\) -> Input 'data' 1x1x28x28, TEST transform_param kept/);
    assert.match(r.stdout, /loss layer 'loss' \(SoftmaxWithLoss\) -> Softmax 'prob' over 'ip2'/);
    assert.match(r.stdout, /wrote .*lenet_deploy\.prototxt: input 'data' 1x1x28x28, output 'prob' \(9 layers\)/);
    const back = readNetParamsFromTextFile<NetParameter>(out);
    assert.equal(back.layer![0]!.type, 'Input');
    assert.equal(back.layer![8]!.type, 'Softmax');
    const r2 = await runCli(['deploy_prototxt', trainTestFile, out, '-input_shape', '8,1,28,28']);
    assert.equal(r2.code, 0);
    assert.deepEqual(readNetParamsFromTextFile<NetParameter>(out).layer![0]!.input_param!.shape![0]!.dim!.map(Number), [8, 1, 28, 28]);
    const bad = await runCli(['deploy_prototxt', trainTestFile]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /give the input prototxt and the output file/);
  });

  test('classify: one line per image, the top-k labels each with its probability, best first', async () => {
    const expected = await c.classify(files.map((f) => readImageFile(f)), 3);
    const r = await runCli(['classify', '-model', trainTestFile, '-weights', weightsFile, '--top_k', '3', ...files]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 3);
    lines.forEach((line, i) => {
      const [file, ...rest] = line.split(' ');
      assert.equal(file, files[i]);
      assert.deepEqual(rest, expected[i]!.top.flatMap((t) => [String(t.index), fmtG(t.probability)]));
      assert.equal(Number(rest[0]), labels[i]);
    });
  });

  test('classify --json and --labels', async () => {
    const labelsFile = path.join(dir, 'labels.txt');
    const names = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
    writeFileSync(labelsFile, names.join('\n') + '\n');
    const r = await runCli(['classify', '-model', trainTestFile, '-weights', weightsFile, '--labels', labelsFile, '--json', files[0]!]);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { file: string; top: { label: string; index: number; probability: number }[]; probabilities: number[] }[];
    const [e] = await c.classify([readImageFile(files[0]!)], 5);
    assert.equal(j.length, 1);
    assert.equal(j[0]!.file, files[0]);
    assert.deepEqual(j[0]!.probabilities, e!.probabilities);
    assert.deepEqual(j[0]!.top, e!.top.map((t) => ({ ...t, label: names[t.index] })));
    assert.equal(j[0]!.top[0]!.label, 'seven');
    const plain = await runCli(['classify', '-model', trainTestFile, '-weights', weightsFile, '--labels', labelsFile, '--top_k', '1', files[0]!]);
    assert.equal(plain.stdout, `${files[0]} seven ${fmtG(e!.top[0]!.probability)}\n`);
  });

  test('classify errors: a missing image, no weights, labels that do not fit', async () => {
    const missing = path.join(dir, 'nope.png');
    const r = await runCli(['classify', '-model', trainTestFile, '-weights', weightsFile, files[0]!, missing]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /nope\.png: cannot read the image \(no such file\)/);
    const r2 = await runCli(['classify', '-model', trainTestFile, files[0]!]);
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /Need model weights/);
    const few = path.join(dir, 'few.txt');
    writeFileSync(few, 'a\nb\n');
    const r3 = await runCli(['classify', '-model', trainTestFile, '-weights', weightsFile, '--labels', few, files[0]!]);
    assert.equal(r3.code, 1);
    assert.match(r3.stderr, /the labels give 2 classes, the net's output 'prob' has 10/);
    const r4 = await runCli(['classify', '-model', trainTestFile, '-weights', weightsFile]);
    assert.equal(r4.code, 1);
    assert.match(r4.stderr, /give one or more image files/);
  });
});
