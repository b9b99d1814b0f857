// caffe.proto + binary protobuf I/O against files written by BVLC Caffe itself (/work/shared/vectors): decoded
// values must equal the *.summary.txt made with python-protobuf, and re-encoding must give back the file's bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import protobuf from 'protobufjs';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { endianness } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { vector, vectorsDir, repoRoot, scratchDir, removeDir } from './helpers.js';
import { createMessage, encodeMessage, has, messageType, paramOf } from '../src/proto/caffe.js';
import {
  blobProtoData,
  blobProtoDiff,
  blobProtoShape,
  decodeProtoBinary,
  findUnknownFields,
  readProtoBinary,
  writeProtoBinaryAtomic,
} from '../src/proto/io.js';
import {
  ConvolutionParameter_Engine,
  Phase,
  PoolingParameter_PoolMethod,
  SolverParameter_SolverMode,
  V1LayerParameter_LayerType,
  type BlobProto,
  type NetParameter,
  type SolverState,
} from '../src/proto/types.generated.js';

// ---- the summary files: "<name> shape=[..] count=N sum=.. mean=.. min=.. max=.. l2=.. first5=[..] sha256(..)=hex" ----
interface BlobStats {
  label: string;
  shape: number[];
  count: number;
  sum: number;
  min: number;
  max: number;
  l2: number;
  first5: number[];
  sha16: string;
}
interface LayerSummary {
  name: string;
  type: string;
  bottom: string[];
  top: string[];
  phaseSet: boolean;
  blobs: BlobStats[];
}
interface Summary {
  file: string;
  bytes: number;
  sha256: string;
  net?: { name: string; layerCount: number; v1Count: number; layers: LayerSummary[] };
  solver?: { iter: number; learnedNet: string; currentStep: number; historyCount: number; history: BlobStats[] };
  blob?: BlobStats;
}

const list = (s: string): string[] => [...s.matchAll(/'([^']*)'/g)].map((m) => m[1]!);
const nums = (s: string): number[] => (s.trim() ? s.split(',').map((x) => Number(x.trim())) : []);

function parseStats(label: string, rest: string): BlobStats {
  const m = /shape=\[([^\]]*)\] count=(\d+) sum=(\S+) mean=\S+ min=(\S+) max=(\S+) l2=(\S+) first5=\[([^\]]*)\] sha256\(float32 LE\)=([0-9a-f]+)/.exec(rest);
  assert.ok(m, `unparsed summary stats: ${rest}`);
  return {
    label,
    shape: nums(m[1]!),
    count: Number(m[2]),
    sum: Number(m[3]),
    min: Number(m[4]),
    max: Number(m[5]),
    l2: Number(m[6]),
    first5: nums(m[7]!),
    sha16: m[8]!,
  };
}

function parseSummary(file: string): Summary {
  const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.trim());
  const head = /^# (\S+)\s+\((\d+) bytes, sha256 ([0-9a-f]{64})\)/.exec(lines[0]!);
  assert.ok(head, `unparsed summary header: ${lines[0]}`);
  const s: Summary = { file: head[1]!, bytes: Number(head[2]), sha256: head[3]! };
  for (const line of lines.slice(1)) {
    let m: RegExpExecArray | null;
    if ((m = /^NetParameter\.name='([^']*)'\s+layer\(V2\) count=(\d+)\s+layers\(V1\) count=(\d+)/.exec(line))) {
      s.net = { name: m[1]!, layerCount: Number(m[2]), v1Count: Number(m[3]), layers: [] };
    } else if ((m = /^layer name='([^']*)' type='([^']*)' bottom=\[([^\]]*)\] top=\[([^\]]*)\] phase_fields=(\w+) blobs=(\d+)/.exec(line))) {
      s.net!.layers.push({ name: m[1]!, type: m[2]!, bottom: list(m[3]!), top: list(m[4]!), phaseSet: m[5] === 'True', blobs: [] });
    } else if ((m = /^\s+blob\[(\d+)\] (.*)$/.exec(line))) {
      s.net!.layers.at(-1)!.blobs.push(parseStats(`blob[${m[1]}]`, m[2]!));
    } else if ((m = /^SolverState iter=(\d+) learned_net='([^']*)' current_step=(\d+) history blobs=(\d+)/.exec(line))) {
      s.solver = { iter: Number(m[1]), learnedNet: m[2]!, currentStep: Number(m[3]), historyCount: Number(m[4]), history: [] };
    } else if ((m = /^\s+history\[(\d+)\] (.*)$/.exec(line))) {
      s.solver!.history.push(parseStats(`history[${m[1]}]`, m[2]!));
    } else if ((m = /^BlobProto (.*)$/.exec(line))) {
      s.blob = parseStats('BlobProto', m[1]!);
    } else {
      assert.fail(`unparsed summary line in ${file}: ${line}`);
    }
  }
  return s;
}

