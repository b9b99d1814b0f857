// Every registered layer type (the cases of layer_cases.ts), side by side under the TypeScript reference backend and
// the wasm backend (one thread, both SIMD builds; two threads with large GEMMs always split), every top, bottom
// gradient, parameter and parameter gradient compared element-wise. A registered type without a case fails the coverage
// test. WindowData, MemoryData and Python are not registered layers in tscaffe, so the coverage test will ask for a case
// if one is added.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createBackend } from '../src/backend/backend.js';
import { createWasmBackend, type WasmBackend } from '../src/backend/wasm/index.js';
import { layerTypes } from '../src/layers/layer.js';
import { CASES, N, compare, prepareCaseFiles, removeCaseFiles, runCase, typeOf } from './layer_cases.js';

before(prepareCaseFiles);
after(removeCaseFiles);

const ts = createBackend('ts');
const wasm1 = createWasmBackend({ threads: 1 });
const wasmPlain = createWasmBackend({ threads: 1, simd: 'simd' });
// adaptive: false splits every large GEMM over the threads (no timing-based choice), so the threaded path is taken.
const wasm2 = createWasmBackend({ threads: 2, adaptive: false });
const WASMS: Array<[string, WasmBackend]> = [['wasm 1 thread', wasm1], ['wasm simd128 1 thread', wasmPlain], ['wasm 2 threads', wasm2]];

test('every registered layer type has a case', () => {
  const covered = new Set(CASES.map(typeOf));
  const missing = layerTypes().filter((t) => !covered.has(t));
  assert.deepEqual(missing, [], `registered layer types without a case in test/layers_backends.test.ts: ${missing.join(', ')}`);
  const unknown = [...covered].filter((t) => !layerTypes().includes(t));
  assert.deepEqual(unknown, [], 'cases for unregistered types');
});

for (const type of [...new Set(CASES.map(typeOf))]) {
  test(`${type}: wasm (1 and 2 threads) matches the ts reference`, async () => {
    await wasm2.ready();
    for (const c of CASES.filter((k) => typeOf(k) === type)) {
      const want = await runCase(c, ts);
      for (const [name, be] of WASMS) {
        const split = be.stats.parallelGemms;
        const got = await runCase(c, be);
        compare(got, want, `${c.proto.slice(0, 120)} [${name}]`);
        if (c.parallel && be === wasm2) assert.ok(be.stats.parallelGemms > split, `${c.proto}: no GEMM was split over the threads`);
      }
      if (!c.noBackward && c.bottoms(N).length) {
        // The comparison must not be vacuous: the reference computed some non-zero gradient (Silence: exactly zero,
        // over the stale values).
        const diffs = want.filter((r) => / diff$/.test(r.what));
        if (c.zeroGrad) assert.ok(diffs.length && diffs.every((r) => r.values.every((v) => v === 0)), `${c.proto}: gradients not zero`);
        else assert.ok(diffs.some((r) => r.values.some((v) => v !== 0)), `${c.proto}: all gradients zero`);
      }
    }
  });
}
