// Every net of BVLC Caffe's examples/ and models/ (shared/vectors/prototxt-corpus) builds, in each phase it has, and runs
// forward and backward on synthetic input. Data layers (LMDB/LevelDB sources that are not here) become Input layers of
// the shape the data would have; batch sizes shrink to 1 or 2. Deploy nets get random weights and force_backward.
// The ImageNet-size nets (AlexNet, CaffeNet, R-CNN, Flickr style, GoogLeNet: seconds per pass with the TS backend) run
// forward and backward in their TRAIN phase only; their other phases and deploy versions are built and their output
// shapes checked. HDF5Data layers read a small synthesized .h5 file (their sources are not here either). TSCAFFE_CORPUS_FULL=1 runs forward and backward everywhere (about 80 s with the TS backend on one core,
// against 25 s by default).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadHdf5, writeFloatDataset, writeHdf5Atomic } from '../src/io/hdf5.js';
import { Net } from '../src/net/net.js';
import { createMessage } from '../src/proto/caffe.js';
import { readNetParamsFromTextFile } from '../src/proto/upgrade.js';
import type { LayerParameter, NetParameter } from '../src/proto/types.generated.js';
import { setRandomSeed } from '../src/util/rng.js';
import { setQuiet } from '../src/util/log.js';
import '../src/backend/all.js';
import { removeDir, scratchDir, vector } from './helpers.js';

setQuiet(true);

const TRAIN = 0;
const TEST = 1;

/** Nets that cannot run here, with the reason. */
const SKIPPED: Record<string, string> = {
  'finetune_flickr_style_train_val.prototxt': 'ImageData layer over the Flickr Style images and ImageNet mean, which are not here (the layer itself: test/image_data.test.ts)',
  'imagenet_val.prototxt': 'ImageData layer over ImageNet images and mean, which are not here (the layer itself: test/image_data.test.ts)',
  'pascal_finetune_trainval_test.prototxt': 'WindowData layer: reads image files and window files',
  'linreg.prototxt': 'Python layer (the loss is a PythonLayer)',
};

interface Run {
  phase: number;
  stages?: string[];
  /** Every output blob of the net and its shape. */
  outputs: Record<string, number[]>;
}

interface Case {
  /** Batch size that replaces the Data layers' batch_size and the first dim of Input layers. */
  batch: number;
  runs: Run[];
  /** Spatial size that replaces a deploy Input's (fully convolutional nets). */
  inputSize?: number;
  /** ImageNet-size: forward and backward in TRAIN only, unless TSCAFFE_CORPUS_FULL. */
  heavy?: boolean;
}

const FULL = !!process.env.TSCAFFE_CORPUS_FULL;
const scalar: number[] = [];
const trainTest = (batch: number, heavy = false): Case => ({
  batch,
  heavy,
  runs: [{ phase: TRAIN, outputs: { loss: scalar } }, { phase: TEST, outputs: { accuracy: scalar, loss: scalar } }],
});
const deploy = (outputs: Record<string, number[]>, heavy = false, inputSize?: number): Case => ({ batch: 1, heavy, runs: [{ phase: TEST, outputs }], inputSize });
const googlenetTest: Record<string, number[]> = {};
for (const k of [1, 2, 3]) Object.assign(googlenetTest, { [`loss${k}/loss${k}`]: scalar, [`loss${k}/top-1`]: scalar, [`loss${k}/top-5`]: scalar });

