// Double-float ("df": an unevaluated sum hi + lo of two f32) arithmetic in WGSL, for the sums and the few formulas
// whose f32 rounding would show against the host paths, which sum in double precision: BatchNorm's backward with few
// items per channel cancels almost completely, so its statistics and normalized output must match the host's to the
// last bit. Error-free transformations (TwoSum; Dekker's product with an exact bit-mask split), which need IEEE
// additions as written. Shader compilers may still simplify (a + b) - a to b (Mesa does), which would zero every error
// term: the intermediate sums go through df_o, an identity the compiler cannot see through (an xor with df_z, which
// is 0 at run time: kernels using DF start their body with DF_INIT).
/** The first statement of a kernel body that uses DF (every dispatch here has one workgroup in z). */
export const DF_INIT = '  df_z = nwg.z - 1u;\n';
export const DF = `
var<private> df_z: u32;
fn df_o(v: f32) -> f32 { return bitcast<f32>(bitcast<u32>(v) ^ df_z); }
fn df_two_sum(a: f32, b: f32) -> vec2<f32> {
  let s = df_o(a + b);
  let bb = df_o(s - a);
  return vec2<f32>(s, (a - (s - bb)) + (b - bb));
}
// s + e as a pair, for |s| >= |e|.
fn df_fast(s: f32, e: f32) -> vec2<f32> {
  let h = df_o(s + e);
  return vec2<f32>(h, e - (h - s));
}
fn df_split(a: f32) -> vec2<f32> {
  let hi = bitcast<f32>(bitcast<u32>(a) & 0xfffff000u);
  return vec2<f32>(hi, a - hi);
}
fn df_two_prod(a: f32, b: f32) -> vec2<f32> {
  let p = df_o(a * b);
  let x = df_split(a);
  let y = df_split(b);
  return vec2<f32>(p, ((x.x * y.x - p) + x.x * y.y + x.y * y.x) + x.y * y.y);
}
fn df_add(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
  let s = df_two_sum(a.x, b.x);
  return df_fast(s.x, s.y + (a.y + b.y));
}
fn df_round(a: vec2<f32>) -> f32 { return a.x + a.y; }
fn df_mul_f(a: vec2<f32>, b: f32) -> vec2<f32> {
  let p = df_two_prod(a.x, b);
  return df_fast(p.x, p.y + a.y * b);
}
fn df_div_f(a: vec2<f32>, b: f32) -> vec2<f32> {
  let q1 = df_o(a.x / b);
  let r = df_add(a, -df_two_prod(q1, b));
  return df_fast(q1, (r.x + r.y) / b);
}
// a / b and sqrt(v) rounded to nearest (WGSL's may be a few ulps off on GPUs): one correction step each.
fn div_cr(a: f32, b: f32) -> f32 {
  let q = df_o(a / b);
  let p = df_two_prod(q, b);
  return q + ((a - p.x) - p.y) / b;
}
fn sqrt_res(s: f32, v: f32) -> f32 {
  let p = df_two_prod(s, s);
  return abs((p.x - v) + p.y);
}
fn sqrt_cr(v: f32) -> f32 {
  let s = df_o(sqrt(v));
  if (!(s > 0.0) || s > 3.0e38) { return s; }
  let up = bitcast<f32>(bitcast<u32>(s) + 1u);
  let dn = bitcast<f32>(bitcast<u32>(s) - 1u);
  var best = s;
  var r = sqrt_res(s, v);
  let ru = sqrt_res(up, v);
  if (ru < r) { best = up; r = ru; }
  if (sqrt_res(dn, v) < r) { best = dn; }
  return best;
}`;

/** A prelude for dfWorkgroupSum: DF and the workgroup's scratch of rwg double-float pairs. */
export const dfSumPrelude = (rwg: number) => `${DF}\nvar<workgroup> sh: array<f32, ${rwg}>;\nvar<workgroup> sl: array<f32, ${rwg}>;`;

/**
 * WGSL statements summing each invocation's double-float `acc` over the workgroup (a tree of rwg, a power of two)
 * into (sh[0], sl[0]); every invocation must reach them.
 */
export const dfWorkgroupSum = (rwg: number) => `  sh[lid.x] = acc.x;
  sl[lid.x] = acc.y;
  workgroupBarrier();
  for (var s = ${rwg / 2}u; s > 0u; s >>= 1u) {
    if (lid.x < s) {
      let q = df_add(vec2<f32>(sh[lid.x], sl[lid.x]), vec2<f32>(sh[lid.x + s], sl[lid.x + s]));
      sh[lid.x] = q.x;
      sl[lid.x] = q.y;
    }
    workgroupBarrier();
  }`;
