// AssemblyScript kernels of the 'wasm' backend (compiled by `npm run build:wasm`, see ../build.mjs).
// All arguments are byte pointers into the one shared linear memory that the loader (../index.ts) imports; this
// module allocates nothing (runtime stub, no static data), so several instances on several threads can share it.
// The same source builds twice: with relaxed SIMD (ASC_FEATURE_RELAXED_SIMD, f32x4.relaxed_madd = FMA on x64) and
// with plain SIMD128 (mul + add).

// GEMM blocking (BLIS-style): a 4x8 register tile = 8 v128 accumulators (V8 allocates only xmm0-15; a 12-accumulator
// tile spills). B is packed into KC x NR micro-panels (8 KiB at KC = 256, L1-resident), A into MR x KC panels.
const MR: i32 = 4;
const NR: i32 = 8;
const KC: i32 = 256;
const MC: i32 = 128;
const NC: i32 = 512;
const PACK_A_FLOATS: i32 = MC * KC;
const PACK_B_FLOATS: i32 = KC * NC;

/** Floats of per-thread workspace `gemm` needs (packed A, packed B, an edge tile). */
export function workFloats(): i32 {
  return PACK_A_FLOATS + PACK_B_FLOATS + MR * NR;
}

/** First free byte after this module's static data. */
export function heapBase(): usize {
  return __heap_base;
}

@inline function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

@inline function imin(a: i32, b: i32): i32 {
  return a < b ? a : b;
}

// Store the 4x4 transpose of rows r0..r3 at d, d + stride, d + 2 stride, d + 3 stride.
@inline function transpose4Store(r0: v128, r1: v128, r2: v128, r3: v128, d: usize, stride: usize): void {
  const t0 = i32x4.shuffle(r0, r1, 0, 4, 1, 5);
  const t1 = i32x4.shuffle(r0, r1, 2, 6, 3, 7);
  const t2 = i32x4.shuffle(r2, r3, 0, 4, 1, 5);
  const t3 = i32x4.shuffle(r2, r3, 2, 6, 3, 7);
  v128.store(d, i32x4.shuffle(t0, t2, 0, 1, 4, 5));
  v128.store(d + stride, i32x4.shuffle(t0, t2, 2, 3, 6, 7));
  v128.store(d + 2 * stride, i32x4.shuffle(t1, t3, 0, 1, 4, 5));
  v128.store(d + 3 * stride, i32x4.shuffle(t1, t3, 2, 3, 6, 7));
}

// Operand storage (see Backend.gemmEx): element (r, t) of a stored matrix is at
// (t / blk) * bs + r * ld + t % blk floats from its base; blk = NOBLOCK for a plain row-major matrix (t / blk = 0).
const NOBLOCK: i32 = 0x40000000;

// Float offset of contiguous index t.
@inline function toff(t: i32, blk: i32, bs: i32): usize {
  return <usize>(t / blk) * <usize>bs + <usize>(t % blk);
}

