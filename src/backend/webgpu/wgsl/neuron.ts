// Neuron layers' elementwise kernels (src/layers/sigmoid.ts ... prelu.ts, dropout.ts): one invocation per element,
// `i` the element, p.n the count, the same formulas as the layers' host paths. Forward kernels read x and write y;
// in place (y the same buffer and offset as x) is fine, each invocation reading its element before writing it.
// Every operand is used by the body: WebGPU's automatic layout drops unused bindings, and the bind group would not match.
import { ew, type KernelDef, perWorkgroupSize } from './shader.js';

// tanh clamped where it is exactly +-1 in f32 (some implementations overflow in exp for large arguments).
const helpers = `
fn tanh_s(v: f32) -> f32 { return tanh(clamp(v, -20.0, 20.0)); }
fn sigmoid_s(v: f32) -> f32 { return 0.5 * tanh_s(0.5 * v) + 0.5; }
// x^e for any sign of x, as C's pow (a negative base needs an integer exponent, else NaN).
fn pow_s(x: f32, e: f32) -> f32 {
  if (x >= 0.0) { return pow(x, e); }
  var nan = 0x7fc00000u; // a var: a NaN constant does not compile
  if (e != floor(e)) { return bitcast<f32>(nan); }
  let r = pow(-x, e);
  return select(r, -r, (abs(e) % 2.0) == 1.0);
}`;

