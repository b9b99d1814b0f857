/// <reference types="@webgpu/types" />
// Host time per LeNet training iteration on a WebGPU device: what the CPU spends recording and encoding the
// iteration's dispatches (the GPU's own time and the queue submission left out), with bind groups reused across
// iterations (dispatcher.ts) and, side by side in the same process, made anew for every dispatch (the reference).
// On a fast GPU a small net's iteration is bound by this host time, not by the kernels.
// Run: npx tsc -p . && node dist/bench/webgpu_host.js [batch] [iterations]
import { Solver, setQuiet } from '../src/index.js';
import { WebGpuDevice } from '../src/backend/webgpu/gpu_device.js';
import { formatAdapter } from '../src/backend/webgpu/device.js';
import { Dispatcher } from '../src/backend/webgpu/dispatcher.js';
import { lenetTrainingSolver } from './lenet_solver.js';

const batch = Number(process.argv[2] ?? 64);
const iters = Number(process.argv[3] ?? 20);
setQuiet(true);
const sp = await lenetTrainingSolver(batch);

const gpu = await WebGpuDevice.open(0);
if (!gpu) {
  process.stderr.write('webgpu_host: no WebGPU adapter on this machine\n');
  process.exit(1);
}
process.stdout.write(`${formatAdapter(gpu.description)}\n`);

// Host time: record() and submit(), less the queue submission inside submit (the GPU's side on synchronous drivers).
let host = 0, queued = 0;
for (const name of ['record', 'submit'] as const) {
  const orig = Dispatcher.prototype[name] as (...a: unknown[]) => void;
  (Dispatcher.prototype as unknown as Record<string, unknown>)[name] = function (this: Dispatcher, ...a: unknown[]) {
    const t = performance.now();
    orig.apply(this, a);
    host += performance.now() - t;
  };
}
const queue = gpu.device.queue, submitQueue = queue.submit.bind(queue);
queue.submit = (buffers: Iterable<GPUCommandBuffer>) => {
  const t = performance.now();
  submitQueue(buffers);
  queued += performance.now() - t;
};

const solver = await Solver.create(sp, { devices: [gpu] });
const d = gpu.kernels.dispatcher;
async function run(reuse: boolean): Promise<{ host: number; total: number; dispatches: number; created: number }> {
  d.reuseBindGroups = reuse;
  await solver.step(2);
  await gpu!.finish();
  host = queued = 0;
  const c0 = { ...d.counts }, t0 = performance.now();
  await solver.step(iters);
  await gpu!.finish();
  return {
    host: (host - queued) / iters, total: (performance.now() - t0) / iters,
    dispatches: (d.counts.dispatches - c0.dispatches) / iters, created: (d.counts.bindGroupsCreated - c0.bindGroupsCreated) / iters,
  };
}
const fresh = await run(false);
const reused = await run(true);
for (const [name, r] of [['new bind groups (reference)', fresh], ['reused bind groups', reused]] as const) {
  process.stdout.write(`${name}: host ${r.host.toFixed(3)} ms/iter, ${r.dispatches.toFixed(0)} dispatches and ${r.created.toFixed(1)} bind groups created per iteration; iteration ${r.total.toFixed(1)} ms\n`);
}
process.stdout.write(`batch ${batch}: host time reused/new ${(reused.host / fresh.host).toFixed(2)}\n`);
await solver.close();
process.exit(0);
