import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import { openDb, type Backend } from '../src/io/db.js';
import { convertMnistData, convertMnistDataCommand } from '../src/tools/convert_mnist_data.js';
import { computeImageMean, computeImageMeanCommand } from '../src/tools/compute_image_mean.js';
import { ensureMnistLmdb, mnistIdxFiles, type MnistIdxFiles } from '../src/tools/data_mnist.js';
import { parseFlags } from '../src/cli/flags.js';
import { main } from '../src/cli/main.js';
import { setLogSink, setQuiet } from '../src/util/log.js';
import { vector, copyVector, scratchDir } from './helpers.js';

const IMAGES = vector('idx64', 'first64-t10k-images-idx3-ubyte');
const LABELS = vector('idx64', 'first64-t10k-labels-idx1-ubyte');
const CAFFE: Record<Backend, string> = { lmdb: 'mnist_test64_lmdb', leveldb: 'mnist_test64_leveldb' };

/** Run fn with log lines captured (message text after the glog prefix). */
async function captureLog<T>(fn: () => Promise<T>): Promise<{ result: T; lines: string[] }> {
  const lines: string[] = [];
  setQuiet(false);
  const prev = setLogSink({ write: (l) => void lines.push(l.replace(/^\S+ \S+ +\d+ /, '').trimEnd()) });
  try {
    return { result: await fn(), lines };
  } finally {
    setLogSink(prev);
    setQuiet(true);
  }
}
setQuiet(true);

async function records(dir: string, backend: Backend): Promise<[string, Buffer][]> {
  const db = await openDb(dir, backend, 'read', { quiet: true });
  const out: [string, Buffer][] = [];
  const cur = await db.newCursor();
  for (; cur.valid(); await cur.next()) out.push([cur.key().toString('latin1'), cur.value()]);
  await db.close();
  return out;
}

/** No leftovers (temp build dirs) beside the target. */
function assertOnly(dir: string, names: string[]): void {
  assert.deepEqual(readdirSync(dir).sort(), [...names].sort());
}

for (const backend of ['lmdb', 'leveldb'] as const) {
  test(`convert_mnist_data --backend=${backend}: same records as Caffe, Caffe's log lines`, async (t) => {
    const out = scratchDir();
    const db = path.join(out, `mine_${backend}`);
    const args = parseFlags([IMAGES, LABELS, db, `--backend=${backend}`], convertMnistDataCommand.flags);
    const { result, lines } = await captureLog(() => convertMnistDataCommand.run(args));
    assert.equal(result, 0);
    assert.deepEqual(lines, [
      `db_${backend}.cpp:${backend === 'lmdb' ? 35 : 18}] Opened ${backend} ${db}`,
      'convert_mnist_data.cpp:88] A total of 64 items.',
      'convert_mnist_data.cpp:89] Rows: 28 Cols: 28',
      'convert_mnist_data.cpp:108] Processed 64 files.',
    ]);
    assertOnly(out, [`mine_${backend}`]);
    // Whole-file identity is not required; report it (it holds with node-lmdb's LMDB 0.9 and classic-level's LevelDB).
    // Checked before reading: opening a LevelDB replays its log into new files.
    const file = backend === 'lmdb' ? 'data.mdb' : '000003.log';
    const same = readFileSync(path.join(db, file)).equals(readFileSync(vector(CAFFE[backend], file)));
    t.diagnostic(`${file} byte-identical to Caffe's: ${same}`);
    const caffe = copyVector(CAFFE[backend]);
    const mine = await records(db, backend);
    const theirs = await records(caffe, backend);
    assert.equal(mine.length, 64);
    assert.deepEqual(mine, theirs);
  });
}

test('compute_image_mean: the same BlobProto bytes as Caffe, from LMDB and LevelDB', async () => {
  const want = readFileSync(vector('mean_test64.binaryproto'));
  const out = scratchDir();
  const meanFile = path.join(out, 'mean.binaryproto');
  const lm = copyVector('mnist_test64_lmdb');
  const args = parseFlags([lm, meanFile], computeImageMeanCommand.flags);
  const { result, lines } = await captureLog(() => computeImageMeanCommand.run(args));
  assert.equal(result, 0);
  assert.ok(readFileSync(meanFile).equals(want), 'mean bytes differ from Caffe');
  assert.deepEqual(lines.slice(1), [
    'compute_image_mean.cpp:74] Starting iteration',
    'compute_image_mean.cpp:109] Processed 64 files.',
    `compute_image_mean.cpp:116] Write to ${meanFile}`,
    'compute_image_mean.cpp:122] Number of channels: 1',
    'compute_image_mean.cpp:127] mean_value channel [0]: 29.2535',
  ]);
  const ld = copyVector('mnist_test64_leveldb');
  const m = await computeImageMean(ld, 'leveldb');
  assert.ok(Buffer.from(m.blobProto).equals(want));
  assert.equal(m.count, 64);
  assert.equal(m.mean.length, 784);
  assertOnly(out, ['mean.binaryproto']);
  await assert.rejects(computeImageMean(ld, 'lmdb'), /no LMDB database here \(missing data\.mdb\); is it a LevelDB\? use --backend=leveldb/);
  await assert.rejects(computeImageMean(path.join(out, 'missing_lmdb')), /missing_lmdb: no such database/);
});