// ---- comparing a decoded BlobProto with its summary line ----
const close = (a: number, b: number, rel: number, abs: number) => Math.abs(a - b) <= abs + rel * Math.abs(b);

function checkBlob(b: BlobProto, exp: BlobStats, where: string): Float32Array {
  assert.deepEqual(blobProtoShape(b), exp.shape, `${where}: shape`);
  const d = blobProtoData(b, where);
  assert.equal(d.length, exp.count, `${where}: count`);
  assert.equal(endianness(), 'LE');
  const sha = createHash('sha256').update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength)).digest('hex');
  assert.equal(sha.slice(0, exp.sha16.length), exp.sha16, `${where}: sha256 of the float32 data`);
  let sum = 0, abs = 0, sq = 0, min = Infinity, max = -Infinity;
  for (const v of d) {
    sum += v;
    abs += Math.abs(v);
    sq += v * v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  // min/max/first values are float32 numbers printed with 9 significant digits: exact after fround.
  assert.equal(min, Math.fround(exp.min), `${where}: min`);
  assert.equal(max, Math.fround(exp.max), `${where}: max`);
  assert.deepEqual([...d.subarray(0, exp.first5.length)], exp.first5.map(Math.fround), `${where}: first values`);
  assert.ok(close(sum, exp.sum, 1e-6, 1e-6 * abs + 1e-9), `${where}: sum ${sum} vs ${exp.sum}`);
  assert.ok(close(Math.sqrt(sq), exp.l2, 1e-6, 1e-12), `${where}: l2 ${Math.sqrt(sq)} vs ${exp.l2}`);
  return d;
}

/** Decode a vector file, check it against its summary header, and that re-encoding gives the same bytes. */
function decodeVector<T extends object>(rel: string, typeName: 'NetParameter' | 'SolverState' | 'BlobProto'): { msg: T; bytes: Buffer } {
  const bytes = readFileSync(vector(rel));
  const msg = readProtoBinary<T>(vector(rel), typeName);
  assert.deepEqual(findUnknownFields(msg, typeName), [], `${rel}: every field is known to caffe.proto`);
  const again = encodeMessage(typeName, msg);
  assert.equal(again.length, bytes.length, `${rel}: re-encoded size`);
  assert.ok(Buffer.from(again).equals(bytes), `${rel}: re-encoded bytes equal the file`);
  return { msg, bytes };
}

function checkHeader(s: Summary, bytes: Buffer, rel: string): void {
  assert.equal(s.file, path.basename(rel));
  assert.equal(bytes.length, s.bytes, `${rel}: size`);
  assert.equal(createHash('sha256').update(bytes).digest('hex'), s.sha256, `${rel}: sha256`);
}

function checkNet(rel: string): NetParameter {
  const s = parseSummary(vector(rel + '.summary.txt'));
  const { msg: net, bytes } = decodeVector<NetParameter>(rel, 'NetParameter');
  checkHeader(s, bytes, rel);
  assert.ok(s.net);
  assert.equal(net.name, s.net.name);
  assert.equal(net.layer!.length, s.net.layerCount);
  assert.equal(net.layers!.length, s.net.v1Count);
  s.net.layers.forEach((ls, i) => {
    const l = net.layer![i]!;
    assert.equal(l.name, ls.name);
    assert.equal(l.type, ls.type);
    assert.deepEqual(l.bottom, ls.bottom);
    assert.deepEqual(l.top, ls.top);
    assert.equal(has(l, 'phase'), ls.phaseSet, `${ls.name}: phase set`);
    assert.equal(l.blobs!.length, ls.blobs.length, `${ls.name}: blobs`);
    ls.blobs.forEach((bs, j) => checkBlob(l.blobs![j]!, bs, `${rel} ${ls.name} ${bs.label}`));
  });
  return net;
}

