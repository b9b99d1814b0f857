// Training on a WebGPU device against the CPU: the same seed gives the same start and the same losses (Caffe's LeNet),
// data-parallel training on two devices equals one device on the doubled batch, a lost device leaves the last snapshot
// intact, and a blob over the adapter's limits is named in the error. Runs on whatever adapter this machine has (a
// software one without a GPU); without any, the tests skip, and under CI (CI=true) that is a failure.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { WebGpuDevice } from '../src/backend/webgpu/gpu_device.js';
import { Net } from '../src/net/net.js';
import { Solver } from '../src/solver/solver.js';
import { parseTextProto } from '../src/proto/textformat.js';
import { readProtoBinary } from '../src/proto/io.js';
import type { NetParameter, SolverState } from '../src/proto/types.generated.js';
import { setLogSink, setQuiet } from '../src/util/log.js';
import { mnistWorkDir, removeDir, scratchDir, vector } from './helpers.js';
import { adapterFoundTest, lenetOn, lenetSolver, noAdapter } from './webgpu_helpers.js';

const opened: WebGpuDevice[] = [];
async function openDevice(): Promise<WebGpuDevice> {
  const d = (await WebGpuDevice.open(0))!; // a fresh adapter each time: an adapter gives out one device
  opened.push(d);
  return d;
}

let dir = '';
before(async () => {
  setQuiet(true);
  dir = noAdapter ? scratchDir('tscaffe-webgpu-train-') : await mnistWorkDir('tscaffe-webgpu-train-');
});
after(() => {
  for (const d of opened) d.destroy(); // else Dawn keeps the process alive
  removeDir(dir);
});

adapterFoundTest('webgpu training');

/** Caffe's standard LeNet on this test's MNIST LMDBs, and a solver for it. */
const lenet = (batch: number) => lenetOn(dir, batch);
const solverParam = (net: string, extra: string) => lenetSolver(dir, net, extra);

async function weightsOf(s: Solver): Promise<Float32Array[]> {
  await s.net.syncToHost();
  return s.net.learnableParams.map((b) => b.cpuData.slice());
}

const gpuTest = (name: string, fn: () => Promise<void>) => test(`webgpu training: ${name}`, { skip: noAdapter || false }, fn);

// Caffe's LeNet as its solver trains it (batch 64), logging every 10 iterations the loss averaged over 10 (display,
// average_loss): float sums in another order make the runs drift apart slowly (as two CPU backends do), so the logged
// losses agree within 1% and the first iterations' far more closely.
gpuTest('LeNet with the same random_seed: identical initial weights; logged training losses within 1% over 200 iterations', async () => {
  const iters = 200;
  const run = async (devices: WebGpuDevice[]) => {
    const losses: number[] = [];
    const s = await Solver.create(solverParam(lenet(64), `max_iter: ${iters} average_loss: 10`), { devices, onIteration: (_i, l) => losses.push(l) });
    const start = s.net.learnableParams.map((b) => b.cpuData.slice()); // filled on the host, before any device use
    await s.solve();
    await s.close();
    return { losses, start };
  };
  const cpu = await run([]);
  const gpu = await run([await openDevice()]);
  assert.deepEqual(gpu.start, cpu.start, 'initial weights differ');
  assert.equal(gpu.losses.length, iters);
  // losses[i] is the smoothed loss after iteration i, the value a display at iteration i logs.
  gpu.losses.forEach((l, i) => {
    const want = cpu.losses[i]!;
    const tol = i < 20 ? 1e-3 : i % 10 === 0 ? 0.01 : Infinity;
    assert.ok(Math.abs(l - want) <= tol * want, `iteration ${i}: loss ${l} on the device, ${want} on the CPU`);
  });
  assert.ok(gpu.losses[iters - 1]! < 0.3 * gpu.losses[0]!, 'the loss did not fall');
});

