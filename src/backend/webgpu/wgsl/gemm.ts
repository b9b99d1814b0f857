// Tiled GEMM, row-major: C = alpha * op(A) op(B) + beta * C (op(A) M x K, op(B) K x N). A workgroup of t x t
// invocations computes a (4t) x (4t) tile of C, each invocation 4 x 4 entries strided by t (so neighbours read
// neighbouring workgroup-memory words); K advances in steps of KT through A and B tiles staged in workgroup memory.
// Edges (odd M, N, K) load zeros and skip stores. Workgroup y is the tile row from p.rowBase (large M is split
// across dispatches by the caller, within maxComputeWorkgroupsPerDimension).
// Operands are addressed through their leading dimensions (ld*); the blocked variant also takes MatrixLayout's blocks
// (element (r, t) of a stored matrix at (t / blk) * bs + r * ld + t % blk: images side by side, see backend.ts), and
// costs a division per staged element, so plain GEMMs use the other variant.
import type { KernelDef } from './shader.js';

export const GEMM_KT = 16;

/** t: invocations per workgroup side (16 where the device allows 256 invocations, else 8). */
export function gemmKernel(t: number, blocked: boolean): KernelDef {
  const ts = 4 * t, kt = GEMM_KT, n = t * t;
  const addr = (x: string) => blocked
    ? `fn addr${x}(r: u32, t: u32) -> u32 { return (t / p.blk${x}) * p.bs${x} + r * p.ld${x} + t % p.blk${x}; }`
    : `fn addr${x}(r: u32, t: u32) -> u32 { return r * p.ld${x} + t; }`;
  return {
    name: `gemm${blocked ? 'x' : ''}${t}`,
    operands: ['A', 'B', 'C'],
    fields: [['M', 'u32'], ['N', 'u32'], ['K', 'u32'], ['transA', 'u32'], ['transB', 'u32'], ['alpha', 'f32'],
      ['beta', 'f32'], ['rowBase', 'u32'], ...['A', 'B', 'C'].flatMap((x) => [[`ld${x}`, 'u32'], [`blk${x}`, 'u32'], [`bs${x}`, 'u32']] as const)],
    workgroup: [t, t, 1],
    prelude: `var<workgroup> As: array<f32, ${kt * ts}>; // As[k * ${ts} + m]
var<workgroup> Bs: array<f32, ${kt * ts}>; // Bs[k * ${ts} + n]
${addr('A')}
${addr('B')}
${addr('C')}
// Row gm of C from column gn on, entries gn + c * ${t} for c < 4 (v[c]); beta 0 ignores C (NaN included), like BLAS.
fn store(gm: u32, gn: u32, v: vec4<f32>) {
  if (gm >= p.M) { return; }
  for (var c = 0u; c < 4u; c++) {
    let n = gn + c * ${t}u;
    if (n >= p.N) { return; }
    let idx = addrC(gm, n);
    var r = p.alpha * v[c];
    if (p.beta != 0.0) { r += p.beta * $C[idx]; }
    $C[idx] = r;
  }
}`,
    body: `
  let tid = lid.y * ${t}u + lid.x;
  let row0 = p.rowBase + wid.y * ${ts}u;
  let col0 = wid.x * ${ts}u;
  // Row r of this invocation's 4 x 4 block; named vectors, not an indexed array, which software renderers spill.
  var acc0 = vec4<f32>(); var acc1 = vec4<f32>(); var acc2 = vec4<f32>(); var acc3 = vec4<f32>();
  for (var k0 = 0u; k0 < p.K; k0 += ${kt}u) {
    // Consecutive invocations take consecutive addresses of the stored operand (row-major or transposed).
    for (var e = tid; e < ${kt * ts}u; e += ${n}u) {
      var m = e % ${ts}u; var kk = e / ${ts}u;
      if (p.transA == 0u) { kk = e % ${kt}u; m = e / ${kt}u; }
      let gm = row0 + m; let gk = k0 + kk;
      var v = 0.0;
      if (gm < p.M && gk < p.K) {
        if (p.transA == 0u) { v = $A[addrA(gm, gk)]; } else { v = $A[addrA(gk, gm)]; }
      }
      As[kk * ${ts}u + m] = v;
    }
    for (var e = tid; e < ${kt * ts}u; e += ${n}u) {
      var c = e % ${ts}u; var kk = e / ${ts}u;
      if (p.transB != 0u) { kk = e % ${kt}u; c = e / ${kt}u; }
      let gn = col0 + c; let gk = k0 + kk;
      var v = 0.0;
      if (gn < p.N && gk < p.K) {
        if (p.transB == 0u) { v = $B[addrB(gk, gn)]; } else { v = $B[addrB(gn, gk)]; }
      }
      Bs[kk * ${ts}u + c] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${kt}u; kk++) {
      let base = kk * ${ts}u;
      let b = vec4<f32>(${[0, 1, 2, 3].map((c) => `Bs[base + lid.x + ${c * t}u]`).join(', ')});
${[0, 1, 2, 3].map((r) => `      acc${r} += As[base + lid.y + ${r * t}u] * b;`).join('\n')}
    }
    workgroupBarrier();
  }
${[0, 1, 2, 3].map((r) => `  store(row0 + lid.y + ${r * t}u, col0 + lid.x, acc${r});`).join('\n')}`,
  };
}
