// HDF5 support against real Caffe's HDF5 files (../shared/vectors/hdf5): weights (.caffemodel.h5), solver states
// (.solverstate.h5), HDF5 snapshots, and the HDF5Data / HDF5Output layers.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync, mkdirSync, existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { runLogged } from './cli_capture.js';
import { setLogSink, setQuiet } from '../src/util/log.js';
import { Net } from '../src/net/net.js';
import { Blob } from '../src/blob/blob.js';
import { copyTrainedLayersFromFile } from '../src/net/weights.js';
import { Classifier } from '../src/inference/classifier.js';
import { loadHdf5, openHdf5, readFloatDataset, writeFloatDataset, writeHdf5Atomic, type H5File } from '../src/io/hdf5.js';
import { createLayer } from '../src/layers/layer.js';
import '../src/layers/index.js';
import { parseTextProto } from '../src/proto/textformat.js';
import { readProtoBinary } from '../src/proto/io.js';
import { readNetParamsFromTextFile } from '../src/proto/upgrade.js';
import type { LayerParameter, NetParameter } from '../src/proto/types.generated.js';
import { protoShape } from '../src/blob/blob.js';
import type { Dataset } from 'h5wasm/node';
import { mnistWorkDir, removeDir, vector } from './helpers.js';

let work = '';
const cwd = process.cwd();

before(async () => {
  work = await mnistWorkDir('tscaffe-hdf5-', ['lenet_train_test.prototxt', 'lenet_solver_100_hdf5.prototxt', 'lenet_iter_100.caffemodel', 'lenet_iter_100.solverstate']);
  mkdirSync(path.join(work, 'hdf5'));
  for (const f of ['lenet_iter_100.caffemodel.h5', 'lenet_iter_100.solverstate.h5']) cpSync(vector('hdf5', f), path.join(work, 'hdf5', f));
  process.chdir(work);
  await loadHdf5();
});
after(() => {
  process.chdir(cwd);
  removeDir(work);
});

const run = runLogged;

const msgOf = (l: string) => l.slice(l.indexOf('] ') + 2);

/** An h5ls -r style listing of a file: "/path Group" or "/path Dataset {d0, d1}" ({SCALAR} for a scalar). */
function listing(file: string): string[] {
  const f = openHdf5(file);
  const out = ['/ Group'];
  const walk = (p: string) => {
    for (const k of (f.get(p || '/') as unknown as { keys(): string[] }).keys()) {
      const full = `${p}/${k}`;
      const e = f.get(full) as unknown as { type: string; shape?: number[] | null };
      if (e.type === 'Group') {
        out.push(`${full} Group`);
        walk(full);
      } else out.push(`${full} Dataset {${e.shape?.length ? e.shape.join(', ') : 'SCALAR'}}`);
    }
  };
  try {
    walk('');
  } finally {
    f.close();
  }
  return out;
}

const caffeListing = (name: string) =>
  readFileSync(vector('hdf5', `${name}.ls.txt`), 'utf8').split('\n').filter(Boolean).map((l) => l.trim().replace(/\s+/, ' '));

function lossLines(lines: string[]): string[] {
  return lines.map(msgOf).filter((l) => /^Iteration \d+.*loss = |Test net output|Train net output/.test(l))
    .map((l) => l.replace(/\(.* iter\/s, .*s\/\d+ iters\), /, ''));
}

