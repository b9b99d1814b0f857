// The Data layer on Caffe's own databases: values, labels, transform_param (scale, crop, mirror, mean), wrap-around.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { Blob } from '../src/blob/blob.js';
import { readIdxImages, readIdxLabels } from '../src/io/idx.js';
import { readProtoBinary } from '../src/proto/io.js';
import type { BlobProto } from '../src/proto/types.generated.js';
import type { Layer } from '../src/layers/layer.js';
import { setQuiet } from '../src/util/log.js';
import { makeLayer } from './gradient_checker.js';
import { copyVector, vector } from './helpers.js';

let lmdb = '', leveldb = '';
const images = () => readIdxImages(vector('idx64/first64-t10k-images-idx3-ubyte'));
const labels = () => readIdxLabels(vector('idx64/first64-t10k-labels-idx1-ubyte'));
before(() => {
  setQuiet(true);
  lmdb = copyVector('mnist_test64_lmdb');
  leveldb = copyVector('mnist_test64_leveldb');
});

async function dataLayer(source: string, backend: number, batch: number, transform: object, phase = 1) {
  const layer = makeLayer({ name: 'mnist', type: 'Data', top: ['data', 'label'], transform_param: transform,
    data_param: { source, batch_size: batch, backend } }, phase);
  await layer.init();
  const tops = [new Blob(), new Blob()];
  layer.setUp([], tops);
  const next = async () => { await layer.prefetch(); layer.forward([], tops); return tops; };
  return { layer, tops, next };
}

async function closeLayer(l: Layer) { await l.close(); }

test('LMDB and LevelDB batches equal the IDX images times scale, with their labels, and wrap around', async () => {
  const img = images(), lab = labels();
  for (const [src, be] of [[lmdb, 1], [leveldb, 0]] as const) {
    const d = await dataLayer(src, be, 48, { scale: 0.00390625 });
    assert.deepEqual([...d.tops[0]!.shape], [48, 1, 28, 28]);
    let [data, label] = await d.next();
    for (let i = 0; i < 48 * 784; i++) assert.equal(data!.data[i], Math.fround(img.pixels[i]! * 0.00390625));
    assert.deepEqual([...label!.data], [...lab.labels.slice(0, 48)]);
    [data, label] = await d.next();
    // 16 remaining records, then the cursor wraps to the first 32.
    assert.deepEqual([...label!.data], [...lab.labels.slice(48, 64), ...lab.labels.slice(0, 32)]);
    assert.equal(data!.data[16 * 784 + 200], Math.fround(img.pixels[200]! * 0.00390625));
    await closeLayer(d.layer);
  }
});

test('crop_size crops the centre in TEST; mean_file and mean_value are subtracted before scaling', async () => {
  const img = images();
  const crop = await dataLayer(lmdb, 1, 2, { crop_size: 20 });
  const [c] = await crop.next();
  assert.deepEqual([...c!.shape], [2, 1, 20, 20]);
  for (let y = 0; y < 20; y++) for (let x = 0; x < 20; x++) assert.equal(c!.data[y * 20 + x], img.pixels[(y + 4) * 28 + x + 4]);
  await closeLayer(crop.layer);
  const mean = new Blob();
  mean.fromProto(readProtoBinary<BlobProto>(vector('mean_test64.binaryproto'), 'BlobProto'));
  const mf = await dataLayer(lmdb, 1, 1, { mean_file: vector('mean_test64.binaryproto'), scale: 0.5 });
  const [m] = await mf.next();
  for (let i = 0; i < 784; i++) assert.equal(m!.data[i], Math.fround(Math.fround(img.pixels[i]! - mean.data[i]!) * 0.5));
  await closeLayer(mf.layer);
  const mv = await dataLayer(lmdb, 1, 1, { mean_value: [100] });
  const [v] = await mv.next();
  for (let i = 0; i < 784; i++) assert.equal(v!.data[i], img.pixels[i]! - 100);
  await closeLayer(mv.layer);
  await assert.rejects(dataLayer(lmdb, 1, 1, { mean_value: [1], mean_file: 'x' }), /Cannot specify mean_file and mean_value/);
});

test('mirror in TRAIN flips some images left-right and leaves the rest; random crops stay inside the image', async () => {
  const img = images();
  const d = await dataLayer(lmdb, 1, 64, { mirror: true }, 0);
  const [data] = await d.next();
  let flipped = 0, same = 0;
  for (let n = 0; n < 64; n++) {
    let isSame = true, isFlip = true;
    for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) {
      const out = data!.data[n * 784 + y * 28 + x]!;
      if (out !== img.pixels[n * 784 + y * 28 + x]) isSame = false;
      if (out !== img.pixels[n * 784 + y * 28 + 27 - x]) isFlip = false;
    }
    assert.ok(isSame || isFlip, `image ${n} is neither original nor mirrored`);
    if (isFlip && !isSame) flipped++;
    if (isSame && !isFlip) same++;
  }
  assert.ok(flipped > 10 && same > 10, `flipped ${flipped}, kept ${same}`);
  await closeLayer(d.layer);
});
