// Caffe's weight fillers: each fills with the distribution Caffe's filler.hpp defines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Blob } from '../src/blob/blob.js';
import { fillBlob } from '../src/util/filler.js';
import { createMessage } from '../src/proto/caffe.js';
import type { FillerParameter } from '../src/proto/types.generated.js';
import { Mt19937, setRandomSeed } from '../src/util/rng.js';

const fill = (shape: number[], p: object) => {
  setRandomSeed(1701);
  const b = new Blob(shape);
  fillBlob(b, createMessage<FillerParameter>('FillerParameter', p));
  return b.data;
};
const stats = (d: Float32Array) => {
  let s = 0, q = 0, mn = Infinity, mx = -Infinity;
  for (const v of d) { s += v; q += v * v; mn = Math.min(mn, v); mx = Math.max(mx, v); }
  const mean = s / d.length;
  return { mean, std: Math.sqrt(q / d.length - mean * mean), min: mn, max: mx };
};

test('constant, uniform and gaussian fillers', () => {
  assert.ok(fill([3, 4], { type: 'constant', value: 2.5 }).every((v) => v === 2.5));
  const u = stats(fill([200, 100], { type: 'uniform', min: -2, max: 3 }));
  assert.ok(u.min >= -2 && u.max < 3 && Math.abs(u.mean - 0.5) < 0.05 && Math.abs(u.std - 5 / Math.sqrt(12)) < 0.02);
  const g = stats(fill([200, 100], { type: 'gaussian', mean: 1, std: 0.5 }));
  assert.ok(Math.abs(g.mean - 1) < 0.02 && Math.abs(g.std - 0.5) < 0.01, JSON.stringify(g));
});

test('sparse gaussian keeps about `sparse` non-zero inputs per output', () => {
  const d = fill([100, 200], { type: 'gaussian', std: 1, sparse: 20 });
  const nz = d.filter((v) => v !== 0).length / 100;
  assert.ok(Math.abs(nz - 20) < 2, `non-zeros per output ${nz}`);
});

test('xavier and msra scale by fan-in, fan-out or their average', () => {
  // Blob 50 x 20 x 5 x 5: fan_in = 500, fan_out = 50 * 25 = 1250.
  const x = stats(fill([50, 20, 5, 5], { type: 'xavier' }));
  const bound = Math.sqrt(3 / 500);
  assert.ok(x.max <= bound && x.min >= -bound && x.max > 0.95 * bound);
  const xo = stats(fill([50, 20, 5, 5], { type: 'xavier', variance_norm: 1 }));
  assert.ok(xo.max <= Math.sqrt(3 / 1250) && xo.max > 0.95 * Math.sqrt(3 / 1250));
  const xa = stats(fill([50, 20, 5, 5], { type: 'xavier', variance_norm: 2 }));
  assert.ok(xa.max <= Math.sqrt(3 / 875) && xa.max > 0.95 * Math.sqrt(3 / 875));
  const m = stats(fill([50, 20, 5, 5], { type: 'msra' }));
  assert.ok(Math.abs(m.std - Math.sqrt(2 / 500)) < 0.003 && Math.abs(m.mean) < 0.003, JSON.stringify(m));
  const mo = stats(fill([50, 20, 5, 5], { type: 'msra', variance_norm: 1 }));
  assert.ok(Math.abs(mo.std - Math.sqrt(2 / 1250)) < 0.002);
});

test('bilinear gives the upsampling kernel; positive_unitball rows sum to 1', () => {
  const b = fill([1, 1, 4, 4], { type: 'bilinear' });
  // f = 2, c = 0.75: weights (1 - |x/2 - 0.75|) per axis = 0.25 0.75 0.75 0.25.
  const w = [0.25, 0.75, 0.75, 0.25];
  for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) assert.ok(Math.abs(b[y * 4 + x]! - w[y]! * w[x]!) < 1e-6);
  const p = fill([5, 7], { type: 'positive_unitball' });
  for (let r = 0; r < 5; r++) {
    const row = p.subarray(r * 7, r * 7 + 7);
    assert.ok(row.every((v) => v >= 0));
    assert.ok(Math.abs(row.reduce((a, v) => a + v, 0) - 1) < 1e-5);
  }
  assert.throws(() => fill([2], { type: 'nonsense' }), /unknown filler type 'nonsense'/);
});

test('the engine is mt19937 and its distributions are Boost\'s, in float, as Caffe draws them', () => {
  const e = new Mt19937(5489);
  for (let i = 1; i < 10000; i++) e.nextU32();
  assert.equal(e.nextU32(), 4123659995); // the C++ standard's check of mt19937
  // Each distribution against a twin engine's raw draws, by Boost's definitions.
  const a = new Mt19937(1701), twin = new Mt19937(1701);
  for (let i = 0; i < 2000; i++) {
    // uniform_int(0, 2): buckets of floor((2^32 - 1) / 3) draws; the one draw past 3 buckets is redrawn.
    const u = twin.nextU32();
    if (u < 3 * 1431655765) assert.equal(a.uniformInt(0, 2), Math.floor(u / 1431655765));
    else a.nextU32();
    // bernoulli(0.3): the draw rounded to float <= 0.3f * 2^32.
    assert.equal(a.bernoulli(0.3), Math.fround(twin.nextU32()) <= Math.fround(0.3) * 2 ** 32 ? 1 : 0);
    // Caffe's uniform(-1, 1): (float(draw) / 2^32 * (nextafter(1) + 1) - 1) in float, never above 1.
    const v = a.uniform(-1, 1), w = twin.nextU32();
    assert.equal(v, Math.fround(Math.fround(Math.fround(w / 2 ** 32) * Math.fround(1 + 2 ** -23 + 1)) - 1));
    assert.ok(v >= -1 && v <= 1);
  }
  assert.equal(a.bernoulli(0), 0);
});
