/// <reference types="@webgpu/types" />
// The WebGPU backend on Dawn's Vulkan backend in core mode, what a GPU on Linux gets, through Mesa's lavapipe (a
// software Vulkan driver, fetched by scripts/fetch_lavapipe.sh, which .ci/run calls): what the OpenGL adapter of the
// other WebGPU tests cannot show. Timestamp queries (GPU time per span of dispatches; `tscaffe time -gpu` per layer)
// and LeNet trained with the GEMM kernel GPUs get (tiled in workgroup memory; software adapters get another), against
// the CPU. Without lavapipe the tests skip, saying why; under CI (CI=true) that is a failure.
import { lavapipeIcd, noLavapipe } from './vulkan_env.js';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { findGpuAdapters, isSoftwareAdapter, requestGpuDevice } from '../src/backend/webgpu/device.js';
import { WebGpuDevice } from '../src/backend/webgpu/gpu_device.js';
import { Solver } from '../src/solver/solver.js';
import { setQuiet } from '../src/util/log.js';
import { runLogged } from './cli_capture.js';
import { mnistWorkDir, removeDir } from './helpers.js';
import { adapters, lenetOn, lenetSolver } from './webgpu_helpers.js';

const skip = noLavapipe && !process.env.CI ? noLavapipe : false;
const opened: WebGpuDevice[] = [];
let dir = '';
before(async () => {
  setQuiet(true);
  if (!noLavapipe) dir = await mnistWorkDir('tscaffe-webgpu-vulkan-');
});
after(() => {
  for (const d of opened) d.destroy(); // else Dawn keeps the process alive
  if (dir) removeDir(dir);
});

/** A device on lavapipe; `asGpu`: with the kernels a hardware adapter gets (WebGpuDevice picks them by the description). */
async function lavapipe(asGpu = false): Promise<WebGpuDevice> {
  const found = (await findGpuAdapters())[0]!; // a fresh adapter: an adapter gives out one device
  const d = found.description;
  const description = asGpu ? { ...d, name: 'Mesa CPU Vulkan driver, GPU kernels', architecture: 'test', fallback: false } : d;
  const gpu = new WebGpuDevice(await requestGpuDevice(found), description);
  opened.push(gpu);
  return gpu;
}

test('vulkan: lavapipe is adapter 0, on Dawn\'s Vulkan backend in core mode, with timestamp queries', { skip }, async () => {
  assert.ok(!noLavapipe, noLavapipe || '');
  const d = adapters[0]?.description;
  assert.ok(d, `no adapter through ${lavapipeIcd}`);
  assert.equal(d.backend, 'vulkan');
  assert.equal(d.featureLevel, 'core');
  assert.ok(isSoftwareAdapter(d), d.name);
  const gpu = await lavapipe();
  assert.ok(gpu.device.features.has('timestamp-query'));
  assert.ok(gpu.kernels.dispatcher.canTime);
});

test('vulkan: timed spans: each span\'s GPU time by label, a span split by an upload counted in both parts', { skip }, async () => {
  const gpu = await lavapipe();
  const k = gpu.kernels, d = k.dispatcher;
  const big = k.createBuffer(1 << 20), small = k.createBuffer(64);
  k.scal(1 << 20, 1.5, big); // before any span: not timed
  d.timeSpan('big');
  for (let i = 0; i < 20; i++) k.axpy(1 << 20, 0.5, big, big);
  d.timeSpan('small');
  k.scal(64, 2, small);
  gpu.upload(new Float32Array(64).fill(1), small); // submits: 'small' goes on in the next submission
  k.scal(64, 2, small);
  const times = await d.spanTimes();
  assert.deepEqual(times.map(([label]) => label), ['big', 'small', 'small']);
  for (const [label, ms] of times) assert.ok(ms >= 0 && ms < 10_000, `${label}: ${ms} ms`);
  assert.ok(times[0]![1] > times[1]![1], `20 passes over 4 MB took ${times[0]![1]} ms, one over 256 bytes ${times[1]![1]} ms`);
  assert.deepEqual(await d.spanTimes(), []);
  assert.deepEqual([...await gpu.download(small, 2)], [2, 2]); // the upload landed before the last kernel
});

test('vulkan: tscaffe time -gpu 0 gives each layer its kernels\' GPU time', { skip }, async () => {
  const model = path.join(dir, 'time_net.prototxt');
  writeFileSync(model, `name: "t"
layer { name: "data" type: "DummyData" top: "data" top: "label" dummy_data_param {
  shape { dim: 16 dim: 1 dim: 28 dim: 28 } shape { dim: 16 } data_filler { type: "gaussian" std: 1 } data_filler { type: "constant" value: 3 } } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" convolution_param { num_output: 8 kernel_size: 5 weight_filler { type: "xavier" } } }
layer { name: "ip" type: "InnerProduct" bottom: "conv" top: "ip" inner_product_param { num_output: 10 weight_filler { type: "xavier" } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }\n`);
  setQuiet(false);
  const r = await runLogged(['time', '-model', model, '-gpu', '0', '-iterations', '3']).finally(() => setQuiet(true));
  assert.equal(r.code, 0, r.lines.join('\n'));
  const log = r.lines.join('\n');
  assert.match(log, /Layer times are their kernels' GPU time \(timestamp queries\)/);
  const ms = (layer: string, pass: string) => Number(new RegExp(`${layer}\\t${pass}: (\\S+) ms`).exec(log)?.[1]);
  for (const layer of ['data', 'conv', 'ip', 'loss']) {
    for (const pass of ['forward', 'backward']) assert.ok(ms(layer, pass) >= 0, `${layer} ${pass}: ${ms(layer, pass)}`);
  }
  assert.ok(ms('conv', 'forward') > 0 && ms('conv', 'backward') > 0 && ms('ip', 'forward') > 0);
  const sum = ['data', 'conv', 'ip', 'loss'].reduce((s, l) => s + ms(l, 'forward'), 0);
  assert.ok(Math.abs(Number(/Average Forward pass: (\S+) ms/.exec(log)?.[1]) - sum) <= 1e-3 * sum + 1e-3, 'forward pass != sum of its layers');
});

test('vulkan: LeNet trained with the GPU GEMM kernels: the CPU\'s start and losses, every iteration within 1%', { skip }, async () => {
  const iters = 30;
  const run = async (devices: WebGpuDevice[]) => {
    const losses: number[] = [];
    const s = await Solver.create(lenetSolver(dir, lenetOn(dir, 16), `max_iter: ${iters}`), { devices, onIteration: (_i, l) => losses.push(l) });
    await s.solve();
    await s.close();
    return losses;
  };
  const cpu = await run([]);
  const gpu = await run([await lavapipe(true)]);
  assert.equal(gpu.length, iters);
  gpu.forEach((l, i) => assert.ok(Math.abs(l - cpu[i]!) <= 0.01 * cpu[i]!, `iteration ${i}: loss ${l} on the device, ${cpu[i]} on the CPU`));
  assert.ok(gpu[iters - 1]! < 0.7 * gpu[0]!, `the loss did not fall: ${gpu[0]} -> ${gpu[iters - 1]}`);
});