function checkSolverState(rel: string): SolverState {
  const s = parseSummary(vector(rel + '.summary.txt'));
  const { msg: st, bytes } = decodeVector<SolverState>(rel, 'SolverState');
  checkHeader(s, bytes, rel);
  assert.ok(s.solver);
  assert.equal(st.iter, s.solver.iter);
  assert.equal(st.learned_net, s.solver.learnedNet);
  assert.equal(st.current_step, s.solver.currentStep);
  assert.equal(st.history!.length, s.solver.historyCount);
  s.solver.history.forEach((hs, i) => checkBlob(st.history![i]!, hs, `${rel} ${hs.label}`));
  return st;
}

/** End offsets of the top-level fields of a protobuf message (the cut points that leave a valid message). */
function topLevelBoundaries(bytes: Uint8Array): number[] {
  const r = protobuf.Reader.create(bytes);
  const ends: number[] = [];
  while (r.pos < r.len) {
    r.skipType(r.uint32() & 7);
    ends.push(r.pos);
  }
  return ends.slice(0, -1);
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const paramShapes = (net: NetParameter) => net.layer!.flatMap((l) => l.blobs!.map(blobProtoShape));
const lenetShapes = [[20, 1, 5, 5], [20], [50, 20, 5, 5], [50], [500, 800], [500], [10, 500], [10]];

// ---- the schema ----
test('types.generated.ts is up to date with caffe.proto (npm run gen:proto)', async () => {
  const gen = (await import(pathToFileURL(path.join(repoRoot, 'scripts/gen-proto-types.mjs')).href)) as {
    generateTypes(text: string): string;
  };
  const fresh = gen.generateTypes(readFileSync(path.join(repoRoot, 'src/proto/caffe.proto'), 'utf8'));
  const onDisk = readFileSync(path.join(repoRoot, 'src/proto/types.generated.ts'), 'utf8');
  assert.ok(fresh === onDisk, 'src/proto/types.generated.ts is stale: run npm run gen:proto');
});

test('caffe.proto: field numbers, defaults and enum values of BVLC Caffe', () => {
  const id = (t: string, f: string) => messageType(t).fields[f]!.id;
  assert.equal(id('NetParameter', 'layer'), 100);
  assert.equal(id('NetParameter', 'layers'), 2);
  assert.equal(id('LayerParameter', 'convolution_param'), 106);
  assert.equal(id('LayerParameter', 'clip_param'), 148);
  assert.equal(id('LayerParameter', 'swish_param'), 147);
  assert.equal(id('LayerParameter', 'window_data_param'), 129);
  assert.equal(id('V1LayerParameter', 'blob_share_mode'), 1002);
  assert.equal(id('V0LayerParameter', 'hdf5_output_param'), 1001);
  assert.equal(id('SolverParameter', 'type'), 40);
  assert.equal(id('SolverParameter', 'weights'), 42);
  assert.equal(id('PoolingParameter', 'round_mode'), 13);
  assert.ok(messageType('BlobShape').fields['dim']!.packed);
  assert.ok(!messageType('Datum').fields['float_data']!.packed);
  const sp = createMessage('SolverParameter', {});
  assert.equal(sp.type, 'SGD');
  assert.equal(sp.solver_mode, SolverParameter_SolverMode.GPU);
  assert.equal(sp.random_seed, -1);
  assert.equal(sp.delta, Math.fround(1e-8), 'float defaults read as float32, like Caffe');
  assert.equal(sp.momentum2, Math.fround(0.999));
  assert.equal(has(sp, 'type'), false);
  assert.equal(createMessage('NetState', {}).phase, Phase.TEST);
  assert.equal(V1LayerParameter_LayerType.DECONVOLUTION, 39);
  assert.equal(V1LayerParameter_LayerType.ABSVAL, 35);
  assert.equal(PoolingParameter_PoolMethod.STOCHASTIC, 2);
  assert.equal(ConvolutionParameter_Engine.CUDNN, 2);
  const conv = paramOf('ConvolutionParameter', null);
  assert.equal(conv.group, 1);
  assert.equal(conv.bias_term, true);
  assert.deepEqual(conv.pad, []);
  assert.equal(paramOf('PoolingParameter', { pool: PoolingParameter_PoolMethod.AVE }).stride, 1);
  assert.throws(() => decodeProtoBinary(Uint8Array.of(0x0d, 0, 0, 0, 0), 'ClipParameter', 'clip'), /clip: .*missing required 'max'/);
});

// ---- real Caffe files ----
test('lenet_iter_100.caffemodel: values as in its summary, bytes round-trip', () => {
  const net = checkNet('lenet_iter_100.caffemodel');
  assert.deepEqual(paramShapes(net), lenetShapes);
  const data = net.layer![0]!;
  assert.equal(data.data_param?.source, 'mnist_train_lmdb');
  assert.equal(data.phase, Phase.TRAIN);
  const conv1 = net.layer![1]!;
  assert.deepEqual(conv1.convolution_param?.kernel_size, [5]);
  assert.equal(conv1.convolution_param?.num_output, 20);
  assert.deepEqual(conv1.param!.map((p) => p.lr_mult), [1, 2]);
  assert.equal(blobProtoDiff(conv1.blobs![0]!), null, 'Caffe snapshots carry no diff');
});

test('init/lenet_iter_0.caffemodel: values as in its summary, bytes round-trip', () => {
  assert.deepEqual(paramShapes(checkNet('init/lenet_iter_0.caffemodel')), lenetShapes);
});

test('resume/lenet_iter_200.caffemodel: LeNet weights that moved on from iter 100, bytes round-trip', () => {
  const { msg: net200 } = decodeVector<NetParameter>('resume/lenet_iter_200.caffemodel', 'NetParameter');
  const net100 = readProtoBinary(vector('lenet_iter_100.caffemodel'), 'NetParameter');
  assert.deepEqual(paramShapes(net200), lenetShapes);
  assert.deepEqual(
    net200.layer!.map((l) => [l.name, l.type]),
    net100.layer!.map((l) => [l.name, l.type]),
  );
  const w200 = blobProtoData(net200.layer![1]!.blobs![0]!);
  const w100 = blobProtoData(net100.layer![1]!.blobs![0]!);
  assert.notDeepEqual([...w200], [...w100]);
});

test('solver states: history as in the summary, learned_net, bytes round-trip', () => {
  const st = checkSolverState('lenet_iter_100.solverstate');
  assert.deepEqual(st.history!.map(blobProtoShape), lenetShapes);
  for (const [rel, iter, learned] of [
    ['init/lenet_iter_0.solverstate', 0, 'init/lenet_iter_0.caffemodel'],
    ['resume/lenet_iter_200.solverstate', 200, 'resume/lenet_iter_200.caffemodel'],
  ] as const) {
    const { msg } = decodeVector<SolverState>(rel, 'SolverState');
    assert.equal(msg.iter, iter, rel);
    assert.equal(msg.learned_net, learned, rel);
    assert.equal(msg.current_step, 0, rel);
    assert.deepEqual(msg.history!.map(blobProtoShape), lenetShapes, rel);
    if (iter === 0) for (const h of msg.history!) assert.ok(blobProtoData(h).every((v) => v === 0), 'no momentum yet');
  }
});

test('mean binaryprotos: legacy 4D shape, values as in the summary, bytes round-trip', () => {
  for (const rel of ['mean_test64.binaryproto', 'mean_train60k.binaryproto']) {
    const s = parseSummary(vector(rel + '.summary.txt'));
    const { msg, bytes } = decodeVector<BlobProto>(rel, 'BlobProto');
    checkHeader(s, bytes, rel);
    assert.equal(has(msg, 'shape'), false, 'compute_image_mean writes num/channels/height/width');
    checkBlob(msg, s.blob!, rel);
  }
});

test('every *.summary.txt beside the vectors parses and is checked', () => {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory() && !e.name.startsWith('mnist_') && e.name !== 'prototxt-corpus') walk(path.join(dir, e.name));
      else if (e.name.endsWith('.summary.txt')) found.push(path.relative(vectorsDir, path.join(dir, e.name)));
    }
  };
  walk(vectorsDir);
  for (const rel of found) parseSummary(vector(rel));
  const checked = [
    'lenet_iter_100.caffemodel', 'init/lenet_iter_0.caffemodel', 'lenet_iter_100.solverstate',
    'mean_test64.binaryproto', 'mean_train60k.binaryproto',
  ].map((f) => f + '.summary.txt');
  assert.deepEqual(found.filter((f) => !checked.includes(f)), [], 'a summary this test does not check yet');
});