gpuTest('solver options on the device match the CPU: iter_size, clip_gradients (logged), L1, Nesterov, AdaDelta', async () => {
  // SGD carries the plumbing checks (iter_size, clipping, L1), which scale its steps; AdaDelta has two history sets, as
  // Adam has. (Adam's own steps, near lr * sign(g) wherever a gradient is tiny, turn float noise into whole steps: its
  // arithmetic is checked exactly in webgpu_solver.test.ts.)
  for (const [extra, tol, clips] of [
    ['type: "SGD" clip_gradients: 0.5 iter_size: 2 regularization_type: "L1"', 1e-5, true],
    ['type: "Nesterov" clip_gradients: 100', 1e-5, false],
    ['type: "AdaDelta" delta: 1e-6', 1e-5, false],
  ] as const) {
    const run = async (devices: WebGpuDevice[]) => {
      const logs: string[] = [];
      const prev = setLogSink({ write: (line) => void logs.push(line) });
      setQuiet(false);
      try {
        const s = await Solver.create(solverParam(lenet(8), `max_iter: 5 ${extra}`), { devices });
        await s.solve();
        const w = await weightsOf(s);
        await s.close();
        return { w, clipped: logs.filter((l) => l.includes('Gradient clipping')).length };
      } finally {
        setLogSink(prev);
        setQuiet(true);
      }
    };
    const cpu = await run([]);
    const gpu = await run([await openDevice()]);
    assert.equal(gpu.clipped, cpu.clipped, `${extra}: clipping logged ${gpu.clipped} times on the device, ${cpu.clipped} on the CPU`);
    assert.equal(cpu.clipped > 0, clips, `${extra}: clipping logged ${cpu.clipped} times`);
    gpu.w.forEach((w, i) => {
      const want = cpu.w[i]!;
      let scale = 0;
      for (const v of want) scale = Math.max(scale, Math.abs(v));
      for (let k = 0; k < w.length; k++) {
        if (!(Math.abs(w[k]! - want[k]!) <= tol * scale)) assert.fail(`${extra}: param ${i}[${k}]: ${w[k]} on the device, ${want[k]} on the CPU`);
      }
    });
  }
});

gpuTest('a training iteration stays on the device: one read back (the loss), uploads only of the new batch, no new bind groups', async () => {
  const gpu = await openDevice();
  const reads: number[] = [], writes: number[] = [], created: number[] = [];
  let iter = 0;
  const download = gpu.download.bind(gpu), upload = gpu.upload.bind(gpu);
  gpu.download = (src, n) => { reads[iter] = (reads[iter] ?? 0) + 1; return download(src, n); };
  gpu.upload = (host, dst) => { writes[iter] = (writes[iter] ?? 0) + 1; upload(host, dst); };
  const counts = gpu.kernels.dispatcher.counts;
  const s = await Solver.create(solverParam(lenet(8), 'max_iter: 6'), { devices: [gpu], onIteration: (i) => {
    created[i] = counts.bindGroupsCreated; iter = i;
  } });
  await s.solve();
  await s.close();
  // Iteration 0 uploads the weights and history too; each later one only the Data layer's data and labels.
  assert.deepEqual(reads, [1, 1, 1, 1, 1, 1]);
  assert.ok(writes[0]! > 2);
  assert.deepEqual(writes.slice(1), [2, 2, 2, 2, 2]);
  // The same dispatches over the same buffers reuse their bind groups once the first iterations have made them (the
  // first update runs in a submission of its own, the next ones with the following forward pass).
  assert.ok(counts.bindGroupsCreated > 0 && counts.dispatches > 6 * 40);
  assert.equal(created.at(-1), created[3], `bind groups made by the end of each iteration: ${created.join(' ')}`);
});