function make(wg: number) {
  const k = (name: string, operands: string[], fields: KernelDef['fields'], body: string) => ew(name, operands, fields, body, wg, helpers);
  return {
    sigmoidForward: k('sigmoid_fwd', ['x', 'y'], [], '  $y[i] = sigmoid_s($x[i]);'),
    sigmoidBackward: k('sigmoid_bwd', ['y', 'dy', 'dx'], [], '  let v = $y[i];\n  $dx[i] = $dy[i] * v * (1.0 - v);'),
    tanhForward: k('tanh_fwd', ['x', 'y'], [], '  $y[i] = tanh_s($x[i]);'),
    tanhBackward: k('tanh_bwd', ['y', 'dy', 'dx'], [], '  let v = $y[i];\n  $dx[i] = $dy[i] * (1.0 - v * v);'),
    absForward: k('abs_fwd', ['x', 'y'], [], '  $y[i] = abs($x[i]);'),
    absBackward: k('abs_bwd', ['x', 'dy', 'dx'], [], '  $dx[i] = sign($x[i]) * $dy[i];'),
    bnllForward: k('bnll_fwd', ['x', 'y'], [], `
  let v = $x[i];
  $y[i] = select(log(1.0 + exp(v)), v + log(1.0 + exp(-v)), v > 0.0);`),
    bnllBackward: k('bnll_bwd', ['x', 'dy', 'dx'], [], `
  let e = exp(min($x[i], 50.0));
  $dx[i] = $dy[i] * e / (e + 1.0);`),
    eluForward: k('elu_fwd', ['x', 'y'], [['alpha', 'f32']], `
  let v = $x[i];
  $y[i] = select(p.alpha * (exp(v) - 1.0), v, v > 0.0);`),
    // In place x is the output, whose sign is the input's for alpha >= 0 (as the host path).
    eluBackward: k('elu_bwd', ['x', 'y', 'dy', 'dx'], [['alpha', 'f32']], `
  let d = $dy[i];
  let v = $y[i];
  $dx[i] = select(d * (v + p.alpha), d, $x[i] > 0.0);`),
    expForward: k('exp_fwd', ['x', 'y'], [['inner', 'f32'], ['outer', 'f32']], '  $y[i] = p.outer * exp(p.inner * $x[i]);'),
    expBackward: k('exp_bwd', ['y', 'dy', 'dx'], [['inner', 'f32']], '  $dx[i] = $dy[i] * $y[i] * p.inner;'),
    logForward: k('log_fwd', ['x', 'y'], [['scale', 'f32'], ['shift', 'f32'], ['baseScale', 'f32']],
      '  $y[i] = log(p.scale * $x[i] + p.shift) * p.baseScale;'),
    logBackward: k('log_bwd', ['x', 'dy', 'dx'], [['scale', 'f32'], ['shift', 'f32'], ['num', 'f32']],
      '  $dx[i] = $dy[i] * p.num / (p.scale * $x[i] + p.shift);'),
    // diffScale (power * scale) 0: the constant `cst` and a zero gradient.
    powerForward: k('power_fwd', ['x', 'y'], [['power', 'f32'], ['scale', 'f32'], ['shift', 'f32'], ['diffScale', 'f32'], ['cst', 'f32']], `
  let base = p.scale * $x[i] + p.shift;
  var r = p.cst;
  if (p.diffScale != 0.0) { r = select(pow_s(base, p.power), base, p.power == 1.0); }
  $y[i] = r;`),
    powerBackward: k('power_bwd', ['x', 'dy', 'dx'], [['power', 'f32'], ['scale', 'f32'], ['shift', 'f32'], ['diffScale', 'f32']], `
  let base = p.scale * $x[i] + p.shift;
  var g = p.diffScale;
  if (p.power == 2.0) { g = p.diffScale * base; } else if (p.power != 1.0) { g = p.diffScale * pow_s(base, p.power - 1.0); }
  let d = $dy[i];
  $dx[i] = select(d * g, 0.0, p.diffScale == 0.0);`),
    clipForward: k('clip_fwd', ['x', 'y'], [['lo', 'f32'], ['hi', 'f32']], '  $y[i] = max(p.lo, min($x[i], p.hi));'),
    clipBackward: k('clip_bwd', ['x', 'dy', 'dx'], [['lo', 'f32'], ['hi', 'f32']], `
  let v = $x[i];
  let d = $dy[i];
  $dx[i] = select(0.0, d, v >= p.lo && v <= p.hi);`),
    swishForward: k('swish_fwd', ['x', 'y', 's'], [['beta', 'f32']], `
  let v = $x[i];
  let s = sigmoid_s(p.beta * v);
  $s[i] = s;
  $y[i] = v * s;`),
    swishBackward: k('swish_bwd', ['y', 's', 'dy', 'dx'], [['beta', 'f32']], `
  let by = p.beta * $y[i];
  $dx[i] = $dy[i] * (by + $s[i] * (1.0 - by));`),
    thresholdForward: k('threshold_fwd', ['x', 'y'], [['t', 'f32']], '  $y[i] = select(0.0, 1.0, $x[i] > p.t);'),
    // The mask holds 0 or 1 per element, drawn on the host (the same draws as the host path).
    dropout: k('dropout', ['x', 'mask', 'y'], [['scale', 'f32']], '  $y[i] = $x[i] * $mask[i] * p.scale;'),
    // Channel c = (i / dim) % channels, or 0 when shared.
    preluForward: k('prelu_fwd', ['x', 'a', 'y'], [['dim', 'u32'], ['channels', 'u32'], ['oneSlope', 'u32']], `
  let c = select((i / p.dim) % p.channels, 0u, p.oneSlope != 0u);
  let v = $x[i];
  $y[i] = max(v, 0.0) + $a[c] * min(v, 0.0);`),
    preluBackward: k('prelu_bwd', ['x', 'a', 'dy', 'dx'], [['dim', 'u32'], ['channels', 'u32'], ['oneSlope', 'u32']], `
  let c = select((i / p.dim) % p.channels, 0u, p.oneSlope != 0u);
  let d = $dy[i];
  $dx[i] = select(d * $a[c], d, $x[i] > 0.0);`),
  };
}

/** The neuron kernels for 1-D workgroups of `wg` invocations (GpuKernels.wg). */
export const neuronKernels = perWorkgroupSize(make);