// Pack op(B)[pc:pc+kc, jc:jc+nc] into NR-wide micro-panels: panel p holds [k][jj] at dst + (p*kc*NR + k*NR + jj)*4,
// columns past nc are zero.
function packB(transB: i32, b: usize, ldb: i32, bblk: i32, bbs: i32, pc: i32, kc: i32, jc: i32, nc: i32, dst: usize): void {
  const ldbB = <usize>ldb << 2;
  for (let jp = 0; jp < nc; jp += NR) {
    const nr = imin(NR, nc - jp);
    const j = jc + jp;
    let d = dst + (<usize>jp * <usize>kc << 2);
    if (!transB) {
      // op(B)[k][j] = B[k*ldb + off(j)]
      if (nr == NR && j % bblk + NR <= bblk) {
        let s = b + ((<usize>pc * <usize>ldb + toff(j, bblk, bbs)) << 2);
        for (let k = 0; k < kc; k++, s += ldbB, d += 32) {
          v128.store(d, v128.load(s));
          v128.store(d, v128.load(s, 16), 16);
        }
      } else {
        for (let jj = 0; jj < NR; jj++) {
          let q = d + (<usize>jj << 2);
          if (jj < nr) {
            let s = b + ((<usize>pc * <usize>ldb + toff(j + jj, bblk, bbs)) << 2);
            for (let k = 0; k < kc; k++, s += ldbB, q += 32) store<f32>(q, load<f32>(s));
          } else {
            for (let k = 0; k < kc; k++, q += 32) store<f32>(q, 0);
          }
        }
      }
    } else {
      // op(B)[k][j] = B[j*ldb + off(k)]: 4x4 transposes of rows j..j+3 and j+4..j+7
      const s = b + ((<usize>j * <usize>ldb) << 2);
      if (nr == NR) {
        // k runs through blocks: kr = index within the current block, kb = float offset of that block
        let k = 0, kr = pc % bblk;
        let kb = <usize>(pc / bblk) * <usize>bbs;
        while (k < kc) {
          const s0 = s + ((kb + <usize>kr) << 2);
          if (k + 4 <= kc && kr + 4 <= bblk) {
            const dk = d + (<usize>k << 5);
            transpose4Store(v128.load(s0), v128.load(s0 + ldbB), v128.load(s0 + 2 * ldbB), v128.load(s0 + 3 * ldbB), dk, 32);
            const s4 = s0 + 4 * ldbB;
            transpose4Store(v128.load(s4), v128.load(s4 + ldbB), v128.load(s4 + 2 * ldbB), v128.load(s4 + 3 * ldbB), dk + 16, 32);
            k += 4; kr += 4;
          } else {
            for (let jj = 0; jj < NR; jj++) store<f32>(d + (<usize>(k * NR + jj) << 2), load<f32>(s0 + <usize>jj * ldbB));
            k++; kr++;
          }
          if (kr == bblk) { kr = 0; kb += <usize>bbs; }
        }
      } else {
        for (let k = 0; k < kc; k++) {
          const s0 = s + (toff(pc + k, bblk, bbs) << 2);
          for (let jj = 0; jj < NR; jj++) {
            store<f32>(d + (<usize>(k * NR + jj) << 2), jj < nr ? load<f32>(s0 + <usize>jj * ldbB) : 0);
          }
        }
      }
    }
  }
}

// Whether tab[t..t+n) (i32) holds consecutive values.
@inline function runOf(tab: usize, t: i32, n: i32): bool {
  const p = tab + (<usize>t << 2);
  const v0 = load<i32>(p);
  for (let i = 1; i < n; i++) if (load<i32>(p + (<usize>i << 2)) != v0 + i) return false;
  return true;
}

