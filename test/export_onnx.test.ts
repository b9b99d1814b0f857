// `tscaffe export_onnx`: the exported model, run by onnxruntime-node, must give what tscaffe's own forward gives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { NetParameter } from '../src/proto/types.generated.js';
import { parseTextProto } from '../src/proto/textformat.js';
import { readNetParamsFromTextFile } from '../src/proto/upgrade.js';
import { readProtoBinary } from '../src/proto/io.js';
import { Net } from '../src/net/net.js';
import { TEST } from '../src/layers/layer.js';
import { readIdxImages, readIdxLabels } from '../src/io/idx.js';
import { mnistIdxFiles } from '../src/tools/data_mnist.js';
import { exportOnnx } from '../src/tools/onnx/export.js';
import { decodeModel } from '../src/tools/onnx/graph.js';
import { runCli } from './cli_capture.js';
import { scratchDir, vector } from './helpers.js';

const BATCH = 16;

/** The first `n` MNIST test images, scaled as LeNet's data layer scales them (1/256). */
function mnistBatch(n: number): { x: Float32Array; labels: Uint8Array } {
  const files = mnistIdxFiles();
  const imgs = readIdxImages(files.testImages);
  const x = new Float32Array(n * 784);
  for (let i = 0; i < x.length; i++) x[i] = imgs.pixels[i]! * 0.00390625;
  return { x, labels: readIdxLabels(files.testLabels).labels.subarray(0, n) };
}

/** tscaffe's forward of `net` with `inputs` (blob name -> data, batch first); returns the named blobs. */
async function tscaffeForward(net: Net, inputs: Record<string, { data: Float32Array; dims: number[] }>, outs: string[]) {
  for (const [name, v] of Object.entries(inputs)) {
    const b = net.blobByName(name)!;
    b.reshape(v.dims);
    b.data.set(v.data);
  }
  await net.forward();
  return Object.fromEntries(outs.map((o) => [o, { data: Float32Array.from(net.blobByName(o)!.data), dims: [...net.blobByName(o)!.shape] }]));
}

async function ortForward(bytes: Uint8Array, inputs: Record<string, { data: Float32Array; dims: number[] }>) {
  const s = await ort.InferenceSession.create(bytes);
  const feeds = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, new ort.Tensor('float32', v.data, v.dims)]));
  const r = await s.run(feeds);
  await s.release();
  return r;
}

function assertClose(name: string, got: ort.Tensor, want: { data: Float32Array; dims: number[] }, tol: number): void {
  assert.deepEqual([...got.dims], want.dims, `${name}: shape`);
  const g = got.data as Float32Array;
  let worst = 0, at = -1;
  for (let i = 0; i < g.length; i++) {
    const d = Math.abs(g[i]! - want.data[i]!) / Math.max(1, Math.abs(want.data[i]!));
    if (!(d <= worst)) { worst = d; at = i; }
  }
  assert.ok(worst <= tol, `${name}: differs by ${worst} at ${at} (onnxruntime ${g[at]}, tscaffe ${want.data[at]})`);
}

test('LeNet (deploy net + Caffe\'s iteration-100 weights): onnxruntime gives tscaffe\'s probabilities within 1e-4', async () => {
  const dir = scratchDir('tscaffe-onnx-');
  const out = path.join(dir, 'lenet.onnx');
  const deploy = vector('prototxt-corpus/lenet.prototxt');
  const r = await runCli(['export_onnx', '-model', deploy, '-weights', vector('lenet_iter_100.caffemodel'), out]);
  assert.equal(r.code, 0, r.stderr);
  const bytes = readFileSync(out);
  const model = decodeModel(bytes);
  assert.equal(model.graph!.input![0]!.name, 'data');
  assert.equal(model.graph!.output![0]!.name, 'prob');
  assert.equal(model.graph!.input![0]!.type!.tensorType!.shape!.dim![0]!.dimParam, 'N', 'the batch dimension is free');

  const { x, labels } = mnistBatch(BATCH);
  const net = await Net.create(readNetParamsFromTextFile<NetParameter>(deploy), TEST, { verbose: false });
  net.copyTrainedLayersFrom(readProtoBinary(vector('lenet_iter_100.caffemodel'), 'NetParameter'));
  const inputs = { data: { data: x, dims: [BATCH, 1, 28, 28] } };
  const want = await tscaffeForward(net, inputs, ['prob']);
  await net.close();
  const got = await ortForward(bytes, inputs);
  assertClose('prob', got.prob!, want.prob!, 1e-4);
  // Caffe's iteration-100 LeNet scores ~91% on the test set: the probabilities are a real classification.
  let right = 0;
  for (let i = 0; i < BATCH; i++) {
    const p = (got.prob!.data as Float32Array).subarray(i * 10, i * 10 + 10);
    if (p.indexOf(Math.max(...p)) === labels[i]) right++;
  }
  assert.ok(right >= 12, `only ${right}/${BATCH} right`);
});

