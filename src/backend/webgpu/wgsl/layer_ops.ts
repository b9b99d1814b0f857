// Kernels of single layers' device paths that GpuKernels has no method for (run through GpuKernels.run1d): Softmax's
// gradient, and a plain copy (a second top that repeats a first one, e.g. SoftmaxWithLoss's prob).
import type { KernelDef } from './shader.js';

const cache = new Map<number, ReturnType<typeof make>>();

function make(wg: number) {
  return {
    // y = x over n floats (no 0 * y term: a stale NaN in y must not survive).
    copy: {
      name: 'copy', operands: ['x', 'y'], fields: [['n', 'u32']], workgroup: [wg, 1, 1],
      body: `
  if (i >= p.n) { return; }
  $y[i] = $x[i];`,
    } satisfies KernelDef,
    // Softmax backward over an (outer, channels, inner) array, one invocation per (outer, inner) position:
    // dx = y * (dy - sum_c dy * y). dx may be dy (in place): each position reads its column before writing it.
    softmaxBackward: {
      name: 'softmax_bwd', operands: ['y', 'dy', 'dx'], fields: [['n', 'u32'], ['channels', 'u32'], ['inner', 'u32']],
      workgroup: [wg, 1, 1],
      body: `
  if (i >= p.n) { return; }
  let base = (i / p.inner) * p.channels * p.inner + i % p.inner;
  var s = 0.0;
  for (var c = 0u; c < p.channels; c++) { s += $dy[base + c * p.inner] * $y[base + c * p.inner]; }
  for (var c = 0u; c < p.channels; c++) {
    let k = base + c * p.inner;
    $dx[k] = ($dy[k] - s) * $y[k];
  }`,
    } satisfies KernelDef,
  };
}

/** The kernels for 1-D workgroups of wg invocations (GpuKernels.wg). */
export function layerOps(wg: number): ReturnType<typeof make> {
  let k = cache.get(wg);
  if (!k) cache.set(wg, (k = make(wg)));
  return k;
}