// ---- writing ----
test('writeProtoBinaryAtomic writes the exact bytes and leaves no temp file', () => {
  const dir = scratchDir();
  try {
    const net = readProtoBinary(vector('lenet_iter_100.caffemodel'), 'NetParameter');
    const out = path.join(dir, 'sub', 'copy.caffemodel');
    writeProtoBinaryAtomic(out, 'NetParameter', net);
    assert.ok(readFileSync(out).equals(readFileSync(vector('lenet_iter_100.caffemodel'))));
    assert.deepEqual(readdirSync(path.dirname(out)), ['copy.caffemodel']);
    // A message built from plain properties, with the legacy 4D shape and double data.
    const blob = createMessage('BlobProto', { num: 1, channels: 2, height: 1, width: 2, double_data: [0.1, 2, -3, 4.5] });
    writeProtoBinaryAtomic(path.join(dir, 'b.binaryproto'), 'BlobProto', blob);
    const back = readProtoBinary(path.join(dir, 'b.binaryproto'), 'BlobProto');
    assert.deepEqual(blobProtoShape(back), [1, 2, 1, 2]);
    assert.deepEqual([...blobProtoData(back)], [Math.fround(0.1), 2, -3, 4.5]);
  } finally {
    removeDir(dir);
  }
});

test('blob helpers follow Blob::FromProto', () => {
  const nd = createMessage('BlobProto', { shape: { dim: [2, 3] }, data: [1, 2, 3, 4, 5, 6], diff: [0, 0, 0, 0, 0, 1] });
  assert.deepEqual(blobProtoShape(nd), [2, 3]);
  assert.deepEqual([...blobProtoDiff(nd)!], [0, 0, 0, 0, 0, 1]);
  assert.deepEqual(blobProtoShape(createMessage('BlobProto', { shape: { dim: [] }, data: [7] })), []);
  // Legacy dims win when any of them is set (unset ones read 0), as in Caffe.
  assert.deepEqual(blobProtoShape(createMessage('BlobProto', { shape: { dim: [6] }, num: 6 })), [6, 0, 0, 0]);
  const bad = createMessage('BlobProto', { shape: { dim: [2, 2] }, data: [1, 2, 3] });
  assert.throws(() => blobProtoData(bad, 'w.caffemodel conv1'), /w\.caffemodel conv1: BlobProto data has 3 values but shape \[2, 2\] needs 4/);
});