// packB for a B stored through offset tables (Backend.gemmEx's table layout, e.g. an im2col matrix read straight from
// the images): element (r, t) of the stored matrix at b + (rowTab[r] + colTab[t]) floats.
function packBTable(transB: i32, b: usize, rowTab: usize, colTab: usize, pc: i32, kc: i32, jc: i32, nc: i32, dst: usize): void {
  for (let jp = 0; jp < nc; jp += NR) {
    const nr = imin(NR, nc - jp);
    const j = jc + jp;
    let d = dst + (<usize>jp * <usize>kc << 2);
    if (!transB) {
      // op(B)[k][j] = B(k, j): rows from rowTab, 8 columns that are usually one contiguous run
      if (nr == NR && runOf(colTab, j, NR)) {
        const s = b + (<usize>load<i32>(colTab + (<usize>j << 2)) << 2);
        let rt = rowTab + (<usize>pc << 2);
        for (let k = 0; k < kc; k++, rt += 4, d += 32) {
          const q = s + (<usize>load<i32>(rt) << 2);
          v128.store(d, v128.load(q));
          v128.store(d, v128.load(q, 16), 16);
        }
      } else {
        for (let jj = 0; jj < NR; jj++) {
          let q = d + (<usize>jj << 2);
          let rt = rowTab + (<usize>pc << 2);
          if (jj < nr) {
            const s = b + (<usize>load<i32>(colTab + (<usize>(j + jj) << 2)) << 2);
            for (let k = 0; k < kc; k++, rt += 4, q += 32) store<f32>(q, load<f32>(s + (<usize>load<i32>(rt) << 2)));
          } else {
            for (let k = 0; k < kc; k++, q += 32) store<f32>(q, 0);
          }
        }
      }
    } else {
      // op(B)[k][j] = B(j, k): 8 stored rows (j), runs of 4 along k transposed
      if (nr == NR) {
        const rt = rowTab + (<usize>j << 2);
        const r0 = b + (<usize>load<i32>(rt) << 2), r1 = b + (<usize>load<i32>(rt, 4) << 2);
        const r2 = b + (<usize>load<i32>(rt, 8) << 2), r3 = b + (<usize>load<i32>(rt, 12) << 2);
        const r4 = b + (<usize>load<i32>(rt, 16) << 2), r5 = b + (<usize>load<i32>(rt, 20) << 2);
        const r6 = b + (<usize>load<i32>(rt, 24) << 2), r7 = b + (<usize>load<i32>(rt, 28) << 2);
        let k = 0;
        while (k < kc) {
          const kk = pc + k;
          const o = <usize>load<i32>(colTab + (<usize>kk << 2)) << 2;
          if (k + 4 <= kc && runOf(colTab, kk, 4)) {
            const dk = d + (<usize>k << 5);
            transpose4Store(v128.load(r0 + o), v128.load(r1 + o), v128.load(r2 + o), v128.load(r3 + o), dk, 32);
            transpose4Store(v128.load(r4 + o), v128.load(r5 + o), v128.load(r6 + o), v128.load(r7 + o), dk + 16, 32);
            k += 4;
          } else {
            const dk = d + (<usize>k << 5);
            store<f32>(dk, load<f32>(r0 + o)); store<f32>(dk, load<f32>(r1 + o), 4);
            store<f32>(dk, load<f32>(r2 + o), 8); store<f32>(dk, load<f32>(r3 + o), 12);
            store<f32>(dk, load<f32>(r4 + o), 16); store<f32>(dk, load<f32>(r5 + o), 20);
            store<f32>(dk, load<f32>(r6 + o), 24); store<f32>(dk, load<f32>(r7 + o), 28);
            k++;
          }
        }
      } else {
        for (let k = 0; k < kc; k++) {
          const o = <usize>load<i32>(colTab + (<usize>(pc + k) << 2));
          for (let jj = 0; jj < NR; jj++) {
            store<f32>(d + (<usize>(k * NR + jj) << 2),
              jj < nr ? load<f32>(b + ((<usize>load<i32>(rowTab + (<usize>(j + jj) << 2)) + o) << 2)) : 0);
          }
        }
      }
    }
  }
}

// Pack op(A)[ic:ic+mc, pc:pc+kc] into MR-tall panels: panel p holds [k][r] at dst + (p*kc*MR + k*MR + r)*4.
function packA(transA: i32, a: usize, lda: i32, ablk: i32, abs: i32, ic: i32, mc: i32, pc: i32, kc: i32, dst: usize): void {
  const ldaB = <usize>lda << 2;
  for (let ip = 0; ip < mc; ip += MR) {
    const mr = imin(MR, mc - ip);
    const i = ic + ip;
    let d = dst + (<usize>ip * <usize>kc << 2);
    if (!transA) {
      // op(A)[i][k] = A[i*lda + off(k)]
      const s = a + ((<usize>i * <usize>lda) << 2);
      if (mr == MR) {
        let k = 0, kr = pc % ablk;
        let kb = <usize>(pc / ablk) * <usize>abs;
        while (k < kc) {
          const s0 = s + ((kb + <usize>kr) << 2);
          if (k + 4 <= kc && kr + 4 <= ablk) {
            transpose4Store(v128.load(s0), v128.load(s0 + ldaB), v128.load(s0 + 2 * ldaB), v128.load(s0 + 3 * ldaB), d + (<usize>k << 4), 16);
            k += 4; kr += 4;
          } else {
            for (let r = 0; r < MR; r++) store<f32>(d + (<usize>(k * MR + r) << 2), load<f32>(s0 + <usize>r * ldaB));
            k++; kr++;
          }
          if (kr == ablk) { kr = 0; kb += <usize>abs; }
        }
      } else {
        for (let k = 0; k < kc; k++) {
          const s0 = s + (toff(pc + k, ablk, abs) << 2);
          for (let r = 0; r < MR; r++) {
            store<f32>(d + (<usize>(k * MR + r) << 2), r < mr ? load<f32>(s0 + <usize>r * ldaB) : 0);
          }
        }
      }
    } else {
      // op(A)[i][k] = A[k*lda + off(i)]
      if (mr == MR && i % ablk + MR <= ablk) {
        let s = a + ((<usize>pc * <usize>lda + toff(i, ablk, abs)) << 2);
        for (let k = 0; k < kc; k++, s += ldaB, d += 16) v128.store(d, v128.load(s));
      } else {
        for (let r = 0; r < MR; r++) {
          let q = d + (<usize>r << 2);
          if (r < mr) {
            let s = a + ((<usize>pc * <usize>lda + toff(i + r, ablk, abs)) << 2);
            for (let k = 0; k < kc; k++, s += ldaB, q += 16) store<f32>(q, load<f32>(s));
          } else {
            for (let k = 0; k < kc; k++, q += 16) store<f32>(q, 0);
          }
        }
      }
    }
  }
}

