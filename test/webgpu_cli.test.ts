// The `tscaffe` tool's device selection: device_query lists the adapters; -gpu N and solver_mode: GPU train on
// adapter N and the log names it (solver_mode: GPU skips software adapters); classify -gpu N; a bad -gpu id is an error naming the adapters; with no adapter at all, -gpu warns and
// trains on the CPU. Runs the CLI as a child process (the no-adapter case needs another environment); without an
// adapter here the device cases skip, and under CI (CI=true) that is a failure.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isSoftwareAdapter, vulkanDriverListed } from '../src/backend/webgpu/device.js';
import { deviceLostMessage } from '../src/cli/devices.js';
import { WebGpuDevice } from '../src/backend/webgpu/gpu_device.js';
import { Classifier } from '../src/inference/classifier.js';
import { digit, digitTensor, maxAbsDiff, pngOf, trainTestFile, weightsFile } from './inference_helpers.js';
import { adapters, noAdapter, requireAdapter as skip } from './webgpu_helpers.js';
import { removeDir, repoRoot, scratchDir } from './helpers.js';


let dir = '';
before(() => {
  dir = scratchDir('tscaffe-webgpu-cli-');
});
after(() => removeDir(dir));

function solverFile(extra = ''): string {
  const file = path.join(dir, `solver${extra ? '_gpu' : ''}.prototxt`);
  writeFileSync(file, `net_param { name: "tiny"
  layer { name: "d" type: "DummyData" top: "data" top: "label" dummy_data_param {
    shape { dim: 8 dim: 1 dim: 4 dim: 4 } shape { dim: 8 } data_filler { type: "gaussian" std: 1 } data_filler { type: "constant" value: 1 } } }
  layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param { num_output: 3 weight_filler { type: "xavier" } } }
  layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" } }
base_lr: 0.1 lr_policy: "fixed" max_iter: 4 display: 1 random_seed: 5 snapshot_after_train: false ${extra}\n`);
  return file;
}

function tscaffe(args: string[], env: NodeJS.ProcessEnv = {}): { code: number; log: string; stdout: string } {
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin/tscaffe.js'), ...args], {
    cwd: dir, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 120_000,
  });
  return { code: r.status ?? -1, log: `${r.stdout}${r.stderr}`, stdout: r.stdout };
}

const lossLines = (log: string) => [...log.matchAll(/Iteration (\d+) .*loss = (\S+)/g)].map((m) => `${m[1]} ${Number(m[2]).toFixed(4)}`);

test('device_query lists the adapters with their limits', { skip }, () => {
  assert.ok(!noAdapter, noAdapter || '');
  const r = tscaffe(['device_query']);
  assert.equal(r.code, 0, r.log);
  // The backend is the one Dawn was asked for (Vulkan on Linux, or OpenGL where Vulkan finds nothing), never a guess.
  assert.match(r.log, /Adapter 0: .*; backend (vulkan|metal|d3d12|opengl) \((core|compatibility)[^)]*\); .*maxStorageBufferBindingSize \d+/);
  assert.match(r.log, /Train on one with -gpu N/);
  const gl = tscaffe(['device_query'], { TSCAFFE_WEBGPU_BACKEND: 'opengl' });
  if (gl.code === 0 && /Adapter 0/.test(gl.log)) assert.match(gl.log, /Adapter 0: .*; backend opengl \(compatibility\)/);
});

test('a Vulkan driver manifest is looked for as the Vulkan loader looks: named files, then icd.d folders', async () => {
  const root = path.join(dir, 'icd-root'), icd = path.join(root, 'vulkan', 'icd.d');
  mkdirSync(icd, { recursive: true });
  const env = { HOME: path.join(dir, 'no-home'), XDG_CONFIG_DIRS: root, XDG_DATA_DIRS: root };
  assert.equal(await vulkanDriverListed(env, []), false);
  assert.equal(await vulkanDriverListed({ ...env, VK_DRIVER_FILES: '/x/lvp_icd.json' }, []), true);
  writeFileSync(path.join(icd, 'lvp_icd.json'), '{}');
  assert.equal(await vulkanDriverListed(env, []), true);
  assert.equal(await vulkanDriverListed({ ...env, XDG_DATA_DIRS: path.join(dir, 'none'), XDG_CONFIG_DIRS: path.join(dir, 'none') }, []), false);
});

test('without a Vulkan driver manifest, adapters come from OpenGL with no Vulkan loader errors printed', { skip }, async () => {
  const env = { HOME: dir, XDG_CONFIG_DIRS: dir, XDG_DATA_DIRS: dir, VK_DRIVER_FILES: '', VK_ICD_FILENAMES: '', VK_ADD_DRIVER_FILES: '' };
  const r = tscaffe(['device_query'], env);
  assert.equal(r.code, 0, r.log);
  // Where the system's own folders (/etc, /usr/local/etc) list a driver, Vulkan is tried, as it should be.
  if (await vulkanDriverListed({ ...process.env, ...env })) assert.match(r.log, /Adapter 0: /);
  else {
    assert.doesNotMatch(r.log, /vkCreateInstance|VulkanError/);
    assert.match(r.log, /Adapter 0: .*; backend opengl \(compatibility\)/);
  }
});

test('TSCAFFE_WEBGPU_BACKEND naming no backend is an error that lists them', () => {
  const r = tscaffe(['device_query'], { TSCAFFE_WEBGPU_BACKEND: 'cuda' });
  assert.notEqual(r.code, 0);
  assert.match(r.log, /TSCAFFE_WEBGPU_BACKEND=cuda: not a WebGPU backend \(one of vulkan, metal, d3d12, d3d11, opengl, opengles\)/);
});

