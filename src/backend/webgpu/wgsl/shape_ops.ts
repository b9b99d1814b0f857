// Kernels of the shape layers' device paths (Crop, Tile, Reduction, ArgMax, Embed), with the host paths' formulas and
// summation orders. 1-D kernels: `i` the element (or the row, for ArgMax and Reduction).
import { DF_INIT, dfSumPrelude, dfWorkgroupSum } from './exact.js';
import { ew, type KernelDef, perWorkgroupSize } from './shader.js';

/** The most axes a crop copy indexes (after merging contiguous ones: see CropLayer). */
export const CROP_AXES = 8;

function make(wg: number) {
  const rwg = 2 ** Math.floor(Math.log2(wg)); // the tree sum halves the workgroup
  const k = (name: string, operands: string[], fields: KernelDef['fields'], body: string) => ew(name, operands, fields, body, wg);
  const axes = Array.from({ length: CROP_AXES }, (_, a) => a);
  return {
    /**
     * Crop: top element i sits at bottom element base + sum_a q_a * s_a, q_a its index along top axis a (dims d_a,
     * innermost last). dir 0 copies bottom to top (forward), 1 top to bottom (backward's scatter).
     */
    cropCopy: k('crop_copy', ['a', 't'], [['dir', 'u32'], ['base', 'u32'],
      ...axes.map((a) => [`d${a}`, 'u32'] as const), ...axes.map((a) => [`s${a}`, 'u32'] as const)], `
  var r = i;
  var src = p.base;
${[...axes].reverse().map((a) => `  src += (r % p.d${a}) * p.s${a};\n  r /= p.d${a};`).join('\n')}
  if (p.dir == 0u) { $t[i] = $a[src]; } else { $a[src] = $t[i]; }`),
    /** Tile: y (outer, tiles, inner) from x (outer, inner). */
    tileForward: k('tile_fwd', ['x', 'y'], [['inner', 'u32'], ['tiles', 'u32']], `
  $y[i] = $x[(i / (p.tiles * p.inner)) * p.inner + i % p.inner];`),
    /** Tile's gradient: dx[o, j] = the sum over the copies t of dy[o, t, j], in t order. */
    tileBackward: k('tile_bwd', ['dy', 'dx'], [['inner', 'u32'], ['tiles', 'u32']], `
  let base = (i / p.inner) * p.tiles * p.inner + i % p.inner;
  var s = $dy[base];
  for (var t = 1u; t < p.tiles; t++) { s += $dy[base + t * p.inner]; }
  $dx[i] = s;`),
    /**
     * Reduction: y[r] = (the sum over row r of x's `dim` floats of op's term) * coeff / div, summed in double-float as
     * the host sums in double; op as ReductionParameter's (ASUM 2, SUMSQ 3, else the plain sum). One workgroup per
     * row: run1d with n = num * wg.
     */
    reduce: {
      name: 'reduction_fwd', operands: ['x', 'y'],
      fields: [['n', 'u32'], ['num', 'u32'], ['dim', 'u32'], ['op', 'u32'], ['coeff', 'f32'], ['div', 'f32']],
      workgroup: [rwg, 1, 1], prelude: dfSumPrelude(rwg),
      body: `${DF_INIT}
  let r = wid.y * nwg.x + wid.x;
  let m = select(0u, p.dim, r < p.num);
  var acc = vec2<f32>(0.0, 0.0);
  for (var j = lid.x; j < m; j += ${rwg}u) {
    let v = $x[r * p.dim + j];
    var t = vec2<f32>(select(v, abs(v), p.op == 2u), 0.0);
    if (p.op == 3u) { t = df_two_prod(v, v); }
    acc = df_add(acc, t);
  }
${dfWorkgroupSum(rwg)}
  if (lid.x == 0u && r < p.num) {
    $y[r] = df_round(df_div_f(df_mul_f(vec2<f32>(sh[0], sl[0]), p.coeff), p.div));
  }`,
    } satisfies KernelDef,
    /** Reduction's gradient: dx = d(term)/dx * dy[row] * coeff (coeff already divided by dim for MEAN). */
    reduceBackward: k('reduction_bwd', ['x', 'dy', 'dx'], [['dim', 'u32'], ['op', 'u32'], ['coeff', 'f32']], `
  let g = $dy[i / p.dim] * p.coeff;
  let v = $x[i];
  $dx[i] = select(select(g, sign(v) * g, p.op == 2u), 2.0 * v * g, p.op == 3u);`),
    /**
     * ArgMax: row i's top k by (value, index) descending, found by k scans, each for the largest pair below the
     * previous one. Row i reads x[(outer * dim + q) * axisDist + inner]; mode 0 writes the indices, 1 the values (both
     * at the axis layout), 2 the indices then the values per row (no axis with out_max_val).
     */
    argmax: k('argmax', ['x', 'y'], [['dim', 'u32'], ['axisDist', 'u32'], ['k', 'u32'], ['mode', 'u32']], `
  let outer = i / p.axisDist;
  let inner = i % p.axisDist;
  var pv = 0.0;
  var pq = 0u;
  for (var j = 0u; j < p.k; j++) {
    var bv = 0.0;
    var bq = 0u;
    var found = false;
    for (var q = 0u; q < p.dim; q++) {
      let v = $x[(outer * p.dim + q) * p.axisDist + inner];
      if (j > 0u && !(v < pv || (v == pv && q < pq))) { continue; }
      if (!found || v > bv || (v == bv && q > bq)) { bv = v; bq = q; found = true; }
    }
    pv = bv;
    pq = bq;
    if (p.mode == 2u) {
      $y[2u * i * p.k + j] = f32(bq);
      $y[2u * i * p.k + p.k + j] = bv;
    } else {
      $y[(outer * p.k + j) * p.axisDist + inner] = select(f32(bq), bv, p.mode == 1u);
    }
  }`),
    /**
     * Embed: y[m, j] = w[x[m], j] (+ b[j]); an index that is not an integer in [0, K) gives NaNs (the host path
     * throws, which a device pass cannot without reading back).
     */
    embedForward: k('embed_fwd', ['x', 'w', 'b', 'y'], [['N', 'u32'], ['K', 'u32'], ['bias', 'u32']], `
  let v = $x[i / p.N];
  let j = i % p.N;
  if (!(v >= 0.0 && v < f32(p.K) && v == floor(v))) { var nan = 0x7fc00000u; $y[i] = bitcast<f32>(nan); return; }
  let w = $w[u32(v) * p.N + j];
  if (p.bias != 0u) { $y[i] = w + $b[j]; } else { $y[i] = w; }`),
    /**
     * Embed's weight gradient: dw[r, j] += dy[m, j] for each m with x[m] == r, in m order (deterministic, as the
     * host's; no atomics): one invocation per weight element.
     */
    embedBackwardWeight: k('embed_bwd_w', ['x', 'dy', 'dw'], [['N', 'u32'], ['M', 'u32']], `
  let r = f32(i / p.N);
  let j = i % p.N;
  var s = $dw[i];
  for (var m = 0u; m < p.M; m++) { if ($x[m] == r) { s += $dy[m * p.N + j]; } }
  $dw[i] = s;`),
    /** Embed's bias gradient: db[j] += the sum over m of dy[m, j], in m order. */
    embedBackwardBias: k('embed_bwd_b', ['dy', 'db'], [['N', 'u32'], ['M', 'u32']], `
  var s = $db[i];
  for (var m = 0u; m < p.M; m++) { s += $dy[m * p.N + i]; }
  $db[i] = s;`),
  };
}

/** The shape-layer kernels for 1-D workgroups of `wg` invocations (GpuKernels.wg). */
export const shapeOpsKernels = perWorkgroupSize(make);