gpuTest('data-parallel on two devices (batch 32 each) equals one device on batch 64, and the replicas stay identical', async () => {
  const iters = 12;
  const run = async (devices: WebGpuDevice[], batch: number) => {
    const s = await Solver.create(solverParam(lenet(batch), `max_iter: ${iters}`), { devices });
    await s.solve();
    const w = await weightsOf(s);
    const replica = (s as unknown as { replicas: { net: Net }[] }).replicas[0]?.net;
    let rw: Float32Array[] | undefined;
    if (replica) {
      await replica.syncToHost();
      rw = replica.learnableParams.map((b) => b.cpuData.slice());
    }
    await s.close();
    return { w, rw };
  };
  const one = await run([await openDevice()], 64);
  const two = await run([await openDevice(), await openDevice()], 32);
  assert.ok(two.rw, 'no replica');
  two.w.forEach((w, i) => assert.deepEqual(two.rw![i], w, `replica param ${i} differs from the root's`));
  two.w.forEach((w, i) => {
    const want = one.w[i]!;
    let scale = 0;
    for (const v of want) scale = Math.max(scale, Math.abs(v));
    for (let k = 0; k < w.length; k++) {
      if (!(Math.abs(w[k]! - want[k]!) <= 1e-3 * scale)) assert.fail(`param ${i}[${k}]: ${w[k]} with two devices, ${want[k]} with one`);
    }
  });
});

gpuTest('restore in the middle of training on a device: the snapshot\'s weights and history, then training goes on', async () => {
  const s = await Solver.create(solverParam(lenet(8), 'max_iter: 20'), { devices: [await openDevice()] });
  await s.step(4);
  const files = await s.snapshot();
  const w4 = await weightsOf(s);
  const h4 = await Promise.all(s.history.map(async (h) => { await h.syncToHost(); return h.cpuData.slice(); }));
  await s.step(3); // weights and history now newer on the device
  await s.restore(files.state);
  assert.equal(s.iter, 4);
  assert.deepEqual(await weightsOf(s), w4);
  s.history.forEach((h, i) => assert.deepEqual(h.cpuData, h4[i], `history ${i}`));
  await s.step(2);
  assert.equal(s.iter, 6);
  assert.ok((await weightsOf(s)).some((w, i) => w.some((v, k) => v !== w4[i]![k])), 'training did not go on');
  await s.close();
});

gpuTest('a device lost mid-training: the run fails naming the device, the last snapshot stays intact', async () => {
  const gpu = await openDevice();
  const s = await Solver.create(solverParam(lenet(16), 'max_iter: 40 snapshot: 5'), {
    devices: [gpu],
    onIteration: (i) => { if (i === 7) gpu.destroy(); },
  });
  await assert.rejects(s.solve(), (e: Error) => /lost|destroyed/i.test(e.message) && e.message.includes(gpu.name));
  await s.close();
  assert.equal(s.lastSnapshot?.state, path.join(dir, 'snap_iter_5.solverstate'));
  const st = readProtoBinary<SolverState>(s.lastSnapshot!.state, 'SolverState');
  assert.equal(st.iter, 5);
  const model = readProtoBinary<NetParameter>(s.lastSnapshot!.model, 'NetParameter');
  assert.ok(model.layer!.some((l) => (l.blobs ?? []).length > 0));
  assert.ok(!existsSync(path.join(dir, 'snap_iter_10.solverstate')));
});

gpuTest('a blob over the adapter\'s storage-buffer limit: the error names the blob and the limit', async () => {
  const gpu = await openDevice();
  const limit = gpu.device.limits.maxStorageBufferBindingSize;
  const n = Math.floor(limit / 4) + 16;
  const net = await Net.create(parseTextProto<NetParameter>(`name: "big"
layer { name: "in" type: "Input" top: "huge" input_param { shape { dim: 1 dim: ${n} } } }
layer { name: "relu" type: "ReLU" bottom: "huge" top: "out" }`, 'NetParameter'), 1, { verbose: false });
  net.useDevice(gpu);
  await assert.rejects(net.forward(), (e: Error) => e.message.includes('blob huge') && e.message.includes(`maxStorageBufferBindingSize of ${limit}`));
  await net.close();
});