test('Caffe\'s .caffemodel.h5 loads exactly the blobs of Caffe\'s binary .caffemodel', async () => {
  const np = readNetParamsFromTextFile<NetParameter>('lenet_train_test.prototxt');
  const a = await Net.create(np, 1, { verbose: false });
  const b = await Net.create(np, 1, { verbose: false });
  try {
    const lines: string[] = [];
    const prev = setLogSink({ write: (l) => lines.push(msgOf(l.trimEnd())) });
    try {
      await copyTrainedLayersFromFile(a, 'hdf5/lenet_iter_100.caffemodel.h5');
    } finally {
      setLogSink(prev);
    }
    // Caffe logs the datatype class of the first dataset it loads (LOG_FIRST_N), as its test log shows.
    assert.deepEqual(lines, ['Datatype class: H5T_FLOAT']);
    await copyTrainedLayersFromFile(b, 'lenet_iter_100.caffemodel');
    let n = 0;
    a.layers.forEach((l, i) => l.blobs.forEach((blob, j) => {
      assert.deepEqual(blob.data, b.layers[i]!.blobs[j]!.data, `${a.layerNames[i]} blob ${j}`);
      n++;
    }));
    assert.equal(n, 8);
    // and those are the binary file's own values (not left at the fillers' in both)
    const bin = readProtoBinary<NetParameter>('lenet_iter_100.caffemodel', 'NetParameter');
    const ip2 = bin.layer!.find((l) => l.name === 'ip2')!.blobs![0]!;
    assert.deepEqual(protoShape(ip2), [10, 500]);
    assert.deepEqual(a.layerByName('ip2')!.blobs[0]!.data, Float32Array.from(ip2.data!));
  } finally {
    await a.close();
    await b.close();
  }
});

test('the inference Classifier loads .caffemodel.h5 weights: the same probabilities as with the binary .caffemodel', async () => {
  const input = Float32Array.from({ length: 784 }, (_, i) => ((i * 37) % 256) / 256);
  const probs = async (weights: string) => {
    const c = await Classifier.load({ model: 'lenet_train_test.prototxt', weights });
    try {
      return (await c.runBatch([input]))[0]!;
    } finally {
      await c.close();
    }
  };
  const h5 = await probs('hdf5/lenet_iter_100.caffemodel.h5');
  assert.equal(h5.length, 10);
  assert.deepEqual(h5, await probs('lenet_iter_100.caffemodel'));
});

test('`test -weights X.caffemodel.h5` reproduces Caffe\'s accuracy and loss on the MNIST test set', async () => {
  const r = await run(['test', '-model', 'lenet_train_test.prototxt', '-weights', 'hdf5/lenet_iter_100.caffemodel.h5', '-iterations', '10']);
  assert.equal(r.code, 0);
  const want = readFileSync(vector('hdf5/test_iter100_h5_full10k_first1000.log'), 'utf8').split('\n')
    .filter((l) => /caffe\.cpp:(304|309|321)\]/.test(l)).map(msgOf);
  assert.equal(want.length, 23);
  assert.deepEqual(r.lines.map(msgOf).filter((l) => /^(Batch \d+, |Loss: |accuracy = |loss = )/.test(l)), want);
});

