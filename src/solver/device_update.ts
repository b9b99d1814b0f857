// The solver's device-side work (Caffe's SGDSolver on the GPU and its multi-GPU sync): the update step of every
// parameter as one fused kernel, gradient clipping from a device-side norm, and data-parallel training's gradient
// averaging across devices (Caffe's NCCL all-reduce, scaled by 1 / device count). WebGPU devices share no memory, so
// the average goes through the host: each device's gradients are read back, summed, and written to every device.
import type { SolverParameter } from '../proto/types.generated.js';
import type { Blob } from '../blob/blob.js';
import type { Net } from '../net/net.js';
import type { SolverRule } from '../backend/webgpu/wgsl/solver.js';

/** Recorded on net.gpu: clip (given the norm), scale by 1/iter_size, regularize, update rule, w -= step. */
export function applyUpdateOnDevice(net: Net, history: Blob[], p: SolverParameter, type: string, rate: number, iter: number): void {
  const gpu = net.gpu!;
  const params = net.learnableParams;
  const n = params.length;
  const sets = history.length / n;
  const reg = p.regularization_type ?? 'L2';
  params.forEach((blob, i) => {
    const hist = Array.from({ length: sets }, (_, s) => history[s * n + i]!.deviceData(gpu, true));
    gpu.kernels.solverStep(type as SolverRule, blob.count(), blob.deviceData(gpu, true), blob.deviceDiff(gpu, true), hist, {
      gradScale: 1 / (p.iter_size ?? 1),
      decay: (p.weight_decay ?? 0) * net.paramsWeightDecay[i]!,
      l1: reg === 'L1',
      lr: rate * net.paramsLr[i]!,
      momentum: p.momentum ?? 0,
      momentum2: p.momentum2 ?? 0.999,
      delta: p.delta ?? 1e-8,
      rmsDecay: p.rms_decay ?? 0.99,
      iter,
    });
  });
}

/** The L2 norm of all parameter gradients, summed on the device; one float read back. */
export async function gradientNormOnDevice(net: Net): Promise<number> {
  const gpu = net.gpu!;
  const out = gpu.alloc(1, 'gradient norm');
  try {
    net.learnableParams.forEach((b, i) => gpu.kernels.sumsq(b.count(), b.deviceDiff(gpu), out, i > 0));
    return Math.sqrt((await gpu.download(out, 1))[0]!);
  } finally {
    gpu.free(out);
  }
}

export function scaleGradientsOnDevice(net: Net, scale: number): void {
  const gpu = net.gpu!;
  for (const b of net.learnableParams) gpu.kernels.scal(b.count(), scale, b.deviceDiff(gpu, true));
}

/**
 * Data-parallel gradient averaging: afterwards every net's learnable parameter diffs hold the mean over the nets
 * (same parameter layout in each: replicas of one prototxt).
 */
export async function averageGradients(nets: Net[]): Promise<void> {
  if (nets.length < 2) return;
  const count = nets[0]!.learnableParams.length;
  await Promise.all(nets.map((n) => Promise.all(n.learnableParams.map((b) => b.syncDiffToHost()))));
  const scale = 1 / nets.length;
  for (let i = 0; i < count; i++) {
    const sum = nets[0]!.learnableParams[i]!.diff;
    for (let r = 1; r < nets.length; r++) {
      const d = nets[r]!.learnableParams[i]!.cpuDiff;
      for (let k = 0; k < sum.length; k++) sum[k]! += d[k]!;
    }
    for (let k = 0; k < sum.length; k++) sum[k]! *= scale;
    for (let r = 1; r < nets.length; r++) nets[r]!.learnableParams[i]!.diff.set(sum);
  }
}
