// Kernels of the device paths of MVN, SigmoidCrossEntropyLoss, HingeLoss, ContrastiveLoss and InfogainLoss (src/layers),
// with the host paths' formulas. Each loss is a partial kernel (wgsl/reduce.ts: its item adds the loss to a and the
// valid count to b) that GpuKernels.lossReduce runs in two deterministic passes. `rwg` is a power of two.
import { DF, DF_INIT } from './exact.js';
import { partialKernel } from './reduce.js';
import { ew, type KernelDef, perWorkgroupSize } from './shader.js';

const NAN = 'fn nan_f() -> f32 { var v = 0x7fc00000u; return bitcast<f32>(v); }';
const partial = (name: string, operands: string[], fields: KernelDef['fields'], item: string, rwg: number) =>
  partialKernel(name, operands, fields, item, rwg, NAN);

// ignore_label: hasIgnore, ignore (labels are truncated to integers, as Caffe's static_cast<int>).
const ignoreFields = [['hasIgnore', 'u32'], ['ignore', 'i32']] as const;
const ignored = (l: string) => `(p.hasIgnore != 0u && ${l} == p.ignore)`;

function make(rwg: number, wg: number) {
  const k = (name: string, operands: string[], fields: KernelDef['fields'], body: string, prelude?: string) =>
    ew(name, operands, fields, body, wg, prelude);
  return {
    // SigmoidCrossEntropyLoss: the numerically stable cross-entropy of sigmoid(x) against target t.
    sigmoidCePartial: partial('sigmoid_ce_partial', ['x', 't'], ignoreFields, `
    let t = $t[j];
    if (!${ignored('i32(t)')}) {
      let x = $x[j];
      let pos = select(0.0, 1.0, x >= 0.0);
      a -= x * (t - pos) - log(1.0 + exp(x - 2.0 * x * pos));
      b += 1.0;
    }`, rwg),
    /** dx = (sigmoid(x) - t) * topDiff[0] * rnorm[0]; 0 where the target is ignored. */
    sigmoidCeBackward: k('sigmoid_ce_bwd', ['x', 't', 'topDiff', 'rnorm', 'dx'], ignoreFields, `
  let t = $t[i];
  var d = 0.0;
  if (!${ignored('i32(t)')}) { d = (1.0 / (1.0 + exp(-$x[i])) - t) * ($topDiff[0] * $rnorm[0]); }
  $dx[i] = d;`),

    // HingeLoss over (num, dim) predictions: margin m = max(0, 1 + s x), s = -1 at the label's class, else +1; a
    // label outside [0, dim) makes the loss NaN (the host throws).
    hingePartial: partial('hinge_partial', ['x', 'label'], [['dim', 'u32'], ['l2', 'u32']], `
    let r = j / p.dim;
    let c = j % p.dim;
    let l = i32($label[r]);
    if (c == 0u && (l < 0 || l >= i32(p.dim))) { a += nan_f(); }
    let m = max(0.0, 1.0 + select($x[j], -$x[j], i32(c) == l));
    a += select(m, m * m, p.l2 != 0u);`, rwg),
    /** L1: dx = sign(s m) * topDiff[0] * scale; L2: dx = s m * topDiff[0] * 2 scale (scale = 1 / num). */
    hingeBackward: k('hinge_bwd', ['x', 'label', 'topDiff', 'dx'], [['dim', 'u32'], ['l2', 'u32'], ['scale', 'f32']], `
  let c = i % p.dim;
  let l = i32($label[i / p.dim]);
  let flip = i32(c) == l;
  let m = max(0.0, 1.0 + select($x[i], -$x[i], flip));
  let d = select(m, -m, flip);
  let w = $topDiff[0];
  if (p.l2 != 0u) { $dx[i] = d * ((w * 2.0) * p.scale); } else { $dx[i] = sign(d) * (w * p.scale); }`),

    // ContrastiveLoss: d = a - b; per pair r, distSq[r] (channelSum); similar when trunc(y) != 0.
    contrastiveDiff: k('contrastive_diff', ['a', 'b', 'd'], [], '  $d[i] = $a[i] - $b[i];'),
    contrastivePartial: partial('contrastive_partial', ['distSq', 'y'], [['margin', 'f32'], ['legacy', 'u32']], `
    let s = $distSq[j];
    if (i32($y[j]) != 0) { a += s; }
    else if (p.legacy != 0u) { a += max(p.margin - s, 0.0); }
    else { let m = max(p.margin - sqrt(s), 0.0); a += m * m; }`, rwg),
    /** dx = beta_r * d, beta_r as the host's (alpha = sign * topDiff[0] / N, sign +1 for bottom 0, -1 for bottom 1). */
    contrastiveBackward: k('contrastive_bwd', ['d', 'distSq', 'y', 'topDiff', 'dx'],
      [['channels', 'u32'], ['margin', 'f32'], ['legacy', 'u32'], ['scale', 'f32']], `
  let r = i / p.channels;
  let alpha = $topDiff[0] * p.scale;
  let s = $distSq[r];
  var beta = alpha;
  if (i32($y[r]) == 0) {
    var mdist = 0.0;
    if (p.legacy != 0u) { mdist = p.margin - s; beta = -alpha; }
    else { let dist = sqrt(s); mdist = p.margin - dist; beta = (-alpha * mdist) / (dist + 1e-4); }
    if (!(mdist > 0.0)) { beta = 0.0; }
  }
  $dx[i] = beta * $d[i];`),

    // InfogainLoss over (outer, K, inner) probabilities: -sum_k H[l, k] log(max(p_k, 1e-20)) per valid position.
    infogainPartial: partial('infogain_partial', ['prob', 'label', 'H'], [['K', 'u32'], ['inner', 'u32'], ...ignoreFields], `
    let l = i32($label[j]);
    if (!${ignored('l')}) {
      b += 1.0;
      if (l < 0 || l >= i32(p.K)) { a += nan_f(); } else {
        let base = (j / p.inner) * p.K * p.inner + j % p.inner;
        for (var c = 0u; c < p.K; c++) { a -= $H[u32(l) * p.K + c] * log(max($prob[base + c * p.inner], 1e-20)); }
      }
    }`, rwg),
    /** dx = (prob * rowSum[l] - H[l, k]) * topDiff[0] * rnorm[0]; 0 at ignored positions. */
    infogainBackward: k('infogain_bwd', ['prob', 'label', 'H', 'rowSum', 'topDiff', 'rnorm', 'dx'],
      [['K', 'u32'], ['inner', 'u32'], ...ignoreFields], `
  let c = (i / p.inner) % p.K;
  let l = i32($label[(i / (p.inner * p.K)) * p.inner + i % p.inner]);
  var d = 0.0;
  if (!${ignored('l')}) {
    let lc = u32(clamp(l, 0, i32(p.K) - 1));
    d = ($prob[i] * $rowSum[lc] - $H[lc * p.K + c]) * ($topDiff[0] * $rnorm[0]);
    if (l < 0 || l >= i32(p.K)) { var nan = 0x7fc00000u; d = bitcast<f32>(nan); }
  }
  $dx[i] = d;`),

    // MVN over R rows of D (`i / D` the row), with per-row mean and std (BatchNorm's rounding: div_cr, sqrt_cr).
    /** Row i: std = fround(fround(sqrt(var)) + eps), eps a double given as hi + lo. */
    mvnStd: k('mvn_std', ['var', 'std'], [['epsHi', 'f32'], ['epsLo', 'f32']], `${DF_INIT}
  $std[i] = df_round(df_add(vec2<f32>(sqrt_cr($var[i]), 0.0), vec2<f32>(p.epsHi, p.epsLo)));`, DF),
    /** y = x - mean[r], divided by std[r] with normalize_variance (y may be x). */
    mvnNormalize: k('mvn_normalize', ['x', 'mean', 'std', 'y'], [['D', 'u32'], ['normVar', 'u32']], `${DF_INIT}
  let r = i / p.D;
  let v = $x[i] - $mean[r];
  $y[i] = select(v, div_cr(v, $std[r]), p.normVar != 0u);`, DF),
    /**
     * dx = (dy - mean(dy) - mean(dy * y) * y) / std (normalize_variance) or dy - mean(dy), in double-float; `means`
     * holds the two means as pairs: hi[R], lo[R], hi[R], lo[R] (dx may be dy).
     */
    mvnBackward: k('mvn_bwd', ['dy', 'y', 'std', 'means', 'dx'], [['R', 'u32'], ['D', 'u32'], ['normVar', 'u32']], `${DF_INIT}
  let r = i / p.D;
  let mdy = vec2<f32>($means[r], $means[p.R + r]);
  if (p.normVar == 0u) {
    let t = df_add(vec2<f32>($dy[i], 0.0), -mdy);
    $dx[i] = t.x + t.y;
  } else {
    let mdyy = vec2<f32>($means[2u * p.R + r], $means[3u * p.R + r]);
    let t = df_add(df_add(vec2<f32>($dy[i], 0.0), -mdy), -df_mul_f(mdyy, $y[i]));
    $dx[i] = div_cr(t.x + t.y, $std[r]);
  }`, DF),
  };
}

/** The kernels for 1-D workgroups of wg invocations (reductions: the largest power of two <= wg). */
export const lossOpsKernels = perWorkgroupSize((wg) => make(2 ** Math.floor(Math.log2(wg)), wg));