// C[0:mr, 0:nr] += alpha * Apanel * Bpanel over kc steps. Full tiles with contiguous rows (cp, ldc in bytes) are
// updated in place; other tiles (edges, or a tile that spans two blocks of a blocked C) go through tmp and scalar
// stores at C(i0 + r, j0 + jj).
@inline function microKernel(kc: i32, ap: usize, bp: usize, alpha: f32, full: bool, cp: usize, ldc: usize, mr: i32, nr: i32,
  tmp: usize, c: usize, ldcF: i32, cblk: i32, cbs: i32, i0: i32, j0: i32): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  for (let k = 0; k < kc; k++) {
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    let x = v128.load32_splat(ap);
    c00 = madd(x, b0, c00); c01 = madd(x, b1, c01);
    x = v128.load32_splat(ap, 4);
    c10 = madd(x, b0, c10); c11 = madd(x, b1, c11);
    x = v128.load32_splat(ap, 8);
    c20 = madd(x, b0, c20); c21 = madd(x, b1, c21);
    x = v128.load32_splat(ap, 12);
    c30 = madd(x, b0, c30); c31 = madd(x, b1, c31);
    ap += 16;
    bp += 32;
  }
  const va = f32x4.splat(alpha);
  if (full) {
    let p = cp;
    v128.store(p, madd(va, c00, v128.load(p))); v128.store(p, madd(va, c01, v128.load(p, 16)), 16);
    p += ldc;
    v128.store(p, madd(va, c10, v128.load(p))); v128.store(p, madd(va, c11, v128.load(p, 16)), 16);
    p += ldc;
    v128.store(p, madd(va, c20, v128.load(p))); v128.store(p, madd(va, c21, v128.load(p, 16)), 16);
    p += ldc;
    v128.store(p, madd(va, c30, v128.load(p))); v128.store(p, madd(va, c31, v128.load(p, 16)), 16);
  } else {
    v128.store(tmp, c00); v128.store(tmp, c01, 16);
    v128.store(tmp, c10, 32); v128.store(tmp, c11, 48);
    v128.store(tmp, c20, 64); v128.store(tmp, c21, 80);
    v128.store(tmp, c30, 96); v128.store(tmp, c31, 112);
    storeEdge(tmp, alpha, c, ldcF, cblk, cbs, i0, j0, mr, nr);
  }
}

function storeEdge(tmp: usize, alpha: f32, c: usize, ldc: i32, cblk: i32, cbs: i32, i0: i32, j0: i32, mr: i32, nr: i32): void {
  for (let j = 0; j < nr; j++) {
    const col = c + (toff(j0 + j, cblk, cbs) << 2);
    for (let r = 0; r < mr; r++) {
      const q = col + (<usize>(i0 + r) * <usize>ldc << 2);
      store<f32>(q, load<f32>(q) + alpha * load<f32>(tmp + (<usize>(r * NR + j) << 2)));
    }
  }
}

// C[i0:i1, j0:j1] *= beta (beta == 0 writes zeros, as the reference does).
function scaleRegion(c: usize, ldc: i32, cblk: i32, cbs: i32, i0: i32, i1: i32, j0: i32, j1: i32, beta: f32): void {
  if (beta == 1) return;
  const vb = f32x4.splat(beta);
  for (let i = i0; i < i1; i++) {
    let js = j0;
    while (js < j1) {
      // one run of columns inside a block
      const je = imin(j1, js - js % cblk + cblk);
      const row = c + ((<usize>i * <usize>ldc + toff(js, cblk, cbs)) << 2);
      const n = je - js;
      js = je;
      if (beta == 0) {
        memory.fill(row, 0, <usize>n << 2);
        continue;
      }
      let j = 0;
      for (; j + 4 <= n; j += 4) {
        const q = row + (<usize>j << 2);
        v128.store(q, f32x4.mul(v128.load(q), vb));
      }
      for (; j < n; j++) {
        const q = row + (<usize>j << 2);
        store<f32>(q, load<f32>(q) * beta);
      }
    }
  }
}