test('an HDF5 snapshot has the layout of Caffe\'s and round-trips through restore', async () => {
  writeFileSync('s_h5.prototxt', readFileSync('lenet_solver_100_hdf5.prototxt', 'utf8')
    .replace('max_iter: 100', 'max_iter: 3').replace('snapshot: 100', 'snapshot: 0').replace('hdf5/lenet', 'ours/lenet')
    .replace('test_interval: 50', 'test_interval: 1000'));
  const r = await run(['train', '-solver', 's_h5.prototxt']);
  assert.equal(r.code, 0);
  const msgs = r.lines.map(msgOf);
  assert.ok(msgs.includes('Snapshotting to HDF5 file ours/lenet_iter_3.caffemodel.h5'));
  assert.ok(msgs.includes('Snapshotting solver state to HDF5 file ours/lenet_iter_3.solverstate.h5'));
  assert.deepEqual(listing('ours/lenet_iter_3.caffemodel.h5'), caffeListing('lenet_iter_100.caffemodel.h5'));
  assert.deepEqual(listing('ours/lenet_iter_3.solverstate.h5'), caffeListing('lenet_iter_100.solverstate.h5'));
  assert.deepEqual(readdirSync('ours').sort(), ['lenet_iter_3.caffemodel.h5', 'lenet_iter_3.solverstate.h5']); // no temp files left
  // Values, read the same way from Caffe's state and ours: iter, current_step, learned_net.
  const state = (file: string) => {
    const f = openHdf5(file);
    try {
      const v = (name: string) => (f.get(name) as Dataset).value;
      return { iter: v('iter'), step: v('current_step'), net: v('learned_net') };
    } finally {
      f.close();
    }
  };
  const theirs = state('hdf5/lenet_iter_100.solverstate.h5');
  assert.deepEqual(theirs, { iter: Int32Array.of(100), step: Int32Array.of(0), net: 'hdf5/lenet_iter_100.caffemodel.h5' });
  assert.deepEqual(state('ours/lenet_iter_3.solverstate.h5'), { iter: Int32Array.of(3), step: Int32Array.of(0), net: 'ours/lenet_iter_3.caffemodel.h5' });
  // Round trip: resuming our snapshot to iteration 3 writes the same weights and history back.
  mkdirSync('again');
  writeFileSync('s_again.prototxt', readFileSync('s_h5.prototxt', 'utf8').replace('ours/lenet', 'again/lenet'));
  const r2 = await run(['train', '-solver', 's_again.prototxt', '-snapshot', 'ours/lenet_iter_3.solverstate.h5']);
  assert.equal(r2.code, 0);
  const blobs = (file: string, group: string) => {
    const f = openHdf5(file);
    try {
      const g = f.get(group) as unknown as { keys(): string[] };
      return g.keys().flatMap((k) => {
        const e = f.get(`${group}/${k}`) as unknown as { type: string; keys?: () => string[] };
        const paths = e.type === 'Group' ? e.keys!().map((j) => `${group}/${k}/${j}`) : [`${group}/${k}`];
        return paths.map((p) => [p, readFloatDataset(f, p, file).data] as const);
      });
    } finally {
      f.close();
    }
  };
  const w1 = blobs('ours/lenet_iter_3.caffemodel.h5', 'data'), w2 = blobs('again/lenet_iter_3.caffemodel.h5', 'data');
  assert.equal(w1.length, 8);
  assert.deepEqual(w2, w1);
  assert.deepEqual(blobs('again/lenet_iter_3.solverstate.h5', 'history'), blobs('ours/lenet_iter_3.solverstate.h5', 'history'));
});

test('`train -weights X.caffemodel.h5` starts from those weights (an HDF5 snapshot at iteration 0 holds them again)', async () => {
  writeFileSync('s_w0.prototxt', readFileSync('lenet_solver_100_hdf5.prototxt', 'utf8')
    .replace('max_iter: 100', 'max_iter: 0').replace('snapshot: 100', 'snapshot: 0').replace('hdf5/lenet', 'w0/lenet'));
  const r = await run(['train', '-solver', 's_w0.prototxt', '-weights', 'hdf5/lenet_iter_100.caffemodel.h5']);
  assert.equal(r.code, 0);
  // the test pass at iteration 0 scores Caffe's iteration-100 weights on the first 1000 test images
  assert.ok(r.lines.map(msgOf).includes('    Test net output #0: accuracy = 0.908'));
  const datasets = (file: string) => {
    const f = openHdf5(file);
    try {
      const layers = (f.get('data') as unknown as { keys(): string[] }).keys();
      return layers.flatMap((l) => (f.get(`data/${l}`) as unknown as { keys(): string[] }).keys()
        .map((j) => [`${l}/${j}`, readFloatDataset(f, `data/${l}/${j}`, file)] as const));
    } finally {
      f.close();
    }
  };
  const ours = datasets('w0/lenet_iter_0.caffemodel.h5');
  assert.equal(ours.length, 8);
  assert.deepEqual(ours, datasets('hdf5/lenet_iter_100.caffemodel.h5'));
});

