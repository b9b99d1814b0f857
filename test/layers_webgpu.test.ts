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

test('webgpu layers: a label out of range fails on the device as on the CPU, naming the layer and the label', { skip: noAdapter || false }, async () => {
  const labelled = CASES.filter((c) => ['SoftmaxWithLoss', 'Accuracy', 'HingeLoss', 'InfogainLoss'].includes(typeOf(c)));
  assert.equal(new Set(labelled.map(typeOf)).size, 4);
  for (const c of labelled) {
    // Labels drawn from [0, 1000): out of range for every case's few classes.
    const bad = { ...c, bottoms: (n: number) => c.bottoms(n).map((s) => (s.kind === 'lab' ? { ...s, classes: 1000 } : s)) };
    const cpu = await runCase(bad, ts).then(() => '', (e: Error) => e.message);
    assert.match(cpu, /^Layer l.*: label \d+ out of range \[0, \d+\)/, c.proto);
    await assert.rejects(runCase(bad, ts, t.gpu), { message: cpu }, c.proto);
  }
});
