// The Convolution and Deconvolution device paths over several batches of images (TSCAFFE_CONV_CHUNK set low: one or
// two images per batch, with a remainder), against the TypeScript reference: the batches' offsets into the blobs and
// the column buffer, and the weight gradient accumulated over batches. layers_webgpu.test.ts runs the same cases with
// the whole batch at once. Without an adapter the tests skip (under CI that is a failure).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

// The chunk size is read when conv_base loads: set it before anything imports the layers.
process.env.TSCAFFE_CONV_CHUNK = '50';
const { createBackend, setBackend } = await import('../src/backend/backend.js');
const { findGpuAdapters, requestGpuDevice } = await import('../src/backend/webgpu/device.js');
const { WebGpuDevice } = await import('../src/backend/webgpu/gpu_device.js');
const { CASES, compare, prepareCaseFiles, removeCaseFiles, runCase, typeOf } = await import('./layer_cases.js');

const ts = createBackend('ts');
setBackend(ts);
const adapters = await findGpuAdapters();
const noAdapter = adapters.length === 0 ? 'no WebGPU adapter here' : false;
let gpu: InstanceType<typeof WebGpuDevice>;

before(async () => {
  await prepareCaseFiles();
  if (noAdapter) return;
  gpu = new WebGpuDevice(await requestGpuDevice(adapters[0]!), adapters[0]!.description);
});
after(() => {
  removeCaseFiles();
  gpu?.destroy();
});

for (const type of ['Convolution', 'Deconvolution']) {
  test(`webgpu ${type}: batches of images match the ts reference`, { skip: noAdapter && !process.env.CI ? noAdapter : false }, async () => {
    assert.ok(!noAdapter, noAdapter || '');
    const cases = CASES.filter((c) => typeOf(c) === type && !c.parallel);
    assert.ok(cases.length > 0);
    for (const c of cases) {
      const want = await runCase(c, ts);
      gpu.device.pushErrorScope('validation');
      const got = await runCase(c, ts, gpu);
      assert.equal((await gpu.device.popErrorScope())?.message, undefined, `${c.proto}: WebGPU validation error`);
      compare(got, want, `${c.proto.slice(0, 120)} [webgpu, batches]`);
    }
  });
}
