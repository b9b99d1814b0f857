// BatchNorm's and LRN's kernels (src/layers/batch_norm.ts, lrn.ts), with the host paths' formulas. BatchNorm's
// per-channel sums are routing.ts's channelSum; these are the 1-D steps around them (`i` the element or channel).
import { DF, DF_INIT } from './exact.js';
import { ew, type KernelDef, perWorkgroupSize } from './shader.js';

// Element i of an (n, C, H, W) array: `acc` = the sum of term(e) over LRN's window around i, across channels (C
// neighbours within [c - pre, c + pre]) or within its channel (the size x size square, zero padded).
const windowSum = (term: (e: string) => string) => `
  let S = p.H * p.W;
  let s = i % S;
  let c = (i / S) % p.C;
  var acc = 0.0;
  if (p.within == 0u) {
    let base = i - c * S;
    let lo = max(i32(c) - i32(p.pre), 0);
    let hi = min(i32(c) + i32(p.pre), i32(p.C) - 1);
    for (var cc = lo; cc <= hi; cc++) { let e = base + u32(cc) * S; acc += ${term('e')}; }
  } else {
    let plane = i - s;
    let h = i32(s / p.W);
    let w = i32(s % p.W);
    let pre = i32(p.pre);
    for (var hh = max(h - pre, 0); hh <= min(h + pre, i32(p.H) - 1); hh++) {
      for (var ww = max(w - pre, 0); ww <= min(w + pre, i32(p.W) - 1); ww++) {
        let e = plane + u32(hh) * p.W + u32(ww);
        acc += ${term('e')};
      }
    }
  }`;

const lrnFields: KernelDef['fields'] = [['C', 'u32'], ['H', 'u32'], ['W', 'u32'], ['pre', 'u32'], ['within', 'u32']];

function make(wg: number) {
  const k = (name: string, operands: string[], fields: KernelDef['fields'], body: string) => ew(name, operands, fields, body, wg);
  const d = (name: string, operands: string[], fields: KernelDef['fields'], body: string) => ew(name, operands, fields, DF_INIT + body, wg, DF);
  const chan = '  let d = (i / p.inner) % p.dim;';
  // sqrt(v + eps) rounded as the host's fround(sqrt(fround(v + eps))), eps a double given as hi + lo.
  const std = `sqrt_cr(df_round(df_add(vec2<f32>(v, 0.0), vec2<f32>(p.epsHi, p.epsLo))));`;
  return {
    /** Channel i: mean and sqrt(variance + eps) from the running sums (blob / blob2[0], 0 when blob2 is 0). */
    bnGlobalStats: d('bn_global_stats', ['b0', 'b1', 'b2', 'mean', 'std'], [['epsHi', 'f32'], ['epsLo', 'f32']], `
  let s = $b2[0];
  let b0 = $b0[i];
  let b1 = $b1[i];
  var mu = 0.0;
  var v = 0.0;
  if (s != 0.0) { mu = div_cr(b0, s); v = div_cr(b1, s); }
  $mean[i] = mu;
  $std[i] = ${std}`),
    /** Channel i: the running sums' update from the batch's mean and (biased) variance; var becomes the std. */
    bnUpdateStats: d('bn_update_stats', ['mean', 'var', 'b0', 'b1', 'b2'],
      [['fraction', 'f32'], ['correction', 'f32'], ['epsHi', 'f32'], ['epsLo', 'f32']], `
  let v = $var[i];
  $b0[i] = $mean[i] + p.fraction * $b0[i];
  $b1[i] = p.correction * v + p.fraction * $b1[i];
  if (i == 0u) { $b2[0] = $b2[0] * p.fraction + 1.0; }
  $var[i] = ${std}`),
    /** y = xn = (x - mean[c]) / std[c] over an (outer, dim, inner) array (y may be x). */
    bnNormalize: d('bn_normalize', ['x', 'mean', 'std', 'y', 'xn'], [['dim', 'u32'], ['inner', 'u32']], `${chan}
  let v = div_cr($x[i] - $mean[d], $std[d]);
  $y[i] = v;
  $xn[i] = v;`),
    bnBackwardGlobal: d('bn_bwd_global', ['dy', 'std', 'dx'], [['dim', 'u32'], ['inner', 'u32']], `${chan}
  $dx[i] = div_cr($dy[i], $std[d]);`),
    /**
     * dx = (dy - mean(dy) - mean(dy * xn) * xn) / std, in double-float (it cancels almost completely when a channel
     * has few items); `means` holds the two means as pairs: hi[C], lo[C], hi[C], lo[C].
     */
    bnBackward: d('bn_bwd', ['dy', 'xn', 'std', 'means', 'dx'], [['dim', 'u32'], ['inner', 'u32']], `${chan}
  let mdy = vec2<f32>($means[d], $means[p.dim + d]);
  let mdyy = vec2<f32>($means[2u * p.dim + d], $means[3u * p.dim + d]);
  let t = df_add(df_add(vec2<f32>($dy[i], 0.0), -mdy), -df_mul_f(mdyy, $xn[i]));
  $dx[i] = div_cr(t.x + t.y, $std[d]);`),
    /** scale = k + a * (window sum of x^2); y = x * scale^negBeta. */
    lrnForward: k('lrn_fwd', ['x', 'scale', 'y'], [...lrnFields, ['a', 'f32'], ['k', 'f32'], ['negBeta', 'f32']], `${windowSum((e) => `$x[${e}] * $x[${e}]`)}
  let sc = p.k + p.a * acc;
  $scale[i] = sc;
  $y[i] = $x[i] * pow(sc, p.negBeta);`),
    lrnRatio: k('lrn_ratio', ['y', 'dy', 'scale', 'ratio'], [], '  $ratio[i] = ($dy[i] * $y[i]) / $scale[i];'),
    /** dx = dy * scale^-beta - coef * x * (window sum of ratio); in place, x is recovered as y * scale^beta. */
    lrnBackward: k('lrn_bwd', ['x', 'y', 'scale', 'dy', 'ratio', 'dx'], [...lrnFields, ['beta', 'f32'], ['coef', 'f32'], ['inPlace', 'u32']],
      `${windowSum((e) => `$ratio[${e}]`)}
  let sc = $scale[i];
  let xi = select($x[i], $y[i] * pow(sc, p.beta), p.inPlace != 0u);
  $dx[i] = $dy[i] * pow(sc, -p.beta) - p.coef * xi * acc;`),
  };
}

/** The normalization kernels for 1-D workgroups of `wg` invocations (GpuKernels.wg). */
export const normKernels = perWorkgroupSize(make);