test('resuming Caffe\'s .solverstate.h5 continues exactly like resuming its binary .solverstate', async () => {
  const solver = (prefix: string) => readFileSync('lenet_solver_100_hdf5.prototxt', 'utf8')
    .replace('max_iter: 100', 'max_iter: 106').replace('snapshot: 100', 'snapshot: 0').replace('display: 10', 'display: 1')
    .replace('hdf5/lenet', prefix).replace('snapshot_format: HDF5', '');
  writeFileSync('r_h5.prototxt', solver('rh5/lenet'));
  writeFileSync('r_bin.prototxt', solver('rbin/lenet'));
  const h = await run(['train', '-solver', 'r_h5.prototxt', '-snapshot', 'hdf5/lenet_iter_100.solverstate.h5']);
  const b = await run(['train', '-solver', 'r_bin.prototxt', '-snapshot', 'lenet_iter_100.solverstate']);
  assert.equal(h.code, 0);
  assert.equal(b.code, 0);
  const lh = lossLines(h.lines), lb = lossLines(b.lines);
  assert.ok(lh.filter((l) => /^Iteration 10[1-6]/.test(l)).length >= 6, lh.join('\n'));
  assert.deepEqual(lh, lb);
  // The test pass at iteration 100 starts at image 0, as `caffe test` does: Caffe's 0.908 / 0.287151.
  assert.ok(lh.includes('    Test net output #0: accuracy = 0.908'), lh.join('\n'));
});

/** A small HDF5 file with the given float64 "data" rows (2 x 3 each) and int32 "label" rows. */
function writeRows(file: string, first: number, n: number): void {
  writeHdf5Atomic(file, (f: H5File) => {
    f.create_dataset({ name: 'data', data: Float64Array.from({ length: n * 6 }, (_, i) => first * 6 + i + 0.5), shape: [n, 2, 3] });
    f.create_dataset({ name: 'label', data: Int32Array.from({ length: n }, (_, i) => first + i), shape: [n] });
  });
}

async function hdf5DataLayer(proto: string): Promise<{ forward: () => [number[], number[]]; top: Blob[]; close: () => Promise<void> }> {
  const layer = createLayer(parseTextProto<LayerParameter>(`name: "d" type: "HDF5Data" top: "data" top: "label" ${proto}`, 'LayerParameter'));
  await layer.init();
  const top = [new Blob(), new Blob()];
  layer.setUp([], top);
  return {
    top,
    forward: () => {
      layer.forward([], top);
      return [[...top[0]!.data], [...top[1]!.data]];
    },
    close: () => layer.close(),
  };
}

test('HDF5Data reads a list of files across file boundaries and wraps around', async () => {
  mkdirSync('h5d');
  writeRows('h5d/a.h5', 0, 3);
  writeRows('h5d/b.h5', 3, 2);
  writeFileSync('h5d/list.txt', 'h5d/a.h5\n  h5d/b.h5\n');
  const l = await hdf5DataLayer('hdf5_data_param { source: "h5d/list.txt" batch_size: 4 }');
  try {
    assert.deepEqual(l.top[0]!.shape, [4, 2, 3]);
    assert.deepEqual(l.top[1]!.shape, [4]);
    const rowsOf = (labels: number[]) => labels.flatMap((r) => Array.from({ length: 6 }, (_, i) => r * 6 + i + 0.5));
    // 5 rows in two files, 4 per batch: rows 0-3, then 4,0,1,2 (wrapped to the first file), then 3,4,0,1.
    for (const want of [[0, 1, 2, 3], [4, 0, 1, 2], [3, 4, 0, 1]]) {
      const [data, label] = l.forward();
      assert.deepEqual(label, want);
      assert.deepEqual(data, rowsOf(want));
    }
  } finally {
    await l.close();
  }
  // shuffle: each batch is still whole rows with their own labels, and every row comes once per pass
  writeFileSync('h5d/one.txt', 'h5d/a.h5');
  const s = await hdf5DataLayer('hdf5_data_param { source: "h5d/one.txt" batch_size: 3 shuffle: true }');
  const [data, label] = s.forward();
  assert.deepEqual([...label].sort(), [0, 1, 2]);
  assert.deepEqual(data, label.flatMap((r) => Array.from({ length: 6 }, (_, i) => r * 6 + i + 0.5)));
  await s.close();
});