const CASES: Record<string, Case> = {
  'lenet_train_test.prototxt': trainTest(2),
  'lenet.prototxt': deploy({ prob: [1, 10] }),
  'mnist_siamese_train_test.prototxt': { batch: 2, runs: [{ phase: TRAIN, outputs: { loss: scalar } }, { phase: TEST, outputs: { loss: scalar } }] },
  'mnist_siamese.prototxt': deploy({ feat: [1, 2] }),
  'mnist_autoencoder.prototxt': {
    batch: 2,
    runs: [
      { phase: TRAIN, outputs: { cross_entropy_loss: scalar, l2_error: scalar } },
      // Its TEST data layers need a stage.
      { phase: TEST, stages: ['test-on-train'], outputs: { cross_entropy_loss: scalar, l2_error: scalar } },
      { phase: TEST, stages: ['test-on-test'], outputs: { cross_entropy_loss: scalar, l2_error: scalar } },
    ],
  },
  'cifar10_quick_train_test.prototxt': trainTest(2),
  'cifar10_quick.prototxt': deploy({ prob: [1, 10] }),
  'cifar10_full_train_test.prototxt': trainTest(2),
  'cifar10_full_sigmoid_train_test.prototxt': trainTest(2),
  'cifar10_full_sigmoid_train_test_bn.prototxt': trainTest(2),
  'cifar10_full.prototxt': deploy({ prob: [1, 10] }),
  'conv.prototxt': deploy({ conv: [1, 3, 96, 96] }),
  'bvlc_alexnet_train_val.prototxt': trainTest(1, true),
  'bvlc_alexnet_deploy.prototxt': deploy({ prob: [1, 1000] }, true),
  'bvlc_reference_caffenet_train_val.prototxt': trainTest(1, true),
  'bvlc_reference_caffenet_deploy.prototxt': deploy({ prob: [1, 1000] }, true),
  // Fully convolutional CaffeNet: 451x451 input gives an 8x8 map of class scores; 227x227 (4x cheaper) gives 1x1.
  'bvlc_caffenet_full_conv.prototxt': deploy({ 'prob': [1, 1000, 1, 1] }, true, 227),
  'bvlc_reference_rcnn_ilsvrc13_deploy.prototxt': deploy({ 'fc-rcnn': [1, 200] }, true),
  'finetune_flickr_style_deploy.prototxt': deploy({ prob: [1, 20] }, true),
  'bvlc_googlenet_train_val.prototxt': {
    batch: 1,
    heavy: true,
    runs: [
      { phase: TRAIN, outputs: { 'loss1/loss1': scalar, 'loss2/loss2': scalar, 'loss3/loss3': scalar } },
      { phase: TEST, outputs: googlenetTest },
    ],
  },
  'bvlc_googlenet_deploy.prototxt': deploy({ prob: [1, 1000] }, true),
  // HDF5Data nets: their layers read a synthesized file of the examples/hdf5_classification shape (see hdf5Source).
  'hdf5_classification_train_val.prototxt': trainTest(2),
  'nonlinear_train_val.prototxt': trainTest(2),
  'nonlinear_auto_train.prototxt': { batch: 2, runs: [{ phase: TRAIN, outputs: { accuracy: scalar, loss: scalar } }] },
  'nonlinear_auto_test.prototxt': { batch: 2, runs: [{ phase: TEST, outputs: { accuracy: scalar, loss: scalar } }] },
};

/**
 * A file list for HDF5Data layers: one .h5 file shaped like examples/hdf5_classification's (4 features per item, labels
 * 0/1, as its notebook writes them), made once in a scratch folder.
 */
let h5List = '';
async function hdf5Source(): Promise<string> {
  if (h5List) return h5List;
  await loadHdf5();
  const dir = scratchDir('tscaffe-corpus-h5-');
  const n = 8;
  const data = new Float32Array(n * 4), label = new Float32Array(n);
  fill(data, 41, -2, 2);
  fill(label, 42, 0, 2, true);
  writeHdf5Atomic(path.join(dir, 'train.h5'), (f) => {
    writeFloatDataset(f, 'data', [n, 4], data);
    writeFloatDataset(f, 'label', [n], label);
  });
  writeFileSync(path.join(dir, 'list.txt'), `${path.join(dir, 'train.h5')}\n`);
  return (h5List = path.join(dir, 'list.txt'));
}
after(() => { if (h5List) removeDir(path.dirname(h5List)); });

/** The shape one item of a Data layer's source would have, and the number of label classes. */
function dataOf(lp: LayerParameter): { dims: number[]; classes: number } {
  const src = lp.data_param?.source ?? '';
  const crop = lp.transform_param?.crop_size ?? 0;
  const sq = (c: number, s: number) => [c, crop || s, crop || s];
  if (/siamese/.test(src)) return { dims: sq(2, 28), classes: 2 }; // image pairs stacked as 2 channels; label: similar
  if (/mnist/.test(src)) return { dims: sq(1, 28), classes: 10 };
  if (/cifar/.test(src)) return { dims: sq(3, 32), classes: 10 };
  if (/ilsvrc12|imagenet/.test(src)) return { dims: sq(3, 256), classes: 1000 };
  throw new Error(`layer ${lp.name}: no known data shape for source '${src}'`);
}

/**
 * Replace Data layers by Input layers (same name, tops and include rules), point HDF5Data layers at a synthesized file,
 * shrink the batch, and return the label blobs with their class counts.
 */
async function prepare(net: NetParameter, c: Case): Promise<Map<string, number>> {
  const labels = new Map<string, number>();
  const h5 = (net.layer ?? []).some((lp) => lp.type === 'HDF5Data') ? await hdf5Source() : '';
  net.layer = (net.layer ?? []).map((lp) => {
    if (lp.type === 'HDF5Data') {
      lp.hdf5_data_param = { ...lp.hdf5_data_param, source: h5, batch_size: c.batch };
      labels.set(lp.top![1]!, 2); // read from the file, not filled: marks the net as not a deploy net
      return lp;
    }
    if (lp.type === 'Input') {
      for (const s of lp.input_param?.shape ?? []) {
        const dim = s.dim!;
        dim[0] = c.batch;
        if (c.inputSize && dim.length === 4) dim[2] = dim[3] = c.inputSize;
      }
      return lp;
    }
    if (lp.type !== 'Data') return lp;
    const { dims, classes } = dataOf(lp);
    const tops = lp.top ?? [];
    if (tops.length > 1) labels.set(tops[1]!, classes);
    const shapes = tops.map((_, i) => ({ dim: i === 0 ? [c.batch, ...dims] : [c.batch] }));
    return createMessage<LayerParameter>('LayerParameter', {
      name: lp.name, type: 'Input', top: tops, include: lp.include, exclude: lp.exclude, input_param: { shape: shapes },
    });
  });
  return labels;
}

