// The solvers' update rules (src/solver/updates.ts), one fused elementwise kernel per rule: each does what the solver's
// applyUpdate does to one parameter, in its order and with its formulas:
//   g *= gradScale (1 / iter_size); g += decay * (L1 ? sign(w) : w); the rule updates its history and turns g into the
//   step; w -= g.
// Afterwards g holds the step (Caffe's diff is the update value) and the history is laid out as Caffe's solverstate
// (AdaDelta: h, hu; Adam: m, v). Coefficients of the form 1 - beta come from the host (computed in double, like
// updates.ts), since 1 - f32(0.999) in f32 is off by 1e-5 relative.
import type { KernelDef } from './shader.js';

export type SolverRule = 'SGD' | 'Nesterov' | 'AdaGrad' | 'RMSProp' | 'AdaDelta' | 'Adam';

/** The history operands of each rule, in the order of the solver's history sets. */
export const SOLVER_HISTORY: Readonly<Record<SolverRule, readonly string[]>> = {
  SGD: ['h'], Nesterov: ['h'], AdaGrad: ['h'], RMSProp: ['h'], AdaDelta: ['h', 'hu'], Adam: ['m', 'v'],
};

function step(rule: SolverRule, fields: string[], update: string, wg: number): KernelDef {
  return {
    name: `solver_${rule.toLowerCase()}`,
    operands: ['w', 'g', ...SOLVER_HISTORY[rule]],
    fields: [['n', 'u32'], ['gradScale', 'f32'], ['decay', 'f32'], ['l1', 'u32'], ...fields.map((f) => [f, 'f32'] as const)],
    workgroup: [wg, 1, 1],
    // decay 0 skips regularization, as the solver does (0 * Inf would be NaN). WGSL's sign(0) is 0, like Caffe's.
    body: `  if (i >= p.n) { return; }
  let w = $w[i];
  var g = $g[i] * p.gradScale;
  if (p.decay != 0.0) { g = g + p.decay * select(w, sign(w), p.l1 != 0u); }
${update}
  $g[i] = g;
  $w[i] = w - g;`,
  };
}

export const solverKernels = (wg: number): Record<SolverRule, KernelDef> => ({
  // h = momentum * h + lr * g; g = h
  SGD: step('SGD', ['momentum', 'lr'], `
  let v = p.momentum * $h[i] + p.lr * g;
  $h[i] = v;
  g = v;`, wg),
  // h = momentum * h + lr * g; g = (1 + momentum) * h - momentum * h_old
  Nesterov: step('Nesterov', ['momentum', 'lr'], `
  let prev = $h[i];
  let v = p.momentum * prev + p.lr * g;
  $h[i] = v;
  g = (1.0 + p.momentum) * v - p.momentum * prev;`, wg),
  // h += g^2; g = lr * g / (sqrt(h) + delta)
  AdaGrad: step('AdaGrad', ['lr', 'delta'], `
  let h = $h[i] + g * g;
  $h[i] = h;
  g = (p.lr * g) / (sqrt(h) + p.delta);`, wg),
  // h = rmsDecay * h + (1 - rmsDecay) * g^2; g = lr * g / (sqrt(h) + delta)
  RMSProp: step('RMSProp', ['rmsDecay', 'rmsDecayC', 'lr', 'delta'], `
  let h = p.rmsDecay * $h[i] + p.rmsDecayC * g * g;
  $h[i] = h;
  g = (p.lr * g) / (sqrt(h) + p.delta);`, wg),
  // h = momentum * h + (1 - momentum) * g^2; s = g * sqrt((hu + delta) / (h + delta));
  // hu = momentum * hu + (1 - momentum) * s^2; g = lr * s
  AdaDelta: step('AdaDelta', ['momentum', 'momentumC', 'lr', 'delta'], `
  let h = p.momentum * $h[i] + p.momentumC * g * g;
  $h[i] = h;
  let s = g * sqrt(($hu[i] + p.delta) / (h + p.delta));
  $hu[i] = p.momentum * $hu[i] + p.momentumC * s * s;
  g = p.lr * s;`, wg),
  // m = beta1 * m + (1 - beta1) * g; v = beta2 * v + (1 - beta2) * g^2; g = lr * correction * m / (sqrt(v) + delta),
  // lr * correction (the iteration's bias correction) coming from the host as lr.
  Adam: step('Adam', ['momentum', 'momentumC', 'momentum2', 'momentum2C', 'lr', 'delta'], `
  let m = p.momentum * $m[i] + p.momentumC * g;
  $m[i] = m;
  let v = p.momentum2 * $v[i] + p.momentum2C * g * g;
  $v[i] = v;
  g = (p.lr * m) / (sqrt(v) + p.delta);`, wg),
});