// sum over k < n of p[k] * q[k * qs] (p contiguous; q with a stride of qs floats).
function dotStrided(p: usize, q: usize, qs: i32, n: i32): f32 {
  let k = 0;
  let s: f32 = 0;
  if (qs == 1) {
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    for (; k + 16 <= n; k += 16) {
      const o = <usize>k << 2;
      a0 = madd(v128.load(p + o), v128.load(q + o), a0);
      a1 = madd(v128.load(p + o, 16), v128.load(q + o, 16), a1);
      a2 = madd(v128.load(p + o, 32), v128.load(q + o, 32), a2);
      a3 = madd(v128.load(p + o, 48), v128.load(q + o, 48), a3);
    }
    for (; k + 4 <= n; k += 4) a0 = madd(v128.load(p + (<usize>k << 2)), v128.load(q + (<usize>k << 2)), a0);
    const t = f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3));
    s = f32x4.extract_lane(t, 0) + f32x4.extract_lane(t, 1) + f32x4.extract_lane(t, 2) + f32x4.extract_lane(t, 3);
  }
  for (; k < n; k++) s += load<f32>(p + (<usize>k << 2)) * load<f32>(q + (<usize>k * <usize>qs << 2));
  return s;
}

// y[0:n] += alpha * x[0:n] (contiguous).
function axpyRow(alpha: f32, x: usize, y: usize, n: i32): void {
  const va = f32x4.splat(alpha);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, madd(va, v128.load(x + o), v128.load(y + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(y + o) + alpha * load<f32>(x + o));
  }
}

// C[i0:i1, j0:j1] += alpha op(A) op(B) for M == 1 or N == 1 on plain storage (C already scaled by beta): dot products
// where the matrix operand's rows run along K, else sums of its rows scaled by the vector's elements.
function gemv(transA: i32, transB: i32, M: i32, N: i32, K: i32, alpha: f32, a: usize, b: usize, c: usize, i0: i32,
  i1: i32, j0: i32, j1: i32, lda: i32, ldb: i32, ldc: i32): void {
  if (M == 1) {
    // the vector op(A)[0][k] at a + k * sa; C is one row
    const sa = transA ? lda : 1;
    if (transB) {
      for (let j = j0; j < j1; j++) {
        const q = c + (<usize>j << 2);
        store<f32>(q, load<f32>(q) + alpha * dotStrided(b + (<usize>j * <usize>ldb << 2), a, sa, K));
      }
    } else {
      for (let k = 0; k < K; k++) {
        axpyRow(alpha * load<f32>(a + (<usize>k * <usize>sa << 2)), b + ((<usize>k * <usize>ldb + <usize>j0) << 2), c + (<usize>j0 << 2), j1 - j0);
      }
    }
    return;
  }
  // N == 1: the vector op(B)[k][0] at b + k * sb; C is one column (stride ldc)
  const sb = transB ? 1 : ldb;
  if (!transA) {
    for (let i = i0; i < i1; i++) {
      const q = c + (<usize>i * <usize>ldc << 2);
      store<f32>(q, load<f32>(q) + alpha * dotStrided(a + (<usize>i * <usize>lda << 2), b, sb, K));
    }
  } else if (ldc == 1) {
    for (let k = 0; k < K; k++) {
      axpyRow(alpha * load<f32>(b + (<usize>k * <usize>sb << 2)), a + ((<usize>k * <usize>lda + <usize>i0) << 2), c + (<usize>i0 << 2), i1 - i0);
    }
  } else {
    for (let i = i0; i < i1; i++) {
      let s: f32 = 0;
      for (let k = 0; k < K; k++) s += load<f32>(a + ((<usize>k * <usize>lda + <usize>i) << 2)) * load<f32>(b + (<usize>k * <usize>sb << 2));
      const q = c + (<usize>i * <usize>ldc << 2);
      store<f32>(q, load<f32>(q) + alpha * s);
    }
  }
}

