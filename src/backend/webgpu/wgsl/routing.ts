// Kernels of the routing and arithmetic layers (Split, Concat, Slice, Eltwise, Bias, Scale, EuclideanLoss, and the
// per-channel sums of Scale, PReLU and BatchNorm), with the host paths' formulas. 1-D kernels: `i` the element.
import { DF_INIT, dfSumPrelude, dfWorkgroupSum } from './exact.js';
import { ew, type KernelDef, perWorkgroupSize } from './shader.js';

// Broadcast over an (outer, dim, inner) array: element i uses entry (i / inner) % dim of the broadcast operand.
const chan = '  let d = (i / p.inner) % p.dim;';

function make(wg: number) {
  const rwg = 2 ** Math.floor(Math.log2(wg)); // the tree sum halves the workgroup
  const k = (name: string, operands: string[], fields: KernelDef['fields'], body: string) => ew(name, operands, fields, body, wg);
  return {
    copy: k('copy', ['x', 'y'], [], '  $y[i] = $x[i];'),
    /** y = alpha * x (never reading y: stale NaNs do not leak in). */
    scaledCopy: k('scaled_copy', ['x', 'y'], [['alpha', 'f32']], '  $y[i] = p.alpha * $x[i];'),
    /** Block j of `len` floats from x + j * srcStride to y + j * dstStride (Concat, Slice). */
    blockCopy: k('block_copy', ['x', 'y'], [['len', 'u32'], ['srcStride', 'u32'], ['dstStride', 'u32']], `
  let j = i / p.len;
  let r = i % p.len;
  $y[j * p.dstStride + r] = $x[j * p.srcStride + r];`),
    mul: k('mul', ['a', 'b', 'y'], [], '  $y[i] = $a[i] * $b[i];'),
    /** Eltwise PROD's gradient without stable_prod_grad: (y / x) * dy. */
    divMul: k('div_mul', ['y', 'x', 'dy', 'dx'], [], '  let q = $y[i] / $x[i];\n  $dx[i] = q * $dy[i];'),
    /** Eltwise MAX over the first two bottoms: the mask holds the winning bottom's index (as a float). */
    maxFirst: k('max_first', ['a', 'b', 'y', 'm'], [], `
  let u = $a[i];
  let v = $b[i];
  if (u > v) { $y[i] = u; $m[i] = 0.0; } else { $y[i] = v; $m[i] = 1.0; }`),
    maxNext: k('max_next', ['x', 'y', 'm'], [['k', 'f32']], `
  let v = $x[i];
  if (v > $y[i]) { $y[i] = v; $m[i] = p.k; }`),
    maxBackward: k('max_bwd', ['m', 'dy', 'dx'], [['k', 'f32']], `
  let d = $dy[i];
  $dx[i] = select(0.0, d, $m[i] == p.k);`),
    addBroadcast: k('add_broadcast', ['x', 'b', 'y'], [['dim', 'u32'], ['inner', 'u32']], `${chan}
  $y[i] = $x[i] + $b[d];`),
    mulBroadcast: k('mul_broadcast', ['x', 's', 'y'], [['dim', 'u32'], ['inner', 'u32']], `${chan}
  $y[i] = $x[i] * $s[d];`),
    mulAddBroadcast: k('mul_add_broadcast', ['x', 's', 'c', 'y'], [['dim', 'u32'], ['inner', 'u32']], `${chan}
  $y[i] = $x[i] * $s[d] + $c[d];`),
    euclideanDiff: k('euclidean_diff', ['a', 'b', 'd'], [], '  $d[i] = $a[i] - $b[i];'),
    /** dx = alpha * dy[0] * d: dy[0] is the loss top's gradient, read on the device. */
    euclideanBackward: k('euclidean_bwd', ['d', 'dy', 'dx'], [['alpha', 'f32']], '  $dx[i] = p.alpha * $dy[0] * $d[i];'),
    /**
     * out[c] = (the sum over an (num, channels, spatial) array's channel c of t) / div (+ the old out[c] when
     * accumulate), where t is, by mode: 0 u; 1 u * v; 2 u * v where v <= 0 (PReLU's slope); 3 (u - v[c])^2 (a
     * variance about v's per-channel mean). Summed in double-float, like the host paths' double sums; `pair`: the
     * result stays a pair, hi in out[c] and lo in out[channels + c]. One workgroup per channel: run1d with
     * n = channels * wg.
     */
    channelSum: {
      name: 'channel_sum', operands: ['u', 'v', 'out'],
      fields: [['n', 'u32'], ['num', 'u32'], ['channels', 'u32'], ['spatial', 'u32'], ['mode', 'u32'], ['div', 'f32'],
        ['accumulate', 'u32'], ['pair', 'u32']],
      workgroup: [rwg, 1, 1], prelude: dfSumPrelude(rwg),
      body: `${DF_INIT}
  let c = wid.y * nwg.x + wid.x;
  let m = select(0u, p.num * p.spatial, c < p.channels);
  var acc = vec2<f32>(0.0, 0.0);
  for (var j = lid.x; j < m; j += ${rwg}u) {
    let idx = ((j / p.spatial) * p.channels + c) * p.spatial + j % p.spatial;
    let u = $u[idx];
    let v = $v[select(idx, c, p.mode == 3u)];
    var t = vec2<f32>(u, 0.0);
    if (p.mode == 1u) { t = df_two_prod(u, v); }
    if (p.mode == 2u) { t = select(vec2<f32>(0.0, 0.0), df_two_prod(u, v), v <= 0.0); }
    if (p.mode == 3u) { let dv = u - v; t = df_two_prod(dv, dv); }
    acc = df_add(acc, t);
  }
${dfWorkgroupSum(rwg)}
  if (lid.x == 0u && c < p.channels) {
    var r = df_div_f(vec2<f32>(sh[0], sl[0]), p.div);
    if (p.accumulate != 0u) { r = df_add(r, vec2<f32>($out[c], 0.0)); }
    if (p.pair != 0u) { $out[c] = r.x; $out[p.channels + c] = r.y; } else { $out[c] = r.x + r.y; }
  }`,
    } satisfies KernelDef,
  };
}

/** The routing kernels for 1-D workgroups of `wg` invocations (GpuKernels.wg). */
export const routingKernels = perWorkgroupSize(make);