test('a train_test prototxt is exported as its derived deploy net (same outputs as the hand-written deploy net)', async () => {
  const weights = readProtoBinary(vector('lenet_iter_100.caffemodel'), 'NetParameter');
  const fromTrainTest = await exportOnnx(readNetParamsFromTextFile<NetParameter>(vector('lenet_train_test.prototxt')), weights);
  const fromDeploy = await exportOnnx(readNetParamsFromTextFile<NetParameter>(vector('prototxt-corpus/lenet.prototxt')), weights);
  assert.ok(fromTrainTest.notes.length > 0);
  assert.deepEqual(fromTrainTest.inputs.map((i) => i.name), ['data']);
  const { x } = mnistBatch(4);
  const inputs = { data: { data: x, dims: [4, 1, 28, 28] } };
  const a = await ortForward(fromTrainTest.bytes, inputs);
  const b = await ortForward(fromDeploy.bytes, inputs);
  const outName = fromTrainTest.outputs[0]!.name;
  assertClose(outName, a[outName]!, { data: b.prob!.data as Float32Array, dims: [...b.prob!.dims] }, 1e-6);
});

// Every mapping beyond LeNet's, on odd sizes so Caffe's ceil-rounded pooling overhangs (H 10, W 9).
const MAPPINGS = `
name: "mappings"
layer { name: "in" type: "Input" top: "data" top: "aux" input_param { shape { dim: 2 dim: 3 dim: 10 dim: 9 } shape { dim: 2 dim: 4 } } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }
layer { name: "bn" type: "BatchNorm" bottom: "conv" top: "conv" }
layer { name: "sc" type: "Scale" bottom: "conv" top: "conv" scale_param { bias_term: true } }
layer { name: "leaky" type: "ReLU" bottom: "conv" top: "conv" relu_param { negative_slope: 0.1 } }
layer { name: "gconv" type: "Convolution" bottom: "conv" top: "gconv" convolution_param { num_output: 4 kernel_h: 3 kernel_w: 2 group: 2 stride: 2 dilation: 1 pad_h: 1 pad_w: 0 } }
layer { name: "dconv" type: "Convolution" bottom: "conv" top: "dconv" convolution_param { num_output: 2 kernel_size: 3 dilation: 2 pad: 2 bias_term: false } }
layer { name: "bn2" type: "BatchNorm" bottom: "dconv" top: "bn2" batch_norm_param { eps: 0.001 } }
layer { name: "cat" type: "Concat" bottom: "conv" bottom: "bn2" top: "cat" }
layer { name: "maxpool" type: "Pooling" bottom: "cat" top: "maxpool" pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "avepool" type: "Pooling" bottom: "cat" top: "avepool" pooling_param { pool: AVE kernel_size: 3 stride: 2 } }
layer { name: "avepad" type: "Pooling" bottom: "cat" top: "avepad" pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 } }
layer { name: "avepad_exact" type: "Pooling" bottom: "cat" top: "avepad_exact" pooling_param { pool: AVE kernel_h: 3 kernel_w: 3 stride: 1 pad: 1 } }
layer { name: "gap" type: "Pooling" bottom: "cat" top: "gap" pooling_param { pool: AVE global_pooling: true } }
layer { name: "sum" type: "Eltwise" bottom: "conv" bottom: "conv" top: "sum" eltwise_param { operation: SUM coeff: 0.5 coeff: -2 } }
layer { name: "prod" type: "Eltwise" bottom: "sum" bottom: "conv" top: "prod" eltwise_param { operation: PROD } }
layer { name: "emax" type: "Eltwise" bottom: "prod" bottom: "sum" top: "emax" eltwise_param { operation: MAX } }
layer { name: "lrn" type: "LRN" bottom: "emax" top: "lrn" lrn_param { local_size: 3 alpha: 0.5 beta: 0.75 k: 2 } }
layer { name: "lrnw" type: "LRN" bottom: "emax" top: "lrnw" lrn_param { local_size: 3 alpha: 0.5 beta: 0.75 norm_region: WITHIN_CHANNEL } }
layer { name: "deconv" type: "Deconvolution" bottom: "maxpool" top: "deconv" convolution_param { num_output: 3 kernel_size: 3 stride: 2 pad: 1 } }
layer { name: "prelu" type: "PReLU" bottom: "deconv" top: "prelu" }
layer { name: "sig" type: "Sigmoid" bottom: "avepool" top: "sig" }
layer { name: "tanh" type: "TanH" bottom: "avepad" top: "tanh" }
layer { name: "abs" type: "AbsVal" bottom: "avepad_exact" top: "abs" }
layer { name: "pow" type: "Power" bottom: "abs" top: "pow" power_param { power: 2 scale: 0.5 shift: 1 } }
layer { name: "elu" type: "ELU" bottom: "gconv" top: "elu" elu_param { alpha: 0.7 } }
layer { name: "drop" type: "Dropout" bottom: "elu" top: "drop" dropout_param { dropout_ratio: 0.5 } }
layer { name: "scale2" type: "Scale" bottom: "drop" top: "scale2" scale_param { axis: 1 num_axes: 2 bias_term: true } }
layer { name: "flat" type: "Flatten" bottom: "scale2" top: "flat" }
layer { name: "ip" type: "InnerProduct" bottom: "lrn" top: "ip" inner_product_param { num_output: 5 } }
layer { name: "ipt" type: "InnerProduct" bottom: "flat" top: "ipt" inner_product_param { num_output: 4 transpose: true } }
layer { name: "ip2" type: "InnerProduct" bottom: "lrnw" top: "ip2" inner_product_param { num_output: 3 axis: 2 } }
layer { name: "add" type: "Eltwise" bottom: "ipt" bottom: "aux" top: "add" }
layer { name: "soft" type: "Softmax" bottom: "ip" top: "soft" }
layer { name: "soft2" type: "Softmax" bottom: "ip2" top: "soft2" softmax_param { axis: 2 } }
layer { name: "rs" type: "Reshape" bottom: "sig" top: "rs" reshape_param { shape { dim: 0 dim: -1 dim: 4 } } }
layer { name: "sw" type: "Swish" bottom: "tanh" top: "sw" }
layer { name: "exp" type: "Exp" bottom: "sw" top: "exp" exp_param { base: 2 scale: 0.5 shift: 0.1 } }
`;