test('convert_mnist_data reads gzip IDX files', async () => {
  const dir = scratchDir();
  const gi = path.join(dir, 'images.gz');
  const gl = path.join(dir, 'labels-gzipped');
  writeFileSync(gi, gzipSync(readFileSync(IMAGES)));
  writeFileSync(gl, gzipSync(readFileSync(LABELS)));
  const db = path.join(dir, 'gz_lmdb');
  assert.equal(await convertMnistData(gi, gl, db), 64);
  assert.deepEqual(await records(db, 'lmdb'), await records(copyVector('mnist_test64_lmdb'), 'lmdb'));
});

test('convert_mnist_data: bad input fails with one line naming the file, and leaves no output', async () => {
  const dir = scratchDir();
  const db = path.join(dir, 'out_lmdb');
  // swapped files: wrong magic
  await assert.rejects(convertMnistData(LABELS, IMAGES, db), /first64-t10k-labels-idx1-ubyte: not an IDX image file \(magic 0x00000801 = 2049, expected 2051/);
  // mismatched counts
  const l63 = path.join(dir, 'labels63');
  const b = Buffer.from(readFileSync(LABELS).subarray(0, 8 + 63));
  b.writeUInt32BE(63, 4);
  writeFileSync(l63, b);
  for (const backend of ['lmdb', 'leveldb'] as const) {
    await assert.rejects(convertMnistData(IMAGES, l63, db, { backend }), /has 64 images but .*labels63 has 63 labels/);
  }
  // missing input
  await assert.rejects(convertMnistData(path.join(dir, 'nope'), LABELS, db), /nope: no such file/);
  assertOnly(dir, ['labels63']);

  // an existing database is never overwritten (LMDB or LevelDB, or any path)
  const existing = copyVector('mnist_test64_lmdb');
  const before = readFileSync(path.join(existing, 'data.mdb'));
  await assert.rejects(convertMnistData(IMAGES, LABELS, existing), /mnist_test64_lmdb: already exists/);
  await assert.rejects(convertMnistData(IMAGES, LABELS, existing, { backend: 'leveldb' }), /already exists/);
  assert.ok(readFileSync(path.join(existing, 'data.mdb')).equals(before));
  assertOnly(path.dirname(existing), ['mnist_test64_lmdb']);
});

test('tscaffe CLI: usage errors and a bad --backend exit 1', async () => {
  const errs: string[] = [];
  const orig = process.stderr.write.bind(process.stderr);
  (process.stderr as { write: unknown }).write = (s: string) => (errs.push(String(s)), true);
  try {
    assert.equal(await main(['convert_mnist_data', IMAGES, LABELS]), 1);
    assert.equal(await main(['convert_mnist_data', IMAGES, LABELS, path.join(scratchDir(), 'x'), '--backend=rocksdb']), 1);
    assert.equal(await main(['compute_image_mean']), 1);
    assert.equal(await main(['data', 'cifar10', '/tmp/x']), 1);
  } finally {
    (process.stderr as { write: unknown }).write = orig;
  }
  const text = errs.join('');
  assert.match(text, /expected 3 arguments/);
  assert.match(text, /unknown database backend 'rocksdb'/);
  assert.match(text, /unknown data set 'cifar10'/);
});

test('data mnist: builds both LMDBs from an injected source, then skips complete ones', async () => {
  const src: MnistIdxFiles = { trainImages: IMAGES, trainLabels: LABELS, testImages: IMAGES, testLabels: LABELS };
  const out = path.join(scratchDir(), 'mnist');
  const { train, test: testDb } = await ensureMnistLmdb(out, { source: src, progress: false });
  assert.equal(train, path.join(out, 'mnist_train_lmdb'));
  assert.equal(testDb, path.join(out, 'mnist_test_lmdb'));
  const caffe = readFileSync(vector('mnist_test64_lmdb', 'data.mdb'));
  assert.ok(readFileSync(path.join(train, 'data.mdb')).equals(caffe));
  const { lines } = await captureLog(() => ensureMnistLmdb(out, { source: src }));
  assert.deepEqual(lines, [
    `data_mnist.ts:0] ${train} already exists with 64 records; skipping`,
    `data_mnist.ts:0] ${testDb} already exists with 64 records; skipping`,
  ]);
  assertOnly(out, ['mnist_test_lmdb', 'mnist_train_lmdb']);
  // an incomplete database is reported, not overwritten
  const t10k = mnistIdxFiles();
  await assert.rejects(ensureMnistLmdb(out, { source: { ...src, testImages: t10k.testImages } }), /mnist_test_lmdb: exists but holds 64 records, expected 10000/);
});

test('data mnist: the real 10k test set converts to the exact data.mdb Caffe makes', async (t) => {
  const files = mnistIdxFiles();
  for (const f of Object.values(files)) assert.ok(existsSync(f), f);
  const dir = path.join(scratchDir(), 'mnist_test_lmdb');
  const t0 = Date.now();
  assert.equal(await convertMnistData(files.testImages, files.testLabels, dir, { progress: false }), 10000);
  t.diagnostic(`10k conversion: ${Date.now() - t0} ms`);
  const sha = createHash('sha256').update(readFileSync(path.join(dir, 'data.mdb'))).digest('hex');
  assert.equal(sha, 'afc82c0ea78d6e6f3f5f159e4dcc335d9cc178ed558c6924d05aac8b386c9b43');
  const db = await openDb(dir, 'lmdb', 'read', { quiet: true });
  assert.equal(await db.count(), 10000);
  await db.close();
});
