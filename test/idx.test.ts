import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import { readIdxImages, readIdxLabels, readIdxHeader, readIdxPair } from '../src/io/idx.js';
import { vector, scratchDir } from './helpers.js';

const IMAGES = vector('idx64', 'first64-t10k-images-idx3-ubyte');
const LABELS = vector('idx64', 'first64-t10k-labels-idx1-ubyte');
export const IDX64_LABELS = '7 2 1 0 4 1 4 9 5 9 0 6 9 0 1 5 9 7 3 4 9 6 6 5 4 0 7 4 0 1 3 1 3 4 7 2 7 1 2 1 1 7 4 2 3 5 1 2 4 4 6 3 5 5 6 0 4 1 9 5 7 8 9 3'
  .split(' ')
  .map(Number);

test('reads the idx64 images and labels', () => {
  const im = readIdxImages(IMAGES);
  assert.equal(im.count, 64);
  assert.equal(im.rows, 28);
  assert.equal(im.cols, 28);
  assert.equal(im.pixels.length, 64 * 784);
  assert.ok(Buffer.from(im.pixels).equals(readFileSync(IMAGES).subarray(16)));
  const lb = readIdxLabels(LABELS);
  assert.equal(lb.count, 64);
  assert.deepEqual([...lb.labels], IDX64_LABELS);
  assert.deepEqual(readIdxHeader(IMAGES), { kind: 'images', count: 64, rows: 28, cols: 28 });
  assert.deepEqual(readIdxHeader(LABELS), { kind: 'labels', count: 64, rows: 0, cols: 0 });
});

test('gzip IDX files are detected by their magic bytes, not their name', () => {
  const dir = scratchDir();
  const gzImages = path.join(dir, 'images-no-gz-suffix');
  const gzLabels = path.join(dir, 'labels.gz');
  writeFileSync(gzImages, gzipSync(readFileSync(IMAGES)));
  writeFileSync(gzLabels, gzipSync(readFileSync(LABELS)));
  assert.ok(Buffer.from(readIdxImages(gzImages).pixels).equals(readIdxImages(IMAGES).pixels));
  assert.ok(Buffer.from(readIdxLabels(gzLabels).labels).equals(readIdxLabels(LABELS).labels));
  assert.equal(readIdxHeader(gzImages).count, 64);
});

test('wrong magic, truncation, corrupt gzip and missing files give one line naming the file', () => {
  const dir = scratchDir();
  assert.throws(() => readIdxImages(LABELS), (e: Error) => {
    assert.match(e.message, /first64-t10k-labels-idx1-ubyte: not an IDX image file \(magic 0x00000801 = 2049, expected 2051; it looks like an IDX label file\)/);
    assert.ok(!e.message.includes('\n'));
    return true;
  });
  assert.throws(() => readIdxLabels(IMAGES), /first64-t10k-images-idx3-ubyte: not an IDX label file \(magic 0x00000803 = 2051, expected 2049/);

  const trunc = path.join(dir, 'trunc-images');
  writeFileSync(trunc, readFileSync(IMAGES).subarray(0, 16 + 63 * 784 + 5));
  assert.throws(() => readIdxImages(trunc), /trunc-images: truncated IDX image file \(header says 64 images of 28x28 = 50176 bytes, but only 49397 bytes follow\)/);
  const truncL = path.join(dir, 'trunc-labels');
  writeFileSync(truncL, readFileSync(LABELS).subarray(0, 40));
  assert.throws(() => readIdxLabels(truncL), /trunc-labels: truncated IDX label file \(header says 64 labels, but only 32 bytes follow\)/);
  const tiny = path.join(dir, 'tiny');
  writeFileSync(tiny, Buffer.from([0, 0]));
  assert.throws(() => readIdxImages(tiny), /tiny: not an IDX image file \(only 2 bytes/);

  const badGz = path.join(dir, 'bad.gz');
  const gz = gzipSync(readFileSync(IMAGES));
  writeFileSync(badGz, gz.subarray(0, gz.length >> 1));
  assert.throws(() => readIdxImages(badGz), /bad\.gz: corrupt or truncated gzip data/);

  const text = path.join(dir, 'notes.txt');
  writeFileSync(text, 'hello world, not mnist');
  assert.throws(() => readIdxImages(text), /notes\.txt: not an IDX image file \(magic 0x68656c6c/);
  assert.throws(() => readIdxHeader(text), /notes\.txt: not an IDX file/);

  assert.throws(() => readIdxImages(path.join(dir, 'nope')), /nope: no such file/);
  assert.throws(() => readIdxImages(dir), /is a directory/);
});

test('readIdxPair refuses mismatched counts', () => {
  const dir = scratchDir();
  const labels63 = path.join(dir, 'labels63');
  const b = Buffer.from(readFileSync(LABELS).subarray(0, 8 + 63));
  b.writeUInt32BE(63, 4);
  writeFileSync(labels63, b);
  assert.throws(() => readIdxPair(IMAGES, labels63), /has 64 images but .*labels63 has 63 labels: the counts must match/);
  const { images, labels } = readIdxPair(IMAGES, LABELS);
  assert.equal(images.count, labels.count);
});
