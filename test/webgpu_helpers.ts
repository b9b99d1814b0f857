/// <reference types="@webgpu/types" />
// What the WebGPU tests share: this machine's adapters (a software one without a GPU: Dawn's OpenGL backend on Mesa's
// llvmpipe), the reason to skip where there is none (under CI, CI=true, that is a failure instead: .ci/run installs
// the packages that give one), a test wrapper that fails on WebGPU errors, and seeded random inputs.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { findGpuAdapters, requestGpuDevice } from '../src/backend/webgpu/device.js';
import { WebGpuDevice } from '../src/backend/webgpu/gpu_device.js';
import { parseTextProto } from '../src/proto/textformat.js';
import type { SolverParameter } from '../src/proto/types.generated.js';
import { vector } from './helpers.js';

export const adapters = await findGpuAdapters();

/** Why the device tests skip here, or false when there is an adapter. */
export const noAdapter: string | false = adapters.length === 0
  ? 'no WebGPU adapter here (install Mesa: libegl1 libegl-mesa0 libgl1-mesa-dri libgles2, or use a GPU)'
  : false;

/** The skip option of a test that needs an adapter and must fail without one in CI. */
export const requireAdapter: string | false = noAdapter && !process.env.CI ? noAdapter : false;

/** A test that the machine has an adapter (skipped locally without one, a failure in CI). */
export function adapterFoundTest(prefix: string): void {
  test(`${prefix}: an adapter is found`, { skip: requireAdapter }, () => {
    assert.ok(!noAdapter, noAdapter || '');
  });
}

/** A device test: skipped without an adapter; fails on any WebGPU validation or out-of-memory error. */
export function deviceTest(name: string, device: () => GPUDevice, fn: () => Promise<void>): void {
  test(name, { skip: noAdapter || false }, async () => {
    const d = device();
    d.pushErrorScope('validation');
    d.pushErrorScope('out-of-memory');
    await fn();
    const oom = await d.popErrorScope();
    const invalid = await d.popErrorScope();
    assert.equal(oom?.message, undefined);
    assert.equal(invalid?.message, undefined);
  });
}

/** Seeded uniform floats: rand(n, lo, hi). */
export function seededRand(seed: number): (n: number, lo?: number, hi?: number) => Float32Array {
  let s = seed >>> 0;
  return (n, lo = -1, hi = 1) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      s = (s * 1103515245 + 12345) >>> 0;
      a[i] = lo + ((s >>> 8) / (1 << 24)) * (hi - lo);
    }
    return a;
  };
}

/**
 * The file's device on adapter 0 (with its kernels as WebGpuDevice picks them), opened before its tests (then onOpen
 * is called with it) and destroyed after them (else Dawn keeps the process alive); nothing without an adapter.
 */
export function useTestDevice(onOpen?: (gpu: WebGpuDevice) => void): { readonly gpu: WebGpuDevice; readonly device: GPUDevice } {
  let gpu: WebGpuDevice | undefined;
  before(async () => {
    if (noAdapter) return;
    gpu = new WebGpuDevice(await requestGpuDevice(adapters[0]!), adapters[0]!.description);
    onOpen?.(gpu);
  });
  after(() => gpu?.destroy());
  return { get gpu() { return gpu!; }, get device() { return gpu!.device; } };
}

/** Caffe's standard LeNet (examples/mnist/lenet_train_test.prototxt) on the MNIST LMDBs in dir (helpers' mnistWorkDir). */
export function lenetOn(dir: string, batch: number): string {
  return readFileSync(vector('lenet_train_test.prototxt'), 'utf8')
    .replace(/source: "mnist_train_lmdb"/, `source: "${path.join(dir, 'mnist_train_lmdb')}"`)
    .replace(/source: "mnist_test_lmdb"/, `source: "${path.join(dir, 'mnist_test_lmdb')}"`)
    .replace(/batch_size: 64/, `batch_size: ${batch}`);
}

/** Caffe's LeNet solver settings over the net text, seeded, snapshots (if asked for) in dir. */
export function lenetSolver(dir: string, net: string, extra: string): SolverParameter {
  return parseTextProto<SolverParameter>(`net_param { ${net} } base_lr: 0.01 momentum: 0.9 weight_decay: 0.0005
lr_policy: "inv" gamma: 0.0001 power: 0.75 display: 0 random_seed: 1701 snapshot_after_train: false
snapshot_prefix: "${path.join(dir, 'snap')}" ${extra}`, 'SolverParameter', 'test');
}