/** Deterministic pseudo-random values in [lo, hi). */
function rand(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = lo + ((s >>> 8) / 16777216) * (hi - lo);
  }
  return out;
}

test('BatchNorm+Scale, LeakyReLU, ceil-rounded MAX/AVE pooling, Eltwise, Concat, LRN and more match tscaffe', async () => {
  const param = parseTextProto<NetParameter>(MAPPINGS, 'NetParameter', 'mappings.prototxt');
  const net = await Net.create(param, TEST, { verbose: false });
  let seed = 1;
  for (const layer of net.layers) {
    layer.blobs.forEach((b, j) => {
      if (layer.type === 'BatchNorm') {
        // running sums of mean and variance, and the moving-average factor they are divided by
        b.data.set(j === 0 ? rand(b.count(), seed++) : j === 1 ? rand(b.count(), seed++, 0.5, 2) : [0.8]);
      } else {
        b.data.set(rand(b.count(), seed++));
      }
    });
  }
  // Every layer's top (their final values: `conv` after its in-place BatchNorm, Scale and LeakyReLU).
  const outs = [...new Set((param.layer ?? []).slice(1).flatMap((l) => l.top ?? []))];
  assert.equal(outs.length, 34);
  const exported = await exportOnnx(param, net.toProto(), { source: 'mappings.prototxt', extraOutputs: outs });
  const ops = new Set(decodeModel(exported.bytes).graph!.node!.map((n) => n.opType));
  for (const op of ['BatchNormalization', 'LeakyRelu', 'MaxPool', 'AveragePool', 'Pad', 'GlobalAveragePool', 'Sum', 'Mul',
    'Max', 'Concat', 'LRN', 'ConvTranspose', 'PRelu', 'Gemm', 'MatMul', 'Softmax', 'Reshape', 'Elu', 'Pow', 'Exp']) {
    assert.ok(ops.has(op), `no ${op} node`);
  }
  // The Scale after `bn` is folded into its BatchNormalization; bn2 (no Scale) gets a unit one.
  assert.equal(decodeModel(exported.bytes).graph!.node!.filter((n) => n.opType === 'BatchNormalization').length, 2);
  const inputs = { data: { data: rand(2 * 3 * 10 * 9, 99), dims: [2, 3, 10, 9] }, aux: { data: rand(8, 98), dims: [2, 4] } };
  const want = await tscaffeForward(net, inputs, outs);
  await net.close();
  const got = await ortForward(exported.bytes, inputs);
  for (const o of outs) assertClose(o, got[o]!, want[o]!, 1e-4);
});

test('layers with no ONNX equivalent: one error naming each layer and its type; nothing written', async () => {
  const dir = scratchDir('tscaffe-onnx-');
  const model = path.join(dir, 'bad.prototxt');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(model, `
name: "bad"
layer { name: "in" type: "Input" top: "data" input_param { shape { dim: 1 dim: 2 dim: 6 dim: 6 } } }
layer { name: "norm" type: "MVN" bottom: "data" top: "norm" }
layer { name: "pick" type: "ArgMax" bottom: "norm" top: "pick" }
layer { name: "stoch" type: "Pooling" bottom: "data" top: "stoch" pooling_param { pool: STOCHASTIC kernel_size: 2 } }
layer { name: "relu" type: "ReLU" bottom: "stoch" top: "stoch" }
`);
  const out = path.join(dir, 'bad.onnx');
  const r = await runCli(['export_onnx', '-model', model, out]);
  assert.notEqual(r.code, 0);
  for (const frag of ["layer 'norm' (MVN)", "layer 'pick' (ArgMax)", "layer 'stoch' (Pooling): STOCHASTIC"]) {
    assert.ok(r.stderr.includes(frag), `missing "${frag}" in: ${r.stderr}`);
  }
  assert.ok(!r.stderr.includes("'relu'"), r.stderr);
  assert.ok(r.stderr.includes(model), 'the error names the file');
  assert.equal(existsSync(out), false);
  const usage = await runCli(['export_onnx', out]);
  assert.notEqual(usage.code, 0);
  assert.match(usage.stderr, /-model/);
});