test('HDF5Data errors name the file and the dataset', async () => {
  writeHdf5Atomic('h5d/nolabel.h5', (f) => writeFloatDataset(f, 'data', [2, 1], Float32Array.of(1, 2)));
  writeFileSync('h5d/nolabel.txt', 'h5d/nolabel.h5');
  await assert.rejects(hdf5DataLayer('hdf5_data_param { source: "h5d/nolabel.txt" batch_size: 1 }'), /h5d\/nolabel\.h5: no dataset 'label'/);
  writeFileSync('h5d/noth5.h5', 'not an hdf5 file');
  writeFileSync('h5d/bad.txt', 'h5d/noth5.h5');
  await assert.rejects(hdf5DataLayer('hdf5_data_param { source: "h5d/bad.txt" batch_size: 1 }'), /h5d\/noth5\.h5: cannot open as an HDF5 file/);
  await assert.rejects(hdf5DataLayer('hdf5_data_param { source: "h5d/missing.txt" batch_size: 1 }'), /Failed to open source file: h5d\/missing\.txt/);
  writeRows('h5d/c.h5', 0, 2);
  writeHdf5Atomic('h5d/short.h5', (f) => {
    writeFloatDataset(f, 'data', [3, 6], new Float32Array(18));
    writeFloatDataset(f, 'label', [2], new Float32Array(2));
  });
  writeFileSync('h5d/short.txt', 'h5d/short.h5');
  await assert.rejects(hdf5DataLayer('hdf5_data_param { source: "h5d/short.txt" batch_size: 1 }'), /dataset 'label' has 2 items, 'data' has 3/);
});

test('HDF5Output writes its bottoms as "data" and "label"', async () => {
  const layer = createLayer(parseTextProto<LayerParameter>('name: "out" type: "HDF5Output" bottom: "d" bottom: "l" hdf5_output_param { file_name: "out/o.h5" }', 'LayerParameter'));
  await layer.init();
  const data = new Blob([2, 3]), label = new Blob([2]);
  data.data.set([1, 2, 3, 4, 5, 6]);
  label.data.set([7, 8]);
  layer.setUp([data, label], []);
  assert.ok(existsSync('out/o.h5'));
  layer.forward([data, label], []);
  const f = openHdf5('out/o.h5');
  try {
    const d = readFloatDataset(f, 'data', 'out/o.h5'), l = readFloatDataset(f, 'label', 'out/o.h5');
    assert.deepEqual(d.shape, [2, 3, 1, 1]);
    assert.deepEqual([...d.data], [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(l.shape, [2, 1, 1, 1]);
    assert.deepEqual([...l.data], [7, 8]);
  } finally {
    f.close();
  }
  assert.throws(() => layer.forward([data, new Blob([3])], []), /same num \(2 vs 3\)/);
});

test('HDF5 weight errors name the file, the layer and the blob', async () => {
  setQuiet(true);
  try {
    const np = readNetParamsFromTextFile<NetParameter>('lenet_train_test.prototxt');
    const net = await Net.create(np, 1, { verbose: false });
    try {
      writeHdf5Atomic('bad_w.h5', (f) => {
        const g = f.create_group('data').create_group('ip2');
        writeFloatDataset(g, '0', [10, 499], new Float32Array(4990));
      });
      await assert.rejects(copyTrainedLayersFromFile(net, 'bad_w.h5'), /bad_w\.h5: Cannot load blob 0 of layer 'ip2' from hdf5; dataset shape 10 499 and blob shape 10 500/);
      writeHdf5Atomic('nodata.h5', () => undefined);
      await assert.rejects(copyTrainedLayersFromFile(net, 'nodata.h5'), /nodata\.h5: no group 'data'/);
      await assert.rejects(copyTrainedLayersFromFile(net, 'missing.caffemodel.h5'), /missing\.caffemodel\.h5: no such file/);
      // a layer of the file the net lacks is skipped; a layer with fewer datasets than blobs is an error
      writeHdf5Atomic('extra.h5', (f) => {
        const d = f.create_group('data');
        d.create_group('not_in_net');
        writeFloatDataset(d.create_group('ip2'), '0', [10, 500], new Float32Array(5000).fill(0.25));
      });
      await assert.rejects(copyTrainedLayersFromFile(net, 'extra.h5'), /extra\.h5: Incompatible number of blobs for layer ip2 \(no dataset 'data\/ip2\/1'\)/);
    } finally {
      await net.close();
    }
  } finally {
    setQuiet(false);
  }
});
