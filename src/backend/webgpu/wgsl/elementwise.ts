// Elementwise kernels (1-D, one invocation per element; `i` is the element, p.n the count): ReLU, BLAS level 1, a
// convolution's bias (the solvers' steps are in solver.ts). In-place use (an output operand at the same offset as an
// input) is fine: each invocation reads its element before writing it.
import { ew } from './shader.js';

export const elementwiseKernels = (wg: number) => ({
  // Caffe: max(x, 0) + slope * min(x, 0); with slope 0, exactly 0 for x <= 0.
  reluForward: ew('relu_fwd', ['x', 'y'], [['slope', 'f32']], `
  let v = $x[i];
  $y[i] = select(select(v * p.slope, 0.0, p.slope == 0.0), v, v > 0.0);`, wg),
  reluBackward: ew('relu_bwd', ['x', 'dy', 'dx'], [['slope', 'f32']], `
  let d = $dy[i];
  $dx[i] = select(d * p.slope, d, $x[i] > 0.0);`, wg),
  axpy: ew('axpy', ['x', 'y'], [['alpha', 'f32']], `
  $y[i] = $y[i] + p.alpha * $x[i];`, wg),
  axpby: ew('axpby', ['x', 'y'], [['alpha', 'f32'], ['beta', 'f32']], `
  $y[i] = p.alpha * $x[i] + p.beta * $y[i];`, wg),
  // alpha 0 clears (also NaN and Inf), like the reference backend.
  scal: ew('scal', ['x'], [['alpha', 'f32']], `
  $x[i] = select(p.alpha * $x[i], 0.0, p.alpha == 0.0);`, wg),
  // x is num x channels x spatial; element i belongs to channel (i / spatial) % channels.
  addChannelBias: ew('add_channel_bias', ['x', 'bias'], [['channels', 'u32'], ['spatial', 'u32']], `
  $x[i] = $x[i] + $bias[(i / p.spatial) % p.channels];`, wg),
});
