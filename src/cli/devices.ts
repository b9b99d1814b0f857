// Device selection like Caffe's tool: `-gpu 0`, `-gpu 0,1`, `-gpu all`, or the solver's `solver_mode: GPU` with its
// device_id; WebGPU adapters numbered as `tscaffe device_query` lists them. Without any adapter: a warning and the CPU.
import type { SolverParameter } from '../proto/types.generated.js';
import { has } from '../proto/caffe.js';
import { backend } from '../backend/backend.js';
import { findGpuAdapters, formatAdapter, isSoftwareAdapter, requestGpuDevice } from '../backend/webgpu/device.js';
import { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import { logger } from '../util/log.js';
import { UsageError } from './flags.js';

const GPU = 1;

/**
 * Opens the devices asked for (none: the CPU). A device id may repeat (two devices on one adapter: data-parallel
 * training tested on a machine with a single adapter).
 */
export async function openDevices(gpuFlag: string, threads: unknown, solver?: SolverParameter): Promise<WebGpuDevice[]> {
  if (Number(threads) > 0) process.env.TSCAFFE_THREADS = String(threads);
  let gpus = gpuFlag.trim();
  const fromSolver = !gpus && !!solver && has(solver, 'solver_mode') && solver.solver_mode === GPU;
  if (fromSolver) gpus = String(solver!.device_id ?? 0);
  const devices: WebGpuDevice[] = [];
  if (gpus) {
    const adapters = await findGpuAdapters();
    if (fromSolver && adapters.length && adapters.every((a) => isSoftwareAdapter(a.description))) {
      // Caffe's own example solvers say GPU: on a machine whose only adapter is a CPU renderer, the CPU backend is faster.
      logger('caffe.cpp:200').warn(`solver_mode: GPU, but the only WebGPU adapter is a software one (${adapters[0]!.description.name}): using the CPU (-gpu ${gpus} uses it anyway).`);
    } else if (adapters.length === 0) {
      logger('caffe.cpp:200').warn(`GPU requested (-gpu ${gpus}) but no WebGPU adapter was found (see tscaffe device_query): using the CPU.`);
    } else {
      const ids = gpus === 'all' ? adapters.map((_, i) => i) : gpus.split(',').map((s) => {
        const id = Number(s.trim());
        if (!/^\d+$/.test(s.trim()) || !adapters[id]) {
          throw new UsageError(`-gpu: no WebGPU adapter '${s.trim()}' (found ${adapters.length}: 0..${adapters.length - 1}; see tscaffe device_query)`);
        }
        return id;
      });
      logger('caffe.cpp:210').info(`Using GPUs ${ids.join(', ')}`);
      const used = new Set<number>();
      for (const id of ids) {
        const a = adapters[id]!;
        logger('caffe.cpp:222').info(`GPU ${id}: ${formatAdapter(a.description)}`);
        if (isSoftwareAdapter(a.description)) {
          logger('caffe.cpp:224').warn(`GPU ${id} is a software adapter (${a.description.name}): expect it to be slower than the CPU backend`);
        }
        // A WebGPU adapter gives out one device only: a repeated id asks for a fresh adapter object.
        const d = used.has(id) ? await WebGpuDevice.open(id) : new WebGpuDevice(await requestGpuDevice(a), a.description);
        if (!d) throw new Error(`WebGPU adapter ${id} disappeared`);
        used.add(id);
        devices.push(d);
      }
      return devices;
    }
  }
  const b = backend() as { name: string; threads?: number };
  logger('caffe.cpp:197').info(`Use CPU. (backend: ${b.name}${b.threads ? `, ${b.threads} threads` : ''})`);
  return devices;
}

export function closeDevices(devices: WebGpuDevice[]): void {
  for (const d of devices) d.destroy();
}

/**
 * What training says when a device was lost under it (undefined: none was): the device, why, and the command that
 * resumes from the last snapshot (`lastState`: the newest .solverstate written, or the one the run resumed from).
 */
export function deviceLostMessage(devices: readonly Pick<WebGpuDevice, 'name' | 'lostReason'>[], solverFile: string,
  lastState: string | undefined): string | undefined {
  const lost = devices.find((d) => d.lostReason !== undefined);
  if (!lost) return undefined;
  return `${lost.name} was lost during training (${lost.lostReason}): training stopped. ` +
    (lastState ? `The last snapshot is intact: resume with: tscaffe train -solver ${solverFile} -snapshot ${lastState}`
      : 'No snapshot was written in this run (set snapshot: N in the solver to be able to resume).');
}