/** Deterministic uniform values in [lo, hi). */
function fill(d: Float32Array, seed: number, lo: number, hi: number, integers = false): void {
  let s = seed >>> 0 || 1;
  for (let i = 0; i < d.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u = (s >>> 8) / 16777216;
    d[i] = integers ? Math.floor(lo + u * (hi - lo)) : lo + u * (hi - lo);
  }
}

function allFinite(a: Float32Array): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return false;
  return true;
}

function anyNonZero(a: Float32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== 0) return true;
  return false;
}

const corpusDir = vector('prototxt-corpus');
const netFiles = readdirSync(corpusDir).filter((f) => f.endsWith('.prototxt') && !f.includes('solver')).sort();

test('corpus: every net is either run or skipped with a reason', () => {
  assert.ok(netFiles.length >= 29, `expected the 29 corpus nets, found ${netFiles.length}`);
  for (const f of netFiles) assert.ok(f in CASES || f in SKIPPED, `${f} is neither run nor skipped`);
  for (const f of [...Object.keys(CASES), ...Object.keys(SKIPPED)]) assert.ok(netFiles.includes(f), `${f} is not in the corpus`);
});

/** Deploy nets come without fillers (their weights are loaded from a .caffemodel): random weights, scaled by fan-in. */
function randomWeights(net: Net): void {
  net.learnableParams.forEach((p, i) => {
    const fanIn = p.numAxes > 1 ? p.count() / p.shape[0]! : 1;
    const a = Math.sqrt(3 / fanIn);
    fill(p.data, 300 + i, -a, a);
  });
}

for (const file of netFiles) {
  const c = CASES[file];
  if (!c) {
    test(`corpus: ${file}`, { skip: SKIPPED[file] ?? 'not listed' }, () => {});
    continue;
  }
  for (const run of c.runs) {
    const what = `${file} ${run.phase === TRAIN ? 'TRAIN' : 'TEST'}${run.stages ? ` [${run.stages.join(', ')}]` : ''}`;
    const passes = FULL || !c.heavy || run.phase === TRAIN;
    test(`corpus: ${what}: ${passes ? 'forward and backward' : 'build, output shapes'}`, async () => {
      const param = readNetParamsFromTextFile<NetParameter>(`${corpusDir}/${file}`);
      const labels = await prepare(param, c);
      // Only shapes are checked without passes: skip the (slow) random filling of the big weight blobs.
      if (!passes) for (const lp of param.layer ?? []) for (const fp of [lp.convolution_param, lp.inner_product_param]) if (fp) { delete fp.weight_filler; delete fp.bias_filler; }
      const isDeploy = labels.size === 0;
      // Deploy nets have no loss: force backward and feed random top gradients.
      if (isDeploy) param.force_backward = true;
      setRandomSeed(1701);
      const net = await Net.create(param, run.phase, { verbose: false }, undefined, run.stages);
      try {
        const outputs: Record<string, number[]> = {};
        net.outputBlobNames.forEach((n, i) => { outputs[n] = [...net.outputBlobs[i]!.shape]; });
        assert.deepEqual(outputs, run.outputs, `${what}: output blobs and shapes`);
        if (!passes) return;
        if (isDeploy) randomWeights(net);
        net.inputBlobs.forEach((b, i) => {
          const name = net.blobNames[net.inputBlobIndices[i]!]!;
          const k = labels.get(name);
          if (k !== undefined) fill(b.data, 100 + i, 0, k, true);
          else fill(b.data, 100 + i, -1, 1);
        });
        const loss = await net.forward();
        assert.ok(Number.isFinite(loss), `${what}: loss ${loss}`);
        for (const [i, b] of net.outputBlobs.entries()) assert.ok(allFinite(b.data), `${what}: output ${net.outputBlobNames[i]} not finite`);
        if (isDeploy) net.outputBlobs.forEach((b, i) => fill(b.diff, 7 + i, -1, 1));
        else assert.ok(loss > 0, `${what}: loss ${loss}`);
        net.clearParamDiffs();
        await net.backward();
        for (const [i, p] of net.learnableParams.entries()) assert.ok(allFinite(p.diff), `${what}: gradient of param ${i} not finite`);
        assert.ok(net.learnableParams.some((p) => anyNonZero(p.diff)), `${what}: all parameter gradients are zero`);
        if (isDeploy) for (const b of net.inputBlobs) assert.ok(allFinite(b.diff) && anyNonZero(b.diff), `${what}: input gradient`);
      } finally {
        await net.close();
      }
    });
  }
}
