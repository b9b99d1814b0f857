// Shared by the inference tests: Caffe's LeNet with its iteration-100 weights (../shared/vectors), the first 64 MNIST
// test digits and their labels, and PNG encoding of a digit.
import { PNG } from 'pngjs';
import type { NetParameter } from '../src/proto/types.generated.js';
import { readNetParamsFromTextFile } from '../src/proto/upgrade.js';
import { readProtoBinary } from '../src/proto/io.js';
import { readIdxImages, readIdxLabels } from '../src/io/idx.js';
import { vector } from './helpers.js';

export const SCALE = 0.00390625;
export const trainTestFile = vector('prototxt-corpus', 'lenet_train_test.prototxt');
export const weightsFile = vector('lenet_iter_100.caffemodel');
export const trainTest = (): NetParameter => readNetParamsFromTextFile<NetParameter>(trainTestFile);
export const weights = (): NetParameter => readProtoBinary<NetParameter>(weightsFile, 'NetParameter');

const images = readIdxImages(vector('idx64', 'first64-t10k-images-idx3-ubyte'));
export const labels = readIdxLabels(vector('idx64', 'first64-t10k-labels-idx1-ubyte')).labels;
export const DIGITS = images.count;

/** Digit i's 28x28 pixels (0-255). */
export function digit(i: number): Uint8Array {
  return images.pixels.subarray(i * 784, (i + 1) * 784);
}

/** Digit i as the LeNet input (pixels * 1/256 in float32, as the data layer's transform gives it). */
export function digitTensor(i: number): Float32Array {
  return Float32Array.from(digit(i), (v) => v * SCALE);
}

/** A PNG of a grey image (colorType 0), RGB (2) or RGBA (6); every channel carries the grey value. */
export function pngOf(gray: Uint8Array, w: number, h: number, colorType: 0 | 2 | 6 = 0): Buffer {
  const png = new PNG({ width: w, height: h });
  for (let i = 0; i < w * h; i++) png.data.set([gray[i]!, gray[i]!, gray[i]!, 255], i * 4);
  return PNG.sync.write(png, { colorType });
}

export function argmax(a: ArrayLike<number>): number {
  let k = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! > a[k]!) k = i;
  return k;
}

/** Softmax in float64 (the reference for the net's Softmax). */
export function softmax(x: ArrayLike<number>): number[] {
  let m = -Infinity;
  for (let i = 0; i < x.length; i++) m = Math.max(m, x[i]!);
  const e = Array.from(x, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}
