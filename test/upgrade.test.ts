import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { parseTextProto, printTextProto } from '../src/proto/textformat.js';
import {
  netNeedsUpgrade,
  upgradeNetAsNeeded,
  upgradeNetParameter,
  upgradeSolverParameter,
  readNetParamsFromTextFile,
  readSolverParamsFromTextFile,
} from '../src/proto/upgrade.js';
import { has, messageType } from '../src/proto/caffe.js';
import { main } from '../src/cli/main.js';
import { setLogSink } from '../src/util/log.js';
import { vector, scratchDir, removeDir } from './helpers.js';

type Any = Record<string, any>;
const corpus = vector('prototxt-corpus');

/** Run `fn` with log lines captured (and kept off stderr). */
async function captureLog<T>(fn: () => T | Promise<T>): Promise<{ result: T; lines: string[] }> {
  const lines: string[] = [];
  const prev = setLogSink({ write: (l) => lines.push(l) });
  try {
    return { result: await fn(), lines };
  } finally {
    setLogSink(prev);
  }
}

/** Tokens of a prototxt: strings, identifiers, numbers, punctuation (comments dropped). */
function tokens(text: string): string[] {
  const re = /"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|[A-Za-z_]\w*|-?(?:\d|\.\d)(?:[eE][+-]|[\w.])*|\S/g;
  return text.replace(/#[^\n]*/g, '').match(re) ?? [];
}

function sameTokens(actual: string, expected: string, what: string): void {
  const a = tokens(actual);
  const e = tokens(expected);
  assert.equal(a.length, e.length, `${what}: ${a.length} tokens, expected ${e.length}`);
  for (let i = 0; i < a.length; i++) {
    const [x, y] = [a[i]!, e[i]!];
    if (/^-?[\d.]/.test(x) && /^-?[\d.]/.test(y)) {
      const [fx, fy] = [Math.fround(Number(x.replace(/f$/i, ''))), Math.fround(Number(y.replace(/f$/i, '')))];
      assert.ok(fx === fy, `${what}: token ${i}: ${x} != ${y} as float32`);
    } else assert.equal(x, y, `${what}: token ${i}`);
  }
}

const plain = (m: object, type: string) => messageType(type).toObject(m as never, { longs: Number });

test('corpus: every prototxt parses, upgrades and prints as Caffe printed it', async (t) => {
  const files = readdirSync(corpus).filter((f) => f.endsWith('.prototxt')).sort();
  assert.ok(files.length >= 50, `only ${files.length} corpus files`);
  let identical = 0;
  const upgraded: string[] = [];
  for (const f of files) {
    const type = f.includes('solver') ? 'SolverParameter' : 'NetParameter';
    const text = readFileSync(path.join(corpus, f), 'utf8');
    const { result: out } = await captureLog(() => {
      const msg = parseTextProto<Any>(text, type, f);
      if (type === 'NetParameter' && netNeedsUpgrade(msg)) upgraded.push(f);
      return printTextProto(type === 'NetParameter' ? upgradeNetParameter(msg, f) : upgradeSolverParameter(msg, f), type);
    });
    const expected = readFileSync(path.join(corpus, 'caffe-printed', f), 'utf8');
    sameTokens(out, expected, f);
    if (out === expected) identical++;
    // The printed text parses back to an equal message that prints the same.
    const again = parseTextProto<Any>(out, type, f);
    assert.equal(printTextProto(again, type), out, f);
    assert.deepEqual(plain(again, type), plain(parseTextProto(expected, type, f), type), f);
  }
  t.diagnostic(`${identical} of ${files.length} corpus files byte-identical to caffe-printed`);
  assert.equal(identical, files.length);
  assert.deepEqual(upgraded, ['cifar10_full_sigmoid_train_test_bn.prototxt']);
});

const V1_NET = `name: "V1Net"
input: "data"
input_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8
layers {
  name: "conv1" type: CONVOLUTION bottom: "data" top: "conv1"
  blobs_lr: 1 blobs_lr: 2 weight_decay: 1 weight_decay: 0
  convolution_param { num_output: 4 kernel_size: 3 weight_filler { type: "xavier" } }
  include { phase: TRAIN }
}
layers { name: "relu1" type: RELU bottom: "conv1" top: "conv1" }
layers {
  name: "data" type: DATA top: "d" top: "label"
  data_param { source: "x" batch_size: 4 scale: 0.00390625 mirror: true }
}
layers { name: "loss" type: SOFTMAX_LOSS bottom: "conv1" bottom: "label" top: "loss" loss_weight: 1 param: "w" blob_share_mode: PERMISSIVE }
`;

const V1_EXPECTED = `name: "V1Net"
layer {
  name: "input"
  type: "Input"
  top: "data"
  input_param {
    shape {
      dim: 1
      dim: 3
      dim: 8
      dim: 8
    }
  }
}
layer {
  name: "conv1"
  type: "Convolution"
  bottom: "data"
  top: "conv1"
  param {
    lr_mult: 1
    decay_mult: 1
  }
  param {
    lr_mult: 2
    decay_mult: 0
  }
  include {
    phase: TRAIN
  }
  convolution_param {
    num_output: 4
    kernel_size: 3
    weight_filler {
      type: "xavier"
    }
  }
}
layer {
  name: "relu1"
  type: "ReLU"
  bottom: "conv1"
  top: "conv1"
}
layer {
  name: "data"
  type: "Data"
  top: "d"
  top: "label"
  transform_param {
    scale: 0.00390625
    mirror: true
  }
  data_param {
    source: "x"
    batch_size: 4
  }
}
layer {
  name: "loss"
  type: "SoftmaxWithLoss"
  bottom: "conv1"
  bottom: "label"
  top: "loss"
  loss_weight: 1
  param {
    name: "w"
    share_mode: PERMISSIVE
  }
}
`;

test('V1 net (layers { type: CONVOLUTION ... }) upgrades to V2 text, with Caffe log lines', async () => {
  const net = parseTextProto<Any>(V1_NET, 'NetParameter', 'v1.prototxt');
  assert.equal(netNeedsUpgrade(net), true);
  const { result, lines } = await captureLog(() => upgradeNetAsNeeded(net, 'v1.prototxt'));
  assert.equal(result.success, true);
  assert.equal(printTextProto(result.net, 'NetParameter'), V1_EXPECTED);
  const log = lines.join('');
  assert.match(log, /Attempting to upgrade input file specified using deprecated transformation parameters: v1\.prototxt/);
  assert.match(log, /Attempting to upgrade input file specified using deprecated V1LayerParameter: v1\.prototxt/);
  assert.match(log, /Successfully upgraded file specified using deprecated V1LayerParameter/);
  assert.match(log, /Attempting to upgrade input file specified using deprecated input fields: v1\.prototxt/);
  assert.equal(netNeedsUpgrade(result.net), false);
  assert.equal(has(result.net, 'layers'), false);
});

test('V0 net (layers { layer { type: "conv" } }, padding layers) upgrades through V1 to V2', async () => {
  const v0 = `name: "V0Net"
input: "data" input_dim: 1 input_dim: 1 input_dim: 4 input_dim: 4
layers { layer { name: "pad1" type: "padding" pad: 1 } bottom: "data" top: "pad1" }
layers { layer { name: "conv1" type: "conv" num_output: 2 kernelsize: 3 stride: 1 biasterm: false
                 weight_filler { type: "gaussian" std: 0.01 } blobs_lr: 1 weight_decay: 1 } bottom: "pad1" top: "conv1" }
layers { layer { name: "pool1" type: "pool" pool: AVE kernelsize: 2 stride: 2 } bottom: "conv1" top: "pool1" }
layers { layer { name: "drop" type: "dropout" dropout_ratio: 0.3 } bottom: "pool1" top: "pool1" }
layers { layer { name: "d" type: "data" source: "db" batchsize: 8 cropsize: 2 meanfile: "m" } top: "x" }
`;
  const expected = `name: "V0Net"
layer { name: "input" type: "Input" top: "data" input_param { shape { dim: 1 dim: 1 dim: 4 dim: 4 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1" param { lr_mult: 1 decay_mult: 1 }
  convolution_param { num_output: 2 bias_term: false pad: 1 kernel_size: 3 stride: 1 weight_filler { type: "gaussian" std: 0.01 } } }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" pooling_param { pool: AVE kernel_size: 2 stride: 2 } }
layer { name: "drop" type: "Dropout" bottom: "pool1" top: "pool1" dropout_param { dropout_ratio: 0.3 } }
layer { name: "d" type: "Data" top: "x" transform_param { crop_size: 2 mean_file: "m" } data_param { source: "db" batch_size: 8 } }
`;
  const { result, lines } = await captureLog(() => upgradeNetAsNeeded(parseTextProto<Any>(v0, 'NetParameter'), 'v0.prototxt'));
  assert.equal(result.success, true);
  assert.equal(printTextProto(result.net, 'NetParameter'), printTextProto(parseTextProto(expected, 'NetParameter'), 'NetParameter'));
  assert.match(lines.join(''), /deprecated V0LayerParameter: v0\.prototxt/);
  // a V0 parameter that does not fit the layer type is reported and the upgrade flagged
  const bad = parseTextProto<Any>('layers { layer { name: "r" type: "relu" num_output: 3 } }', 'NetParameter');
  const r = await captureLog(() => upgradeNetAsNeeded(bad, 'bad.prototxt'));
  assert.equal(r.result.success, false);
  assert.match(r.lines.join(''), /Unknown parameter num_output for layer type relu/);
});

test('input_shape -> Input layer; BatchNorm param specs; solver_type -> type', async () => {
  const net = parseTextProto<Any>(
    'input: "a" input: "b" input_shape { dim: 2 dim: 3 } input_shape { dim: 5 }\nlayer { name: "bn" type: "BatchNorm" bottom: "a" top: "a" param { lr_mult: 1 } param { } param { } }',
    'NetParameter',
  );
  const up = (await captureLog(() => upgradeNetParameter(net))).result;
  assert.deepEqual(up.layer.map((l: Any) => l.name), ['input', 'bn']);
  assert.deepEqual(up.layer[0].top, ['a', 'b']);
  assert.deepEqual(up.layer[0].input_param.shape.map((s: Any) => s.dim), [[2, 3], [5]]);
  assert.deepEqual(up.layer[1].param.map((p: Any) => [p.lr_mult, p.decay_mult, has(p, 'decay_mult')]), [[0, 0, true], [0, 0, true], [0, 0, true]]);
  assert.equal(has(up, 'input') || has(up, 'input_shape'), false);

  for (const [name, type] of [['SGD', 'SGD'], ['NESTEROV', 'Nesterov'], ['ADAGRAD', 'AdaGrad'], ['RMSPROP', 'RMSProp'], ['ADADELTA', 'AdaDelta'], ['ADAM', 'Adam']]) {
    const s = parseTextProto<Any>(`base_lr: 0.1 solver_type: ${name}`, 'SolverParameter');
    const { result, lines } = await captureLog(() => upgradeSolverParameter(s, 's.prototxt'));
    assert.equal(printTextProto(result, 'SolverParameter'), `base_lr: 0.1\ntype: "${type}"\n`);
    assert.match(lines.join(''), /deprecated 'solver_type' field \(enum\)': s\.prototxt/);
  }
  const both = parseTextProto<Any>('solver_type: ADAM type: "Adam"', 'SolverParameter');
  await assert.rejects(captureLog(() => upgradeSolverParameter(both, 'both.prototxt')), /cannot be both specified/);
});

test('readNetParamsFromTextFile / readSolverParamsFromTextFile: parse errors and missing files name the file', async () => {
  const dir = scratchDir();
  try {
    const f = path.join(dir, 'v1.prototxt');
    writeFileSync(f, V1_NET);
    const net = (await captureLog(() => readNetParamsFromTextFile<Any>(f))).result;
    assert.equal(printTextProto(net, 'NetParameter'), V1_EXPECTED);
    const s = path.join(dir, 'solver.prototxt');
    writeFileSync(s, 'net: "x"\nsolver_type: NESTEROV\n');
    assert.equal((await captureLog(() => readSolverParamsFromTextFile<Any>(s))).result.type, 'Nesterov');
    const bad = path.join(dir, 'bad.prototxt');
    writeFileSync(bad, 'layer {\n  name: "x"\n  typo: 1\n}\n');
    assert.throws(() => readNetParamsFromTextFile(bad), { message: `${bad}:3:3: unknown field 'typo' in caffe.LayerParameter` });
    assert.throws(() => readSolverParamsFromTextFile(path.join(dir, 'none.prototxt')), { message: `File not found: ${path.join(dir, 'none.prototxt')}` });
  } finally {
    removeDir(dir);
  }
});

test('CLI: upgrade_net_proto_text and upgrade_solver_proto_text end to end', async () => {
  const dir = scratchDir();
  try {
    const inNet = path.join(dir, 'v1.prototxt');
    const outNet = path.join(dir, 'out', 'v2.prototxt');
    writeFileSync(inNet, V1_NET);
    let r = await captureLog(() => main(['upgrade_net_proto_text', inNet, outNet]));
    assert.equal(r.result, 0);
    assert.equal(readFileSync(outNet, 'utf8'), V1_EXPECTED);
    assert.match(r.lines.join(''), new RegExp(`Wrote upgraded NetParameter text proto to ${outNet.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));

    // already current: logged, and written as Caffe prints it
    const lenetOut = path.join(dir, 'lenet.prototxt');
    r = await captureLog(() => main(['upgrade_net_proto_text', path.join(corpus, 'lenet.prototxt'), lenetOut]));
    assert.equal(r.result, 0);
    assert.match(r.lines.join(''), /File already in latest proto format: .*lenet\.prototxt/);
    assert.equal(readFileSync(lenetOut, 'utf8'), readFileSync(path.join(corpus, 'caffe-printed', 'lenet.prototxt'), 'utf8'));

    const inSolver = path.join(dir, 'solver.prototxt');
    const outSolver = path.join(dir, 'solver_new.prototxt');
    writeFileSync(inSolver, '# old\nbase_lr: 0.01\nsolver_type: ADAM\nnet: "v2.prototxt"\n');
    r = await captureLog(() => main(['upgrade_solver_proto_text', inSolver, outSolver]));
    assert.equal(r.result, 0);
    assert.equal(readFileSync(outSolver, 'utf8'), 'base_lr: 0.01\nnet: "v2.prototxt"\ntype: "Adam"\n');
    assert.match(r.lines.join(''), /Wrote upgraded SolverParameter text proto to /);

    // bad input: one line naming file:line:col, non-zero exit, OUT not created
    const bad = path.join(dir, 'bad.prototxt');
    writeFileSync(bad, 'name: "n"\nlayer {\n  convolution_param { kernal_size: 3 }\n}\n');
    const badOut = path.join(dir, 'bad_out.prototxt');
    r = await captureLog(() => main(['upgrade_net_proto_text', bad, badOut]));
    assert.equal(r.result, 2);
    assert.equal(existsSync(badOut), false);
    assert.equal(r.lines.length, 1);
    assert.ok(r.lines[0]!.includes(`${bad}:3:23: unknown field 'kernal_size' in caffe.ConvolutionParameter`), r.lines[0]);
    r = await captureLog(() => main(['upgrade_solver_proto_text', bad, badOut]));
    assert.equal(r.result, 2);
    assert.match(r.lines[0]!, /Failed to parse input text file as SolverParameter: .*bad\.prototxt:1:1: unknown field 'name' in caffe\.SolverParameter/);
    assert.equal(existsSync(badOut), false);
    // missing input file
    r = await captureLog(() => main(['upgrade_net_proto_text', path.join(dir, 'missing.prototxt'), badOut]));
    assert.equal(r.result, 2);
    assert.match(r.lines[0]!, /File not found: .*missing\.prototxt/);
    assert.equal(existsSync(badOut), false);
    // wrong argument count is a usage error
    const stderrWrite = process.stderr.write;
    process.stderr.write = (() => true) as typeof process.stderr.write;
    try {
      assert.equal(await main(['upgrade_net_proto_text', inNet]), 1);
    } finally {
      process.stderr.write = stderrWrite;
    }
  } finally {
    removeDir(dir);
  }
});
