import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { readIdxImages, readIdxLabels } from '../src/io/idx.js';
import { decodeDatum, encodeDatum, encodeMnistDatum, datumToFloat32, decodeDatumBatch } from '../src/io/datum.js';
import { openDb, detectBackend, DatumBatchReader, DbError, type Backend } from '../src/io/db.js';
import type { LmdbDb } from '../src/io/lmdb.js';
import { decodeMessage, encodeMessage } from '../src/proto/caffe.js';
import { setQuiet } from '../src/util/log.js';
import { vector, copyVector, scratchDir } from './helpers.js';

setQuiet(true);
const images = readIdxImages(vector('idx64', 'first64-t10k-images-idx3-ubyte'));
const labels = readIdxLabels(vector('idx64', 'first64-t10k-labels-idx1-ubyte'));
const key = (i: number) => String(i).padStart(8, '0');
const pixels = (i: number) => images.pixels.subarray(i * 784, (i + 1) * 784);
const same = (a: Uint8Array, b: Uint8Array) => assert.ok(Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b), 'bytes differ');

test('a MNIST Datum encodes to Caffe 795 bytes and decodes back', () => {
  const v = encodeMnistDatum(pixels(0), 28, 28, labels.labels[0]!);
  assert.equal(v.length, 795);
  assert.deepEqual([...v.subarray(0, 9)], [0x08, 0x01, 0x10, 0x1c, 0x18, 0x1c, 0x22, 0x90, 0x06]);
  assert.deepEqual([...v.subarray(793)], [0x28, 7]);
  const d = decodeDatum(v);
  assert.equal(d.channels, 1);
  assert.equal(d.height, 28);
  assert.equal(d.width, 28);
  assert.equal(d.label, 7);
  same(d.data, pixels(0));
  // protobufjs (the schema) agrees on both directions
  same(encodeMessage('Datum', { channels: 1, height: 28, width: 28, data: pixels(0), label: 7 }), v);
  const pj = decodeMessage<{ label: number; data: Uint8Array }>('Datum', v);
  assert.equal(pj.label, 7);
  same(new Uint8Array(pj.data), pixels(0));
});

