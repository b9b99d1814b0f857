// The Convolution and Deconvolution device paths over several batches of images (TSCAFFE_CONV_CHUNK set low: one or
// two images per batch, with a remainder), against the TypeScript reference: the batches' offsets into the blobs and
// the column buffer, and the weight gradient accumulated over batches. layers_webgpu.test.ts runs the same cases with
// the whole batch at once. Without an adapter the tests skip (under CI that is a failure).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

// The chunk size is read when conv_base loads: set it before anything imports the layers.
process.env.TSCAFFE_CONV_CHUNK = '50';
const { createBackend, setBackend } = await import('../src/backend/backend.js');
const { noAdapter, requireAdapter, useTestDevice } = await import('./webgpu_helpers.js');
const { CASES, compare, prepareCaseFiles, removeCaseFiles, runCase, typeOf } = await import('./layer_cases.js');

const ts = createBackend('ts');
setBackend(ts);
const t = useTestDevice();
before(prepareCaseFiles);
after(removeCaseFiles);

for (const type of ['Convolution', 'Deconvolution']) {
  test(`webgpu ${type}: batches of images match the ts reference`, { skip: requireAdapter }, async () => {
    assert.ok(!noAdapter, noAdapter || '');
    const cases = CASES.filter((c) => typeOf(c) === type && !c.parallel);
    assert.ok(cases.length > 0);
    for (const c of cases) {
      const want = await runCase(c, ts);
      const gpu = t.gpu;
      gpu.device.pushErrorScope('validation');
      const got = await runCase(c, ts, gpu);
      assert.equal((await gpu.device.popErrorScope())?.message, undefined, `${c.proto}: WebGPU validation error`);
      compare(got, want, `${c.proto.slice(0, 120)} [webgpu, batches]`);
    }
  });
}
