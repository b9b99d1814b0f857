// The ImageData layer (Caffe's ImageDataLayer): image list parsing, decoding in Caffe's channel order, resizing,
// transform, wrap-around with the restart log line, shuffle, prefetch of the next batch, and errors that name the file.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { PNG } from 'pngjs';
import { Net } from '../src/net/net.js';
import { TEST } from '../src/layers/layer.js';
import { parseTextProto } from '../src/proto/textformat.js';
import type { NetParameter } from '../src/proto/types.generated.js';
import { setLogSink, setQuiet } from '../src/util/log.js';
import { setRandomSeed } from '../src/util/rng.js';
import { scratchDir } from './helpers.js';
import { digit, labels, pngOf } from './inference_helpers.js';

let dir = '';
before(() => {
  setQuiet(true);
  dir = scratchDir('tscaffe-imagedata-');
  mkdirSync(path.join(dir, 'img'));
  // five MNIST test digits as grey PNGs, listed with their labels (one path with a space in it)
  const names = ['a.png', 'b.png', 'c d.png', 'e.png', 'f.png'];
  names.forEach((n, i) => writeFileSync(path.join(dir, 'img', n), pngOf(digit(i), 28, 28)));
  writeFileSync(path.join(dir, 'list.txt'), names.map((n, i) => `${n} ${labels[i]}`).join('\n') + '\n');
  // a colour image R=10 G=20 B=30, 6x4, and a flat grey 10x10 one
  const colour = new PNG({ width: 6, height: 4 });
  for (let i = 0; i < 24; i++) colour.data.set([10, 20, 30, 255], i * 4);
  writeFileSync(path.join(dir, 'img', 'colour.png'), PNG.sync.write(colour, { colorType: 2 }));
  writeFileSync(path.join(dir, 'img', 'flat.png'), pngOf(new Uint8Array(100).fill(100), 10, 10));
  writeFileSync(path.join(dir, 'colour.txt'), 'colour.png 3\nflat.png 4\n');
});

function net(param: string, transform = ''): Promise<Net> {
  return Net.create(parseTextProto<NetParameter>(`name: "n"
layer { name: "d" type: "ImageData" top: "data" top: "label" ${transform}
  image_data_param { root_folder: "${path.join(dir, 'img')}/" ${param} } }`, 'NetParameter'), TEST, { verbose: false });
}

test('grey PNGs: the pixels and labels of the list, in order, wrapping around with Caffe\'s restart line', async () => {
  const lines: string[] = [];
  setQuiet(false);
  const prev = setLogSink({ write: (l) => void lines.push(l) });
  try {
    const n = await net(`source: "${path.join(dir, 'list.txt')}" batch_size: 3 is_color: false`, 'transform_param { scale: 0.5 }');
    const data = n.blobByName('data')!, label = n.blobByName('label')!;
    assert.deepEqual(data.shape, [3, 1, 28, 28]);
    for (const batch of [[0, 1, 2], [3, 4, 0], [1, 2, 3]]) {
      await n.forward();
      batch.forEach((img, i) => {
        const want = Array.from(digit(img), (v) => v * 0.5);
        assert.deepEqual(Array.from(data.data.subarray(i * 784, (i + 1) * 784)), want, `image ${img}`);
        assert.equal(label.data[i], labels[img]);
      });
    }
    assert.ok(lines.some((l) => l.includes('A total of 5 images.')));
    // 3 batches used and a 4th being read ahead: 12 images, the list of 5 wrapped around twice
    assert.equal(lines.filter((l) => l.includes('Restarting data prefetching from start.')).length, 2);
    await n.close();
  } finally {
    setLogSink(prev);
    setQuiet(true);
  }
});

test('colour in BGR order, grey conversion, resize to new_height x new_width', async () => {
  let n = await net(`source: "${path.join(dir, 'colour.txt')}" batch_size: 1 new_height: 5 new_width: 7`);
  await n.forward();
  const d = n.blobByName('data')!;
  assert.deepEqual(d.shape, [1, 3, 5, 7]);
  assert.deepEqual([d.data[0], d.data[35], d.data[70]], [30, 20, 10]); // B, G, R planes
  assert.ok(d.data.subarray(0, 35).every((v) => v === 30));
  await n.forward(); // the grey image, resized from 10x10, stays flat
  assert.ok(d.data.every((v) => v === 100));
  assert.equal(n.blobByName('label')!.data[0], 4);
  await n.close();
  n = await net(`source: "${path.join(dir, 'colour.txt')}" batch_size: 1 is_color: false new_height: 4 new_width: 6`);
  await n.forward();
  // OpenCV's BT.601 weights: 0.299 R + 0.587 G + 0.114 B = 18.15 -> 18
  assert.ok(n.blobByName('data')!.data.every((v) => v === 18));
  await n.close();
});

test('shuffle: every image once per pass, in a seeded order', async () => {
  const orders: number[][] = [];
  for (let run = 0; run < 2; run++) {
    setRandomSeed(5);
    const n = await net(`source: "${path.join(dir, 'list.txt')}" batch_size: 5 shuffle: true is_color: false`);
    await n.forward();
    orders.push(Array.from(n.blobByName('label')!.data));
    await n.close();
  }
  assert.deepEqual([...orders[0]!].sort(), [...labels.slice(0, 5)].sort());
  assert.deepEqual(orders[0], orders[1]);
});

test('errors name the list file and line, or the image', async () => {
  const bad = path.join(dir, 'bad.txt');
  writeFileSync(bad, 'a.png 1\nb.png seven\n');
  await assert.rejects(net(`source: "${bad}"`), new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:2: expected '<image path> <integer label>'`));
  await assert.rejects(net(`source: "${path.join(dir, 'none.txt')}"`), /none\.txt: cannot read the image list/);
  await assert.rejects(net(`source: "${path.join(dir, 'list.txt')}" new_height: 5`), /new_height and new_width must be set together/);
  const missing = path.join(dir, 'missing.txt');
  writeFileSync(missing, 'a.png 1\nghost.png 2\n');
  const n = await net(`source: "${missing}" batch_size: 2`);
  await assert.rejects(n.forward(), /ghost\.png: cannot read the image \(ENOENT\)/);
  await n.close();
  const mixed = path.join(dir, 'mixed.txt');
  writeFileSync(mixed, 'a.png 1\nflat.png 2\n');
  const m = await net(`source: "${mixed}" batch_size: 2 is_color: false`);
  await assert.rejects(m.forward(), /flat\.png is 10x10, the batch's images give 1x28x28/);
  await m.close();
  rmSync(bad);
});
