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
      ['beta', 'f32'], ['rowBase', 'u32'], ['kChunk', 'u32'], ['splitStride', 'u32'], ...['A', 'B', 'C'].flatMap((x) => [[`ld${x}`, 'u32'], [`blk${x}`, 'u32'], [`bs${x}`, 'u32']] as const)],
    workgroup: [t, t, 1],
    prelude: `var<workgroup> As: array<f32, ${kt * ts}>; // As[k * ${ts} + m]
var<workgroup> Bs: array<f32, ${kt * ts}>; // Bs[k * ${ts} + n]
${addr('A')}
${addr('B')}
${addr('C')}
// Row gm of C from column gn on, entries gn + c * ${t} for c < 4 (v[c]); beta 0 ignores C (NaN included), like BLAS.
// Split-K (workgroup z > 0 or splitStride > 0): each z sums its own range of k into its own copy of C.
fn store(gm: u32, gn: u32, v: vec4<f32>, wid: vec3<u32>) {
  if (gm >= p.M) { return; }
  for (var c = 0u; c < 4u; c++) {
    let n = gn + c * ${t}u;
    if (n >= p.N) { return; }
    let idx = addrC(gm, n) + wid.z * p.splitStride;
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
  let kBegin = wid.z * p.kChunk; let kEnd = min(p.K, kBegin + p.kChunk);
  for (var k0 = kBegin; k0 < kEnd; k0 += ${kt}u) {
    // Consecutive invocations take consecutive addresses of the stored operand (row-major or transposed).
    for (var e = tid; e < ${kt * ts}u; e += ${n}u) {
      var m = e % ${ts}u; var kk = e / ${ts}u;
      if (p.transA == 0u) { kk = e % ${kt}u; m = e / ${kt}u; }
      let gm = row0 + m; let gk = k0 + kk;
      var v = 0.0;
      if (gm < p.M && gk < kEnd) {
        if (p.transA == 0u) { v = $A[addrA(gm, gk)]; } else { v = $A[addrA(gk, gm)]; }
      }
      As[kk * ${ts}u + m] = v;
    }
    for (var e = tid; e < ${kt * ts}u; e += ${n}u) {
      var c = e % ${ts}u; var kk = e / ${ts}u;
      if (p.transB != 0u) { kk = e % ${kt}u; c = e / ${kt}u; }
      let gn = col0 + c; let gk = k0 + kk;
      var v = 0.0;
      if (gn < p.N && gk < kEnd) {
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
${[0, 1, 2, 3].map((r) => `  store(row0 + lid.y + ${r * t}u, col0 + lid.x, acc${r}, wid);`).join('\n')}`,
  };
}

/**
 * The same GEMM without workgroup memory or barriers: each invocation computes a 4 x 4 block of C straight from the
 * operands, with addresses split into a part fixed per row (column) of C and a part that advances with k, so blocked
 * layouts cost no division in the loop. Slower than the tiled kernel on a GPU, but faster on CPU renderers (Mesa's
 * llvmpipe), whose workgroup barriers are expensive: the kernel for software adapters.
 */
export function gemmDirectKernel(t: number, blocked: boolean): KernelDef {
  const tiled = gemmKernel(t, blocked);
  const ts = 4 * t;
  const prelude = tiled.prelude!.replace(/var<workgroup>[^\n]*\n/g, '');
  const rows = [0, 1, 2, 3];
  return {
    ...tiled,
    name: `gemmd${blocked ? 'x' : ''}${t}`,
    prelude: `${prelude}
// The part of a stored operand's address that does not depend on k: its index i runs along the stored rows
// (alongRows) or along the stored columns (blocked: (i / blk) * bs + i % blk).
fn fixedPart(i: u32, alongRows: bool, ld: u32, blk: u32, bs: u32) -> u32 {
  if (alongRows) { return i * ld; }
  return (i / blk) * bs + i % blk;
}`,
    body: `
  let row = p.rowBase + wid.y * ${ts}u + lid.y;
  let col = wid.x * ${ts}u + lid.x;
  // A's m runs along its stored rows unless transposed; B's n runs along its stored columns unless transposed.
  let aRows = p.transA == 0u; let bRows = p.transB != 0u;
${rows.map((r) => `  let am${r} = fixedPart(min(row + ${r * t}u, p.M - 1u), aRows, p.ldA, p.blkA, p.bsA);`).join('\n')}
${rows.map((c) => `  let bn${c} = fixedPart(min(col + ${c * t}u, p.N - 1u), bRows, p.ldB, p.blkB, p.bsB);`).join('\n')}
  var acc0 = vec4<f32>(); var acc1 = vec4<f32>(); var acc2 = vec4<f32>(); var acc3 = vec4<f32>();
  // k's part of each address: along the stored columns (blocked, advanced without division) or rows (times ld).
  let kBegin = wid.z * p.kChunk; let kEnd = min(p.K, kBegin + p.kChunk);
  var aq = kBegin / p.blkA; var ar = kBegin % p.blkA; var bq = kBegin / p.blkB; var br = kBegin % p.blkB;
  for (var k = kBegin; k < kEnd; k++) {
    let ak = select(k * p.ldA, aq * p.bsA + ar, aRows);
    let bk = select(k * p.ldB, bq * p.bsB + br, bRows);
    let b = vec4<f32>(${rows.map((c) => `$B[bn${c} + bk]`).join(', ')});
${rows.map((r) => `    acc${r} += $A[am${r} + ak] * b;`).join('\n')}
    ar++; if (ar == p.blkA) { ar = 0u; aq++; }
    br++; if (br == p.blkB) { br = 0u; bq++; }
  }
${rows.map((r) => `  store(row + ${r * t}u, col, acc${r}, wid);`).join('\n')}`,
  };
}

/**
 * Split-K's final pass: C = alpha * (the sum of the S partial products, in order) + beta * C, one invocation per entry
 * of C (n = M * N); C addressed through its layout as in the GEMM.
 */
export function gemmSplitSumKernel(wg: number): KernelDef {
  return {
    name: 'gemm_split_sum', operands: ['P', 'C'],
    fields: [['n', 'u32'], ['N', 'u32'], ['S', 'u32'], ['alpha', 'f32'], ['beta', 'f32'], ['ldC', 'u32'], ['blkC', 'u32'], ['bsC', 'u32']],
    workgroup: [wg, 1, 1],
    body: `  if (i >= p.n) { return; }
  var sum = 0.0;
  for (var z = 0u; z < p.S; z++) { sum += $P[z * p.n + i]; }
  let m = i / p.N; let c = i % p.N;
  let idx = (c / p.blkC) * p.bsC + m * p.ldC + c % p.blkC;
  var r = p.alpha * sum;
  if (p.beta != 0.0) { r += p.beta * $C[idx]; }
  $C[idx] = r;`,
  };
}
