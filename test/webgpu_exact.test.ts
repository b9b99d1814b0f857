/// <reference types="@webgpu/types" />
// wgsl/exact.ts's double-float arithmetic on this machine's adapter: the error terms must survive the shader
// compiler (Mesa simplified (a + b) - a to b and zeroed them before df_o), and the corrected division and square root
// must round to nearest as the host does. Expected values come from JavaScript's doubles: a sum or product of two f32
// is exact in a double. Without an adapter the test skips (fails under CI), as the other WebGPU tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { noAdapter, requireAdapter, useTestDevice } from './webgpu_helpers.js';
import { GpuKernels } from '../src/backend/webgpu/kernels.js';
import { DF, DF_INIT } from '../src/backend/webgpu/wgsl/exact.js';
import { ew } from '../src/backend/webgpu/wgsl/shader.js';

let gpu: GpuKernels;
useTestDevice((d) => { gpu = new GpuKernels(d.device); });

test('webgpu exact: two-sum, two-product, rounded division and square root', { skip: requireAdapter }, async () => {
  assert.ok(!noAdapter);
  const n = 4096;
  let seed = 99;
  const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) >>> 8) / 16777216;
  // a in [-2, 2), b of magnitude 1e-6 to 1e2 (sums with small error terms, quotients of any digits)
  const a = Float32Array.from({ length: n }, () => 4 * rand() - 2);
  const b = Float32Array.from({ length: n }, () => (rand() < 0.5 ? -1 : 1) * 10 ** (8 * rand() - 6));
  const k = ew('exact_test', ['a', 'b', 'out'], [], `${DF_INIT}
  let x = $a[i];
  let y = $b[i];
  let s = df_two_sum(x, y);
  let q = df_two_prod(x, y);
  $out[6u * i] = s.x;
  $out[6u * i + 1u] = s.y;
  $out[6u * i + 2u] = q.x;
  $out[6u * i + 3u] = q.y;
  $out[6u * i + 4u] = div_cr(x, y);
  $out[6u * i + 5u] = sqrt_cr(abs(x));`, gpu.wg, DF);
  const out = gpu.createBuffer(6 * n);
  gpu.run1d(k, n, [gpu.upload(a), gpu.upload(b), out], [n, n, 6 * n], []);
  const r = await gpu.download(out, 6 * n);
  let nonzeroSumErrors = 0;
  for (let i = 0; i < n; i++) {
    const x = a[i]!, y = b[i]!, at = `element ${i} (${x}, ${y})`;
    assert.equal(r[6 * i]! + r[6 * i + 1]!, x + y, `two-sum of ${at}`);
    if (r[6 * i + 1] !== 0) nonzeroSumErrors++;
    assert.equal(r[6 * i + 2]! + r[6 * i + 3]!, x * y, `two-product of ${at}`);
    assert.equal(r[6 * i + 4], Math.fround(x / y), `division of ${at}`);
    assert.equal(r[6 * i + 5], Math.fround(Math.sqrt(Math.abs(x))), `square root of ${at}`);
  }
  assert.ok(nonzeroSumErrors > n / 2, `only ${nonzeroSumErrors} of ${n} sums had an error term: were they simplified away?`);
});
