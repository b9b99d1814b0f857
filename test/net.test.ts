// Net construction as Caffe's Net::Init: state filtering, split insertion, in-place, loss weights, sharing, backward.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { Net } from '../src/net/net.js';
import { parseTextProto } from '../src/proto/textformat.js';
import type { NetParameter } from '../src/proto/types.generated.js';
import { setLogSink, setQuiet } from '../src/util/log.js';
import { fillUniform } from './gradient_checker.js';
import '../src/backend/all.js';

before(() => setQuiet(true));

const input = (name = 'data', shape = '2 3 4 4') => `layer { name: "in" type: "Input" top: "${name}" top: "label"
  input_param { shape { dim: ${shape.split(' ').join(' dim: ')} } shape { dim: ${shape.split(' ')[0]} } } }`;
const net = (text: string) => parseTextProto<NetParameter>(text, 'NetParameter', 'net.prototxt');

test('phase, level and stage rules select layers', async () => {
  const p = net(`${input()}
layer { name: "a" type: "ReLU" bottom: "data" top: "a" include { phase: TRAIN } }
layer { name: "b" type: "ReLU" bottom: "data" top: "b" include { phase: TEST } }
layer { name: "c" type: "ReLU" bottom: "data" top: "c" include { stage: "deploy" } }
layer { name: "d" type: "ReLU" bottom: "data" top: "d" exclude { stage: "deploy" } }
layer { name: "e" type: "ReLU" bottom: "data" top: "e" include { min_level: 2 } }`);
  const train = await Net.create(p, 0);
  assert.deepEqual(train.layerNames, ['in', 'data_in_0_split', 'a', 'd']);
  const deploy = await Net.create(p, 1, {}, 3, ['deploy']);
  assert.deepEqual(deploy.layerNames, ['in', 'data_in_0_split', 'b', 'c', 'e']);
});

test('splits are inserted with Caffe\'s names, in-place layers share blobs, outputs are the unconsumed tops', async () => {
  const n = await Net.create(net(`${input()}
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param { num_output: 5 } }
layer { name: "relu" type: "ReLU" bottom: "ip" top: "ip" }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
layer { name: "acc" type: "Accuracy" bottom: "ip" bottom: "label" top: "acc" }`), 1);
  assert.deepEqual(n.layerNames, ['in', 'label_in_1_split', 'ip', 'relu', 'ip_relu_0_split', 'loss', 'acc']);
  assert.equal(n.layers[3], n.layerByName('relu'));
  assert.equal(n.bottomVecs[3]![0], n.topVecs[3]![0]);
  assert.deepEqual(n.outputBlobNames, ['loss', 'acc']);
  assert.deepEqual(n.layerNeedBackward, [false, false, true, true, true, true, false]);
});

test('loss_weight scales the loss; propagate_down and lr_mult 0 prune backward; force_backward restores it', async () => {
  const text = (extra: string) => `${extra}${input()}
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" param { lr_mult: 0 } param { lr_mult: 0 } inner_product_param { num_output: 5 } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" loss_weight: 2.5 }`;
  const n = await Net.create(net(text('')), 0);
  fillUniform(n.blobByName('data')!);
  n.blobByName('label')!.data.set([1, 3]);
  const loss = await n.forwardFromTo();
  assert.ok(Math.abs(loss - 2.5 * n.blobByName('loss')!.data[0]!) < 1e-6);
  // Nothing below the loss learns or needs a gradient, so (as in Caffe) not even the loss layer runs backward.
  assert.deepEqual(n.layerNeedBackward, [false, false, false]);
  const f = await Net.create(net(text('force_backward: true\n')), 0);
  assert.deepEqual(f.layerNeedBackward, [true, true, true]);
  assert.deepEqual(f.bottomNeedBackward[2], [true, false]);
  const pd = await Net.create(net(`${input()}
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param { num_output: 5 } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" propagate_down: false propagate_down: false }`), 0);
  assert.deepEqual(pd.bottomNeedBackward[2], [false, false]);
});

test('parameters shared by name: one learnable blob, gradients accumulate; lr_mult/decay_mult recorded', async () => {
  const n = await Net.create(net(`${input('data', '2 4')}
layer { name: "a" type: "InnerProduct" bottom: "data" top: "a" param { name: "w" lr_mult: 3 decay_mult: 0 } param { name: "b" } inner_product_param { num_output: 4 weight_filler { type: "gaussian" } } }
layer { name: "b" type: "InnerProduct" bottom: "a" top: "b" param { name: "w" } param { name: "b" } inner_product_param { num_output: 4 } }
layer { name: "loss" type: "EuclideanLoss" bottom: "b" bottom: "data" top: "loss" }`), 0);
  assert.equal(n.params.length, 4);
  assert.equal(n.learnableParams.length, 2);
  assert.deepEqual(n.paramsLr, [3, 1]);
  assert.deepEqual(n.paramsWeightDecay, [0, 1]);
  assert.equal(n.params[2]!.data, n.params[0]!.data);
  assert.equal(n.params[2]!.diff, n.params[0]!.diff);
});

test('bad nets are clear errors naming the layer or blob', async () => {
  await assert.rejects(Net.create(net(`${input()}\nlayer { name: "x" type: "Bogus" bottom: "data" top: "x" }`), 0), /Unknown layer type: 'Bogus' \(layer 'x'\)/);
  await assert.rejects(Net.create(net(`${input()}\nlayer { name: "x" type: "ReLU" bottom: "nope" top: "x" }`), 0), /Unknown bottom blob 'nope' \(layer 'x', bottom index 0\)/);
  await assert.rejects(Net.create(net(`${input()}\nlayer { name: "x" type: "ReLU" bottom: "data" top: "label" }`), 0), /Top blob 'label' produced by multiple sources/);
  await assert.rejects(Net.create(net(`${input()}\nlayer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" param { } param { } param { } inner_product_param { num_output: 2 } }`), 0), /Too many params specified for layer 'ip'/);
  await assert.rejects(Net.create(net(`${input()}\nlayer { name: "c" type: "Convolution" bottom: "data" top: "c" convolution_param { num_output: 2 kernel_size: 9 } }`), 0), /Layer c/);
});

test('weights are copied by layer name; a shape mismatch names the layer', async () => {
  const a = await Net.create(net(`${input()}\nlayer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param { num_output: 5 weight_filler { type: "gaussian" } } }`), 0);
  const b = await Net.create(net(`${input()}\nlayer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param { num_output: 5 } }\nlayer { name: "other" type: "ReLU" bottom: "ip" top: "r" }`), 0);
  const lines: string[] = [];
  setQuiet(false);
  const prev = setLogSink({ write: (l) => lines.push(l) });
  b.copyTrainedLayersFrom(a.toProto(), 'a.caffemodel');
  setLogSink(prev);
  setQuiet(true);
  assert.deepEqual(b.layerByName('ip')!.blobs[0]!.data, a.layerByName('ip')!.blobs[0]!.data);
  assert.ok(lines.some((l) => l.includes('Copying source layer ip')));
  const c = await Net.create(net(`${input()}\nlayer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param { num_output: 7 } }`), 0);
  assert.throws(() => c.copyTrainedLayersFrom(a.toProto(), 'a.caffemodel'), /a\.caffemodel: Cannot copy param 0 weights from layer 'ip'; shape mismatch\.  Source param shape is 5 48 \(240\); target param shape is 7 48 \(336\)/);
});