test('-gpu 0 and solver_mode: GPU train on adapter 0 (a hardware one, for solver_mode), name it in the log, and match the CPU\'s losses', { skip }, () => {
  const cpu = tscaffe(['train', '-solver', solverFile()]);
  assert.equal(cpu.code, 0, cpu.log);
  assert.match(cpu.log, /Use CPU\./);
  const gpu = tscaffe(['train', '-solver', solverFile(), '-gpu', '0']);
  assert.equal(gpu.code, 0, gpu.log);
  assert.match(gpu.log, /Using GPUs 0\n/);
  assert.match(gpu.log, /GPU 0: Adapter 0: /);
  const mode = tscaffe(['train', '-solver', solverFile('solver_mode: GPU device_id: 0')]);
  assert.equal(mode.code, 0, mode.log);
  // solver_mode: GPU (Caffe's example solvers say it) leaves a software adapter alone; -gpu 0 above uses it.
  if (adapters.every((a) => isSoftwareAdapter(a.description))) assert.match(mode.log, /the only WebGPU adapter is a software one .*: using the CPU/);
  else assert.match(mode.log, /GPU 0: Adapter 0: /);
  assert.equal(lossLines(cpu.log).length, 4);
  assert.deepEqual(lossLines(gpu.log), lossLines(cpu.log));
  assert.deepEqual(lossLines(mode.log), lossLines(cpu.log));
});

test('a -gpu id without an adapter is an error naming the adapters there are', { skip }, () => {
  const r = tscaffe(['train', '-solver', solverFile(), '-gpu', `0,${adapters.length}`]);
  assert.notEqual(r.code, 0);
  assert.match(r.log, new RegExp(`-gpu: no WebGPU adapter '${adapters.length}' \\(found ${adapters.length}: 0\\.\\.${adapters.length - 1}`));
});

test('with no adapter at all, -gpu warns and trains on the CPU', () => {
  // Dawn's OpenGL backend alone, on an EGL platform without a display: nothing is found, whatever drivers are here.
  const r = tscaffe(['train', '-solver', solverFile(), '-gpu', '0'], { TSCAFFE_WEBGPU_BACKEND: 'opengl', EGL_PLATFORM: 'x11', DISPLAY: '' });
  assert.equal(r.code, 0, r.log);
  assert.match(r.log, /GPU requested \(-gpu 0\) but no WebGPU adapter was found .*: using the CPU\./);
  assert.match(r.log, /Use CPU\./);
  assert.equal(lossLines(r.log).length, 4);
});

test('a device lost under training: the message names it, why, and the command that resumes from the last snapshot', () => {
  const ok = { name: 'WebGPU adapter 0 (A)', lostReason: undefined };
  const lost = { name: 'WebGPU adapter 1 (B)', lostReason: 'driver reset' };
  assert.equal(deviceLostMessage([ok], 's.prototxt', 'x_iter_5.solverstate'), undefined);
  assert.equal(deviceLostMessage([ok, lost], 's.prototxt', 'x_iter_5.solverstate'),
    'WebGPU adapter 1 (B) was lost during training (driver reset): training stopped. The last snapshot is intact: resume with: tscaffe train -solver s.prototxt -snapshot x_iter_5.solverstate');
  assert.match(deviceLostMessage([lost], 's.prototxt', undefined)!, /No snapshot was written in this run \(set snapshot: N/);
});

test('classify -gpu 0 and the Classifier on a device give the CPU\'s probabilities', { skip }, async () => {
  assert.ok(!noAdapter, noAdapter || '');
  const files = [0, 1, 2].map((i) => {
    const f = path.join(dir, `digit${i}.png`);
    writeFileSync(f, pngOf(digit(i), 28, 28));
    return f;
  });
  const args = ['classify', '-model', trainTestFile, '-weights', weightsFile, '--json', ...files];
  const cpu = tscaffe(args), gpu = tscaffe([...args, '-gpu', '0']);
  assert.equal(cpu.code, 0, cpu.log);
  assert.equal(gpu.code, 0, gpu.log);
  assert.match(gpu.log, /GPU 0: Adapter 0: /);
  const probs = (out: string) => (JSON.parse(out) as { probabilities: number[] }[]).map((r) => r.probabilities);
  const [pc, pg] = [probs(cpu.stdout), probs(gpu.stdout)];
  assert.equal(pg.length, 3);
  pg.forEach((p, i) => assert.ok(maxAbsDiff(p, pc[i]!) < 1e-5, `digit ${i}: ${p} vs ${pc[i]}`));
  // The Classifier's queue on a device: concurrent requests batched, rows in order.
  const device = (await WebGpuDevice.open(0))!;
  const c = await Classifier.load({ model: trainTestFile, weights: weightsFile, device, batchWindowMs: 20 });
  const ref = await Classifier.load({ model: trainTestFile, weights: weightsFile });
  try {
    const [on, off] = await Promise.all([c, ref].map((k) => Promise.all(Array.from({ length: 10 }, (_, i) => k.classify([{ tensor: digitTensor(i) }])))));
    on.forEach(([p], i) => assert.ok(maxAbsDiff(p!.probabilities, off[i]![0]!.probabilities) < 1e-5, `tensor ${i}`));
    assert.ok(c.stats.forwards < 10, `${c.stats.forwards} forward passes for 10 concurrent requests`);
  } finally {
    await c.close();
    await ref.close();
    device.destroy();
  }
});