/**
 * C = alpha op(A) op(B) + beta C restricted to rows [i0, i1) and columns [j0, j1) of C (op(A) is M x K, op(B) is
 * K x N, C is M x N). Threads call it on disjoint regions. work: workFloats() floats private to the caller.
 * Storage of A, B, C: leading dimensions lda, ldb, ldc; blocks ablk, bblk, cblk (0 = plain) of bs floats apart: element (r, t) of the stored matrix (A: M x K,
 * or K x M if transposed; B: K x N, or N x K; C: M x N) at (t / blk) * bs + r * ld + t % blk. bblk = -1: B through
 * offset tables instead, element (r, t) at rowTab[r] + colTab[t] floats (rowTab at byte pointer ldb, colTab at bbs).
 */
export function gemm(transA: i32, transB: i32, M: i32, N: i32, K: i32, alpha: f32, a: usize, b: usize, beta: f32,
  c: usize, i0: i32, i1: i32, j0: i32, j1: i32, work: usize, lda: i32, ablk: i32, abs: i32, ldb: i32, bblk: i32,
  bbs: i32, ldc: i32, cblk: i32, cbs: i32): void {
  if (i1 <= i0 || j1 <= j0) return;
  // A matrix-vector product (one row or one column of C) on plain storage: no packing, which would cost as much as
  // the product itself (e.g. an InnerProduct layer at batch 1).
  const vector = (M == 1 || N == 1) && ablk == 0 && bblk == 0 && cblk == 0;
  // bblk < 0: B is stored through offset tables, row offsets at ldb and column offsets at bbs (byte pointers)
  const tableB = bblk < 0;
  if (ablk <= 0) ablk = NOBLOCK;
  if (bblk <= 0) bblk = NOBLOCK;
  if (cblk <= 0) cblk = NOBLOCK;
  scaleRegion(c, ldc, cblk, cbs, i0, i1, j0, j1, beta);
  if (alpha == 0 || K == 0) return;
  if (vector) {
    gemv(transA, transB, M, N, K, alpha, a, b, c, i0, i1, j0, j1, lda, ldb, ldc);
    return;
  }
  const pa = work;
  const pb = work + (<usize>PACK_A_FLOATS << 2);
  const tmp = pb + (<usize>PACK_B_FLOATS << 2);
  const ldcB = <usize>ldc << 2;
  // Even K blocks (K = 500 -> 2 x 250 rather than 256 + 244; 800 -> 4 x 200).
  const nk = (K + KC - 1) / KC;
  const kcStep = (K + nk - 1) / nk;
  for (let jc = j0; jc < j1; jc += NC) {
    const nc = imin(NC, j1 - jc);
    for (let pc = 0; pc < K; pc += kcStep) {
      const kc = imin(kcStep, K - pc);
      if (tableB) packBTable(transB, b, <usize>ldb, <usize>bbs, pc, kc, jc, nc, pb);
      else packB(transB, b, ldb, bblk, bbs, pc, kc, jc, nc, pb);
      for (let ic = i0; ic < i1; ic += MC) {
        const mc = imin(MC, i1 - ic);
        packA(transA, a, lda, ablk, abs, ic, mc, pc, kc, pa);
        for (let jr = 0; jr < nc; jr += NR) {
          const nr = imin(NR, nc - jr);
          const j = jc + jr;
          const bp = pb + (<usize>jr * <usize>kc << 2);
          const contiguous = nr == NR && j % cblk + NR <= cblk;
          const colOff = contiguous ? toff(j, cblk, cbs) : 0;
          for (let ir = 0; ir < mc; ir += MR) {
            const mr = imin(MR, mc - ir);
            const i = ic + ir;
            const cp = c + ((<usize>i * <usize>ldc + colOff) << 2);
            microKernel(kc, pa + (<usize>ir * <usize>kc << 2), bp, alpha, contiguous && mr == MR, cp, ldcB, mr, nr, tmp,
              c, ldc, cblk, cbs, i, j);
          }
        }
      }
    }
  }
}

// The per-layer kernels (im2col/col2im, pooling, ReLU, the SGD step) live in layer_kernels.ts.
export * from './layer_kernels';
