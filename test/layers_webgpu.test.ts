// Every layer case of layer_cases.ts run as a WebGPU net runs it (the layer's device path where it has one, else the
// host path with its blobs synced) against the TypeScript reference; every registered type but the host sources
// (HOST_TYPES) must have a device path (so that losing one, or adding a layer without one, fails here). Without an
// adapter the tests skip, saying why; under CI (CI=true) that is a failure instead, since .ci/run installs the packages
// that give one.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createBackend, setBackend } from '../src/backend/backend.js';
import { adapterFoundTest, noAdapter, useTestDevice } from './webgpu_helpers.js';
import { createLayer, layerTypes } from '../src/layers/layer.js';
import { hasDevicePath } from '../src/net/device_pass.js';
import { parseTextProto } from '../src/proto/textformat.js';
import type { LayerParameter } from '../src/proto/types.generated.js';
import { CASES, compare, prepareCaseFiles, removeCaseFiles, runCase, typeOf } from './layer_cases.js';

/**
 * The layer types that run on the host in a WebGPU net: sources that read files or fill on the host (their outputs go
 * up when a device layer reads them). Every other registered type must have a device path.
 */
const HOST_TYPES = ['Data', 'DummyData', 'HDF5Data', 'HDF5Output', 'ImageData'];

const ts = createBackend('ts');
setBackend(ts);
const t = useTestDevice();
before(prepareCaseFiles);
after(removeCaseFiles);

adapterFoundTest('webgpu layers');

test('webgpu layers: every registered type but the host sources has a device path', () => {
  const missing = layerTypes().filter((t) => {
    if (HOST_TYPES.includes(t)) return false;
    const c = CASES.find((k) => typeOf(k) === t);
    assert.ok(c, `no case for ${t}`);
    return !hasDevicePath(createLayer(parseTextProto<LayerParameter>(`name: "l" ${c.proto}`, 'LayerParameter')));
  });
  assert.deepEqual(missing, []);
});

for (const type of [...new Set(CASES.map(typeOf))]) {
  test(`webgpu layers: ${type} matches the ts reference`, { skip: noAdapter || false }, async () => {
    for (const c of CASES.filter((k) => typeOf(k) === type)) {
      const want = await runCase(c, ts);
      const gpu = t.gpu;
      gpu.device.pushErrorScope('validation');
      const got = await runCase(c, ts, gpu);
      const invalid = await gpu.device.popErrorScope();
      assert.equal(invalid?.message, undefined, `${c.proto}: WebGPU validation error`);
      compare(got, want, `${c.proto.slice(0, 120)} [webgpu]`);
    }
  });
}
