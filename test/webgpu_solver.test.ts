/// <reference types="@webgpu/types" />
// GpuKernels.solverStep, every update rule against the CPU solver's sequence (iter_size scaling, L2 or L1 decay, the
// rule of src/solver/updates.ts, w -= g) over three consecutive steps, on whatever adapter this machine has. Without an
// adapter the tests skip, saying why; under CI (CI=true) that is a failure instead (see webgpu_kernels.test.ts).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setBackend } from '../src/backend/backend.js';
import { createTsBackend } from '../src/backend/ts/index.js';
import { requestGpuDevice } from '../src/backend/webgpu/device.js';
import { GpuKernels, type SolverStepOptions } from '../src/backend/webgpu/kernels.js';
import type { SolverRule } from '../src/backend/webgpu/wgsl/solver.js';
import { createUpdateRule } from '../src/solver/updates.js';
import { adapterFoundTest, adapters, deviceTest, noAdapter, seededRand } from './webgpu_helpers.js';

const ref = createTsBackend();
setBackend(ref); // the SGD rule runs through the backend
let device: GPUDevice;
let gpu: GpuKernels;
let split: GpuKernels; // few workgroups per dimension: 1-D dispatches split over x and y
const n = 1037;

before(async () => {
  if (noAdapter) return;
  device = await requestGpuDevice(adapters[0]!);
  gpu = new GpuKernels(device);
  split = new GpuKernels(device, { maxWorkgroupsPerDimension: Math.ceil(Math.sqrt(Math.ceil(n / gpu.wg))) });
});
after(() => device?.destroy()); // else Dawn keeps the process alive

adapterFoundTest('webgpu solver');
const gpuTest = (name: string, fn: () => Promise<void>) => deviceTest(`webgpu solver: ${name}`, () => device, fn);
const rand = seededRand(4242);

/**
 * Relative comparison. Values below a tenth of the array's largest are compared at that scale: they come out of
 * cancellations (w - step, beta * m + (1 - beta) * g) whose f32 rounding is relative to the operands, not the result.
 */
function close(got: Float32Array, want: Float32Array, what: string, tol = 1e-5): void {
  assert.equal(got.length, want.length, `${what}: length`);
  const floor = 0.1 * want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!, w = want[i]!;
    if (!(Math.abs(g - w) <= tol * Math.max(Math.abs(w), floor))) assert.fail(`${what}: element ${i} is ${g}, want ${w}`);
  }
}

interface Hyper { momentum?: number; momentum2?: number; delta?: number; rmsDecay?: number; signedHistory: boolean[] }
const hyper: Record<SolverRule, Hyper> = {
  SGD: { momentum: 0.9, signedHistory: [true] },
  Nesterov: { momentum: 0.9, signedHistory: [true] },
  AdaGrad: { delta: 1e-8, signedHistory: [false] },
  RMSProp: { rmsDecay: 0.98, delta: 1e-8, signedHistory: [false] },
  AdaDelta: { momentum: 0.95, delta: 1e-6, signedHistory: [false, false] },
  Adam: { momentum: 0.9, momentum2: 0.999, delta: 1e-8, signedHistory: [true, false] },
};

/** The CPU solver's applyUpdate for one parameter (src/solver/solver.ts), on w, g and hist in place. */
function cpuStep(rule: SolverRule, w: Float32Array, g: Float32Array, hist: Float32Array[], o: SolverStepOptions): void {
  if (o.gradScale !== undefined && o.gradScale !== 1) ref.scal(o.gradScale, g);
  const decay = o.decay ?? 0;
  if (decay) {
    if (!o.l1) ref.axpy(decay, w, g);
    else for (let k = 0; k < g.length; k++) g[k]! += decay * Math.sign(w[k]!);
  }
  createUpdateRule({ type: rule, momentum: o.momentum, momentum2: o.momentum2, delta: o.delta, rms_decay: o.rmsDecay })
    .update(0, g, hist, o.lr, o.iter ?? 0);
  ref.applyUpdate(w, g);
}

const rules: SolverRule[] = ['SGD', 'Nesterov', 'AdaGrad', 'RMSProp', 'AdaDelta', 'Adam'];

