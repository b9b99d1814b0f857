// Reductions without a host round trip, deterministic (the summation order depends only on the sizes, never on timing:
// no atomics). Two passes: a partial kernel of G workgroups (grid-stride over the n items, then a workgroup tree sum)
// writes a pair (a, b) per workgroup into a scratch buffer; reduceFinal, one workgroup, sums the G pairs and writes one
// float. The pair carries two sums where a loss needs them (the loss and the count of valid labels; correct and
// counted for accuracy). sumChannels is one workgroup per channel. `wg` must be a power of two.
import type { KernelDef } from './shader.js';

/** Workgroup tree sum of `a` and `b` (sa[0], sb[0] hold the totals after it); in uniform control flow only. */
export function treeSum(wg: number): string {
  return `
  sa[lid.x] = a; sb[lid.x] = b;
  workgroupBarrier();
  for (var s = ${wg / 2}u; s > 0u; s >>= 1u) {
    if (lid.x < s) { sa[lid.x] += sa[lid.x + s]; sb[lid.x] += sb[lid.x + s]; }
    workgroupBarrier();
  }`;
}

export const shared = (wg: number) => `var<workgroup> sa: array<f32, ${wg}>;\nvar<workgroup> sb: array<f32, ${wg}>;`;

/**
 * A partial kernel: `item` adds item j's share to a and b; the pair of workgroup w goes to part[2w], part[2w + 1].
 * `prelude`: helper functions the item uses.
 */
export function partialKernel(name: string, operands: string[], fields: KernelDef['fields'], item: string, wg: number,
  prelude = ''): KernelDef {
  return {
    name, operands: [...operands, 'part'], fields: [['n', 'u32'], ...fields], workgroup: [wg, 1, 1], prelude: `${shared(wg)}\n${prelude}`,
    body: `
  var a = 0.0; var b = 0.0;
  for (var j = wid.x * ${wg}u + lid.x; j < p.n; j += nwg.x * ${wg}u) {
${item}
  }${treeSum(wg)}
  if (lid.x == 0u) { $part[2u * wid.x] = sa[0]; $part[2u * wid.x + 1u] = sb[0]; }`,
  };
}

export const reduceKernels = (wg: number) => ({
  dot: partialKernel('dot_partial', ['x', 'y'], [], '    a += $x[j] * $y[j];', wg),
  asum: partialKernel('asum_partial', ['x'], [], '    a += abs($x[j]);', wg),
  sumsq: partialKernel('sumsq_partial', ['x'], [], '    a += $x[j] * $x[j];', wg),
  // out[0] = (accumulate ? out[0] : 0) + r, where with the sums (a, b) of the `groups` pairs:
  // what 0: r = a / n, 1: r = 1 / n, 2: r = b == 0 ? 0 : a / b; n = max(1, useCount ? b : norm) (Caffe's normalizer).
  reduceFinal: {
    name: 'reduce_final', operands: ['part', 'out'],
    fields: [['groups', 'u32'], ['useCount', 'u32'], ['norm', 'f32'], ['what', 'u32'], ['accumulate', 'u32']],
    workgroup: [wg, 1, 1], prelude: shared(wg),
    body: `
  var a = 0.0; var b = 0.0;
  for (var g = lid.x; g < p.groups; g += ${wg}u) { a += $part[2u * g]; b += $part[2u * g + 1u]; }${treeSum(wg)}
  if (lid.x == 0u) {
    let n = max(1.0, select(p.norm, sb[0], p.useCount != 0u));
    var r = sa[0] / n;
    if (p.what == 1u) { r = 1.0 / n; }
    if (p.what == 2u) { r = select(sa[0] / sb[0], 0.0, sb[0] == 0.0); }
    if (p.accumulate != 0u) { r += $out[0]; }
    $out[0] = r;
  }`,
  } satisfies KernelDef,
  // sums[c] += the sum of channel c over num images of channels x spatial; workgroup c (split over x and y).
  sumChannels: {
    name: 'sum_channels', operands: ['x', 'sums'], fields: [['num', 'u32'], ['channels', 'u32'], ['spatial', 'u32']],
    workgroup: [wg, 1, 1], prelude: shared(wg),
    body: `
  let c = wid.y * nwg.x + wid.x;
  let m = select(0u, p.num * p.spatial, c < p.channels);
  var a = 0.0; let b = 0.0;
  for (var j = lid.x; j < m; j += ${wg}u) { a += $x[((j / p.spatial) * p.channels + c) * p.spatial + j % p.spatial]; }${treeSum(wg)}
  if (lid.x == 0u && c < p.channels) { $sums[c] = $sums[c] + sa[0]; }`,
  } satisfies KernelDef,
});
