// Every layer case of layer_cases.ts run as a WebGPU net runs it (the layer's device path where it has one, else the
// host path with its blobs synced) against the TypeScript reference; the layer types listed in DEVICE_TYPES must have
// a device path (so that losing one fails here). Without an adapter the tests skip, saying why; under CI (CI=true)
// that is a failure instead, since .ci/run installs the packages that give one.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createBackend, setBackend } from '../src/backend/backend.js';
import { adapterFoundTest, noAdapter, useTestDevice } from './webgpu_helpers.js';
import { createLayer } from '../src/layers/layer.js';
import { hasDevicePath } from '../src/net/device_pass.js';
import { parseTextProto } from '../src/proto/textformat.js';
import type { LayerParameter } from '../src/proto/types.generated.js';
import { CASES, compare, prepareCaseFiles, removeCaseFiles, runCase, typeOf } from './layer_cases.js';

/** Layer types that run on the device in a WebGPU net. */
const DEVICE_TYPES = ['Accuracy', 'Convolution', 'Deconvolution', 'Flatten', 'InnerProduct', 'Pooling', 'ReLU', 'Reshape', 'Silence',
  'Softmax', 'SoftmaxWithLoss', 'Split',
  'AbsVal', 'BNLL', 'Clip', 'Dropout', 'ELU', 'Exp', 'Log', 'Power', 'PReLU', 'Sigmoid', 'Swish', 'TanH', 'Threshold',
  'Bias', 'Concat', 'Eltwise', 'EuclideanLoss', 'Scale', 'Slice', 'BatchNorm', 'LRN'];

const ts = createBackend('ts');
setBackend(ts);
const t = useTestDevice();
before(prepareCaseFiles);
after(removeCaseFiles);

adapterFoundTest('webgpu layers');

test('webgpu layers: the listed types have device paths', () => {
  const missing = DEVICE_TYPES.filter((t) => {
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