// ---- bad input ----
test('truncated caffemodels are refused with the file named', () => {
  const dir = scratchDir();
  try {
    const bytes = readFileSync(vector('lenet_iter_100.caffemodel'));
    const cuts = [1, 2, 5, 6, 40, 200, 1000, 4096, 100_000, 862_000, 1_600_000, bytes.length - 100, bytes.length - 5, bytes.length - 1];
    for (const n of cuts) {
      const f = path.join(dir, 'lenet.caffemodel');
      writeFileSync(f, bytes.subarray(0, n));
      assert.throws(
        () => readProtoBinary(f, 'NetParameter'),
        (e: Error) => e.message.startsWith(`${f}: not a valid caffe.NetParameter (truncated`) && !e.message.includes('\n'),
        `cut at ${n}`,
      );
    }
    // A sweep of cut points (every ~1000th byte, plus the first and last 100) with the in-memory decoder.
    // Only a cut exactly between two top-level fields is a valid (shorter) NetParameter on the wire, as it is for
    // Caffe: every other cut must be refused.
    const boundaries = topLevelBoundaries(bytes);
    assert.equal(boundaries.length, 9, 'between name and 9 layers');
    const decoded: number[] = [];
    for (let n = 1; n < bytes.length; n += n < 100 || n > bytes.length - 100 ? 1 : 997) {
      try {
        decodeProtoBinary(bytes.subarray(0, n), 'NetParameter', 'x');
        decoded.push(n);
      } catch (e) {
        assert.match((e as Error).message, /^x: not a valid caffe\.NetParameter \(truncated or corrupt data/);
      }
    }
    assert.deepEqual(decoded, boundaries.filter((b) => b < 100 || b > bytes.length - 100), 'cuts that decoded');
    const afterName = decodeProtoBinary(bytes.subarray(0, 7), 'NetParameter', 'x');
    assert.equal(afterName.name, 'LeNet');
    assert.equal(afterName.layer!.length, 0);
    // Truncated solver state and mean file, too.
    const ss = readFileSync(vector('lenet_iter_100.solverstate'));
    assert.throws(() => decodeProtoBinary(ss.subarray(0, ss.length - 3), 'SolverState', 's.solverstate'), /^Error: s\.solverstate: not a valid caffe\.SolverState \(truncated/);
    const mean = readFileSync(vector('mean_test64.binaryproto'));
    assert.throws(() => decodeProtoBinary(mean.subarray(0, 3000), 'BlobProto', 'm.binaryproto'), /^Error: m\.binaryproto: not a valid caffe\.BlobProto \(truncated/);
  } finally {
    removeDir(dir);
  }
});

test('text, empty, missing and non-protobuf files are refused with the file named', () => {
  const prototxt = vector('lenet_train_test.prototxt');
  assert.throws(() => readProtoBinary(prototxt, 'NetParameter'), (e: Error) => {
    assert.match(e.message, /^\/.*lenet_train_test\.prototxt: not a valid caffe\.NetParameter \(.*looks like a text file/);
    return true;
  });
  assert.throws(() => readProtoBinary(vector('lenet_solver_100.prototxt'), 'SolverState'), /lenet_solver_100\.prototxt: not a valid caffe\.SolverState/);
  const dir = scratchDir();
  try {
    const empty = path.join(dir, 'empty.caffemodel');
    writeFileSync(empty, '');
    assert.throws(() => readProtoBinary(empty, 'NetParameter'), new RegExp(`^Error: ${escapeRe(empty)}: not a valid caffe\\.NetParameter \\(empty file\\)$`));
    assert.equal(readProtoBinary(empty, 'NetParameter', { allowEmpty: true }).layer!.length, 0);
    const junk = path.join(dir, 'junk.binaryproto');
    writeFileSync(junk, Uint8Array.of(0xf8, 0x01, 0x00)); // one varint field #31: nothing BlobProto knows
    assert.throws(() => readProtoBinary(junk, 'BlobProto'), /junk\.binaryproto: not a valid caffe\.BlobProto \(no BlobProto field found/);
    const missing = path.join(dir, 'nope.caffemodel');
    assert.throws(() => readProtoBinary(missing, 'NetParameter'), new RegExp(`^Error: ${escapeRe(missing)}: cannot read caffe\\.NetParameter \\(no such file\\)$`));
    assert.throws(() => readProtoBinary(dir, 'NetParameter'), /is a directory/);
  } finally {
    removeDir(dir);
  }
});

test('fields unknown to caffe.proto (files of Caffe forks) are reported and written back', () => {
  // A LayerParameter with name "x" and an unknown field #200 (varint 5), as an SSD-fork model would have.
  const bytes = Uint8Array.of(0xa2, 0x06, 0x06, 0x0a, 0x01, 0x78, 0xc0, 0x0c, 0x05);
  const net = decodeProtoBinary(bytes, 'NetParameter', 'fork.caffemodel');
  assert.equal(net.layer![0]!.name, 'x');
  assert.deepEqual(findUnknownFields(net, 'NetParameter'), ['layer[0]: unknown field 200']);
  assert.deepEqual([...encodeMessage('NetParameter', net)], [...bytes]);
});