for (const rule of rules) {
  gpuTest(`${rule}: 3 steps x {L2, L1} x gradScale {1, 0.5} match the CPU solver`, async () => {
    const h = hyper[rule];
    for (const l1 of [false, true]) {
      for (const gradScale of [1, 0.5]) {
        const w = rand(n);
        w[0] = 0; // L1: Caffe's sign(0) is 0
        const hist = h.signedHistory.map((s) => rand(n, s ? -1 : 0, 1));
        // w, g and the history in one buffer (split dispatches) with gradScale 0.5, separate buffers otherwise.
        const packed = gradScale !== 1;
        const k = packed ? split : gpu;
        const slots = 2 + hist.length;
        const bufs = packed ? Array<GPUBuffer>(slots).fill(k.createBuffer(slots * n)) : [...Array(slots)].map(() => k.createBuffer(n));
        const at = (s: number) => ({ buffer: bufs[s]!, offset: packed ? s * n : 0 });
        const put = (s: number, x: Float32Array) => device.queue.writeBuffer(bufs[s]!, at(s).offset * 4, x);
        put(0, w);
        hist.forEach((x, j) => put(2 + j, x));
        for (let iter = 7; iter < 10; iter++) {
          const g = rand(n);
          put(1, g);
          const o: SolverStepOptions = { gradScale, decay: 0.05, l1, lr: 0.01 * (iter - 6), iter, ...h };
          k.solverStep(rule, n, at(0), at(1), hist.map((_, j) => at(2 + j)), o);
          cpuStep(rule, w, g, hist, o);
          const what = `${rule} ${l1 ? 'L1' : 'L2'} gradScale ${gradScale} iter ${iter}`;
          close(await k.download(bufs[1]!, n, at(1).offset), g, `${what} g`);
          close(await k.download(bufs[0]!, n, at(0).offset), w, `${what} w`);
          for (let j = 0; j < hist.length; j++) close(await k.download(bufs[2 + j]!, n, at(2 + j).offset), hist[j]!, `${what} history ${j}`);
        }
      }
    }
  });
}

gpuTest("Adam's bias correction follows iter: a constant gradient from zero history steps by lr * sign(g) each time", async () => {
  // With m = v = 0 and a constant g, m_t = (1 - beta1^t) g and v_t = (1 - beta2^t) g^2, so the corrected step is
  // lr * g / (|g| + delta / sqrt(1 - beta2^t)): lr * sign(g) for |g| >> delta. A correction for the wrong t would scale
  // steps 2 and 3 by a factor of 1.34 or more.
  const g0 = rand(n, 0.1, 1).map((v, i) => (i % 2 ? -v : v)), w0 = rand(n), lr = 0.01;
  const w = gpu.upload(w0), g = gpu.createBuffer(n), m = gpu.createBuffer(n), v = gpu.createBuffer(n);
  const want = w0.slice();
  for (let iter = 0; iter < 3; iter++) {
    device.queue.writeBuffer(g, 0, g0);
    gpu.solverStep('Adam', n, w, g, [m, v], { lr, momentum: 0.9, momentum2: 0.999, delta: 1e-8, iter });
    const step = g0.map((x) => lr * Math.sign(x));
    close(await gpu.download(g, n), step, `Adam step at iter ${iter}`);
    for (let i = 0; i < n; i++) want[i]! -= step[i]!;
    close(await gpu.download(w, n), want, `Adam w at iter ${iter}`);
  }
});

gpuTest('solverStep rejects a wrong number of history operands and a missing hyperparameter', async () => {
  const b = gpu.createBuffer(4);
  assert.throws(() => gpu.solverStep('Adam', 4, b, b, [b], { lr: 1, momentum2: 0.999, delta: 1e-8 }), /Adam takes 2 history operands, got 1/);
  assert.throws(() => gpu.solverStep('RMSProp', 4, b, b, [b], { lr: 1, delta: 1e-8 }), /RMSProp needs option rmsDecay/);
  assert.throws(() => gpu.solverStep('AdaGrad', 4, b, b, [b], { lr: 1 }), /AdaGrad needs option delta/);
});