test('float_data, negative labels and unknown fields', () => {
  const f = [0.5, -1.25, 3e-8];
  const v = encodeDatum({ channels: 3, height: 1, width: 1, floatData: f, label: -3, encoded: false });
  same(encodeMessage('Datum', { channels: 3, height: 1, width: 1, float_data: f, label: -3, encoded: false }), v);
  const d = decodeDatum(v);
  assert.equal(d.label, -3);
  assert.deepEqual([...d.floatData], f.map(Math.fround));
  assert.deepEqual([...datumToFloat32(d)], f.map(Math.fround));
  // packed float_data and an unknown field (number 99, varint) are accepted
  const packed = Buffer.concat([Buffer.from([0x32, 8]), Buffer.from(new Float32Array([1, 2]).buffer), Buffer.from([0x98, 0x06, 0x05, 0x28, 0x04])]);
  const p = decodeDatum(packed);
  assert.deepEqual([...p.floatData], [1, 2]);
  assert.equal(p.label, 4);
  assert.throws(() => decodeDatum(Buffer.from([0x22, 0x10, 1, 2]), 'rec 7'), /rec 7: not a valid caffe.Datum \(length 16 runs past the end/);
  // signed-char labels like Caffe's convert_mnist_data
  assert.equal(decodeDatum(encodeMnistDatum(pixels(0), 28, 28, 200)).label, -56);
});

async function checkCaffeDb(dir: string, backend: Backend): Promise<void> {
  assert.equal(detectBackend(dir), backend);
  const db = await openDb(dir, backend, 'read');
  assert.equal(await db.count(), 64);
  const cur = await db.newCursor();
  let i = 0;
  for (; cur.valid(); await cur.next(), i++) {
    assert.equal(cur.key().toString(), key(i));
    const v = cur.value();
    assert.equal(v.length, 795);
    same(v, encodeMnistDatum(pixels(i), 28, 28, labels.labels[i]!));
    const d = decodeDatum(v);
    assert.equal(d.label, labels.labels[i]);
    same(d.data, pixels(i));
  }
  assert.equal(i, 64);
  // cursor wraparound via nextRecord
  await cur.seekToFirst();
  const seen: string[] = [];
  for (let k = 0; k < 130; k++) seen.push((await cur.nextRecord()).key.toString());
  assert.equal(seen[63], key(63));
  assert.equal(seen[64], key(0));
  assert.equal(seen[129], key(1));
  await db.close();
}

test("reads Caffe's mnist_test64_lmdb: the idx64 images and labels", () => checkCaffeDb(copyVector('mnist_test64_lmdb'), 'lmdb'));
test("reads Caffe's mnist_test64_leveldb: the idx64 images and labels", () => checkCaffeDb(copyVector('mnist_test64_leveldb'), 'leveldb'));

for (const backend of ['lmdb', 'leveldb'] as const) {
  test(`DatumBatchReader (${backend}): batches in key order, wraparound, queued prefetch`, async () => {
    let restarts = 0;
    const src = copyVector(backend === 'lmdb' ? 'mnist_test64_lmdb' : 'mnist_test64_leveldb');
    const r = await DatumBatchReader.open(src, backend, { onRestart: () => restarts++ });
    // request two batches before awaiting either (prefetch): they must come back in order
    const p1 = r.readBatch(50);
    const p2 = r.readBatch(50);
    const [b1, b2] = await Promise.all([p1, p2]);
    assert.equal(decodeDatum(b1[0]!).label, 7);
    same(decodeDatum(b1[49]!).data, pixels(49));
    same(decodeDatum(b2[13]!).data, pixels(63));
    same(decodeDatum(b2[14]!).data, pixels(0)); // wrapped
    assert.equal(restarts, 1);
    const batch = await r.readDatumBatch(64);
    assert.equal(batch.data.length, 64 * 784);
    assert.equal(batch.labels[0], labels.labels[36]);
    assert.equal(batch.data[28 * 784 + 300], pixels(0)[300]);
    assert.equal(r.position, 164);
    assert.equal(r.epochsCompleted, 2);
    await assert.rejects(r.readBatch(0), /batch size must be positive/);
    await r.close();
  });
}

test('decodeDatumBatch checks shapes', () => {
  const a = encodeMnistDatum(pixels(0), 28, 28, 1);
  const b = encodeDatum({ channels: 1, height: 2, width: 2, data: new Uint8Array(4), label: 0 });
  assert.throws(() => decodeDatumBatch([a, b], 'src'), /src: record 1 of the batch has shape 1x2x2/);
});

test('missing, wrong-kind and non-database paths: one clear line', async () => {
  const lm = copyVector('mnist_test64_lmdb');
  const ld = copyVector('mnist_test64_leveldb');
  const tmp = scratchDir();
  const expectErr = async (p: Promise<unknown>, code: string, re: RegExp) =>
    assert.rejects(p, (e: Error) => {
      assert.ok(e instanceof DbError);
      assert.equal(e.code, code);
      assert.match(e.message, re);
      assert.ok(!e.message.includes('\n'));
      return true;
    });
  await expectErr(openDb(ld, 'lmdb', 'read'), 'wrong-kind', /mnist_test64_leveldb: no LMDB database here \(missing data\.mdb\); is it a LevelDB\? use --backend=leveldb$/);
  await expectErr(openDb(lm, 'leveldb', 'read'), 'wrong-kind', /mnist_test64_lmdb: no LevelDB database here \(missing CURRENT\); is it an LMDB\? use --backend=lmdb$/);
  await expectErr(openDb(path.join(tmp, 'nope'), 'lmdb', 'read'), 'missing', /nope: no such database \(the path does not exist\)/);
  await expectErr(openDb(tmp, 'lmdb', 'read'), 'not-a-db', /no LMDB database here \(missing data\.mdb\)$/);
  writeFileSync(path.join(tmp, 'file'), 'x');
  await expectErr(openDb(path.join(tmp, 'file'), 'leveldb', 'read'), 'not-a-db', /file: not a database directory/);
  await expectErr(openDb(lm, 'lmdb', 'new'), 'exists', /mnist_test64_lmdb: already exists/);
  await expectErr(openDb(ld, 'leveldb', 'new'), 'exists', /already exists/);
  await expectErr(openDb(ld, 'lmdb', 'read', { backendHint: (b) => `set data_param.backend: ${b.toUpperCase()}` }), 'wrong-kind', /set data_param\.backend: LEVELDB$/);
  const junk = path.join(tmp, 'junk_lmdb');
  mkdirSync(junk);
  writeFileSync(path.join(junk, 'data.mdb'), Buffer.alloc(8192, 7));
  await expectErr(openDb(junk, 'lmdb', 'read'), 'invalid', /junk_lmdb: cannot open LMDB \(MDB_INVALID/);
  assert.equal(detectBackend(path.join(tmp, 'nope')), null);
  assert.equal(detectBackend(tmp), null);
});

test('LMDB writer: Caffe-style 1000-record commits grow the 1 MiB map by doubling, file stays dense', async () => {
  const dir = path.join(scratchDir(), 'big_lmdb');
  const db = (await openDb(dir, 'lmdb', 'new')) as unknown as LmdbDb;
  assert.equal(db.mapSize(), 1 << 20);
  const txn = db.newTransaction();
  const n = 3500;
  const val = (i: number) => encodeDatum({ channels: 1, height: 1, width: 1000, data: new Uint8Array(1000).fill(i & 255), label: i });
  for (let i = 0; i < n; i++) {
    txn.put(key(i), val(i));
    if ((i + 1) % 1000 === 0) await txn.commit();
  }
  if (txn.pending) await txn.commit();
  assert.ok(db.mapSize() >= 4 << 20, `map grew to ${db.mapSize()}`);
  await db.close();
  const st = statSync(path.join(dir, 'data.mdb'));
  assert.ok(st.size < 16 << 20, `data.mdb size ${st.size}`);
  assert.ok(st.blocks * 512 <= st.size + (64 << 10), `data.mdb uses ${st.blocks * 512} bytes on disk`);
  const rd = await openDb(dir, 'lmdb', 'read');
  assert.equal(await rd.count(), n);
  const cur = await rd.newCursor();
  for (let i = 0; i < n; i++, await cur.next()) {
    assert.equal(cur.key().toString(), key(i));
    if (i % 500 === 0) assert.equal(decodeDatum(cur.value()).label, i);
  }
  assert.equal(cur.valid(), false);
  await rd.close();
});

test('LevelDB writer and streaming cursor across read-ahead chunks', async () => {
  const dir = path.join(scratchDir(), 'x_leveldb');
  const db = await openDb(dir, 'leveldb', 'new');
  const txn = db.newTransaction();
  for (let i = 999; i >= 0; i--) txn.put(key(i), Buffer.from([i & 255])); // order of puts doesn't matter
  await txn.commit();
  await db.close();
  assert.equal(detectBackend(dir), 'leveldb');
  const rd = await openDb(dir, 'leveldb', 'read');
  assert.equal(await rd.count(), 1000);
  const cur = await rd.newCursor();
  let i = 0;
  for (; cur.valid(); await cur.next(), i++) {
    assert.equal(cur.key().toString(), key(i));
    assert.equal(cur.value()[0], i & 255);
  }
  assert.equal(i, 1000);
  await rd.close();
});
