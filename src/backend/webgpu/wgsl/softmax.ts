// Softmax over the channel axis of an (outer, channels, inner) array and its gradient: one invocation per (outer,
// inner) position, subtracting the channel maximum first like Caffe.
import type { KernelDef } from './shader.js';

export const softmaxKernels = (wg: number) => ({
  softmax: {
    name: 'softmax', operands: ['x', 'y'], fields: [['n', 'u32'], ['channels', 'u32'], ['inner', 'u32']],
    workgroup: [wg, 1, 1],
    body: `
  if (i >= p.n) { return; }
  let base = (i / p.inner) * p.channels * p.inner + i % p.inner;
  var mx = $x[base];
  for (var c = 1u; c < p.channels; c++) { mx = max(mx, $x[base + c * p.inner]); }
  var sum = 0.0;
  for (var c = 0u; c < p.channels; c++) {
    let e = exp($x[base + c * p.inner] - mx);
    $y[base + c * p.inner] = e;
    sum += e;
  }
  for (var c = 0u; c < p.channels; c++) { $y[base + c * p.inner] = $y[base + c * p.inner] / sum; }`,
  } satisfies KernelDef,
  // The gradient, per position: dx = y * (dy - sum_c dy * y). dx may be dy (in place): each position reads its column
  // before writing it.
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
});
