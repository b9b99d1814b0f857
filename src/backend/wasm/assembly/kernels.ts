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

// Pack op(B)[pc:pc+kc, jc:jc+nc] into NR-wide micro-panels: panel p holds [k][jj] at dst + (p*kc*NR + k*NR + jj)*4,
// columns past nc are zero.
function packB(transB: i32, b: usize, N: i32, K: i32, pc: i32, kc: i32, jc: i32, nc: i32, dst: usize): void {
  for (let jp = 0; jp < nc; jp += NR) {
    const nr = imin(NR, nc - jp);
    const j = jc + jp;
    let d = dst + (<usize>jp * <usize>kc << 2);
    if (!transB) {
      // op(B)[k][j] = B[k*N + j]
      const ldb = <usize>N << 2;
      let s = b + ((<usize>pc * <usize>N + <usize>j) << 2);
      if (nr == NR) {
        for (let k = 0; k < kc; k++, s += ldb, d += 32) {
          v128.store(d, v128.load(s));
          v128.store(d, v128.load(s, 16), 16);
        }
      } else {
        for (let k = 0; k < kc; k++, s += ldb, d += 32) {
          for (let jj = 0; jj < NR; jj++) store<f32>(d + (<usize>jj << 2), jj < nr ? load<f32>(s + (<usize>jj << 2)) : 0);
        }
      }
    } else {
      // op(B)[k][j] = B[j*K + k]: 4x4 transposes of rows j..j+3 and j+4..j+7
      const ldb = <usize>K << 2;
      const s = b + ((<usize>j * <usize>K + <usize>pc) << 2);
      if (nr == NR) {
        let k = 0;
        for (; k + 4 <= kc; k += 4) {
          const s0 = s + (<usize>k << 2);
          const dk = d + (<usize>k << 5);
          transpose4Store(v128.load(s0), v128.load(s0 + ldb), v128.load(s0 + 2 * ldb), v128.load(s0 + 3 * ldb), dk, 32);
          const s4 = s0 + 4 * ldb;
          transpose4Store(v128.load(s4), v128.load(s4 + ldb), v128.load(s4 + 2 * ldb), v128.load(s4 + 3 * ldb), dk + 16, 32);
        }
        for (; k < kc; k++) {
          for (let jj = 0; jj < NR; jj++) store<f32>(d + (<usize>(k * NR + jj) << 2), load<f32>(s + <usize>jj * ldb + (<usize>k << 2)));
        }
      } else {
        for (let k = 0; k < kc; k++) {
          for (let jj = 0; jj < NR; jj++) {
            store<f32>(d + (<usize>(k * NR + jj) << 2), jj < nr ? load<f32>(s + <usize>jj * ldb + (<usize>k << 2)) : 0);
          }
        }
      }
    }
  }
}

// Pack op(A)[ic:ic+mc, pc:pc+kc] into MR-tall panels: panel p holds [k][r] at dst + (p*kc*MR + k*MR + r)*4.
function packA(transA: i32, a: usize, M: i32, K: i32, ic: i32, mc: i32, pc: i32, kc: i32, dst: usize): void {
  for (let ip = 0; ip < mc; ip += MR) {
    const mr = imin(MR, mc - ip);
    const i = ic + ip;
    let d = dst + (<usize>ip * <usize>kc << 2);
    if (!transA) {
      // op(A)[i][k] = A[i*K + k]
      const lda = <usize>K << 2;
      const s = a + ((<usize>i * <usize>K + <usize>pc) << 2);
      if (mr == MR) {
        let k = 0;
        for (; k + 4 <= kc; k += 4) {
          const s0 = s + (<usize>k << 2);
          transpose4Store(v128.load(s0), v128.load(s0 + lda), v128.load(s0 + 2 * lda), v128.load(s0 + 3 * lda), d + (<usize>k << 4), 16);
        }
        for (; k < kc; k++) {
          for (let r = 0; r < MR; r++) store<f32>(d + (<usize>(k * MR + r) << 2), load<f32>(s + <usize>r * lda + (<usize>k << 2)));
        }
      } else {
        for (let k = 0; k < kc; k++) {
          for (let r = 0; r < MR; r++) {
            store<f32>(d + (<usize>(k * MR + r) << 2), r < mr ? load<f32>(s + <usize>r * lda + (<usize>k << 2)) : 0);
          }
        }
      }
    } else {
      // op(A)[i][k] = A[k*M + i]
      const lda = <usize>M << 2;
      let s = a + ((<usize>pc * <usize>M + <usize>i) << 2);
      if (mr == MR) {
        for (let k = 0; k < kc; k++, s += lda, d += 16) v128.store(d, v128.load(s));
      } else {
        for (let k = 0; k < kc; k++, s += lda, d += 16) {
          for (let r = 0; r < MR; r++) store<f32>(d + (<usize>r << 2), r < mr ? load<f32>(s + (<usize>r << 2)) : 0);
        }
      }
    }
  }
}

// C[0:mr, 0:nr] += alpha * Apanel * Bpanel over kc steps (ldc in bytes).
@inline function microKernel(kc: i32, ap: usize, bp: usize, alpha: f32, c: usize, ldc: usize, mr: i32, nr: i32, tmp: usize): void {
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
  if (mr == MR && nr == NR) {
    let p = c;
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
    for (let r = 0; r < mr; r++) {
      const row = c + <usize>r * ldc;
      for (let j = 0; j < nr; j++) {
        const q = row + (<usize>j << 2);
        store<f32>(q, load<f32>(q) + alpha * load<f32>(tmp + (<usize>(r * NR + j) << 2)));
      }
    }
  }
}

// C[i0:i1, j0:j1] *= beta (beta == 0 writes zeros, as the reference does).
function scaleRegion(c: usize, N: i32, i0: i32, i1: i32, j0: i32, j1: i32, beta: f32): void {
  if (beta == 1) return;
  const vb = f32x4.splat(beta);
  for (let i = i0; i < i1; i++) {
    const row = c + ((<usize>i * <usize>N + <usize>j0) << 2);
    const n = j1 - j0;
    let j = 0;
    if (beta == 0) {
      memory.fill(row, 0, <usize>n << 2);
      continue;
    }
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

/**
 * C = alpha op(A) op(B) + beta C restricted to rows [i0, i1) and columns [j0, j1) of C (row-major, M x N; op(A) is
 * M x K, op(B) is K x N). Threads call it on disjoint regions. work: workFloats() floats private to the caller.
 */
export function gemm(transA: i32, transB: i32, M: i32, N: i32, K: i32, alpha: f32, a: usize, b: usize, beta: f32,
  c: usize, i0: i32, i1: i32, j0: i32, j1: i32, work: usize): void {
  if (i1 <= i0 || j1 <= j0) return;
  scaleRegion(c, N, i0, i1, j0, j1, beta);
  if (alpha == 0 || K == 0) return;
  const pa = work;
  const pb = work + (<usize>PACK_A_FLOATS << 2);
  const tmp = pb + (<usize>PACK_B_FLOATS << 2);
  const ldc = <usize>N << 2;
  // Even K blocks (K = 500 -> 2 x 250 rather than 256 + 244; 800 -> 4 x 200).
  const nk = (K + KC - 1) / KC;
  const kcStep = (K + nk - 1) / nk;
  for (let jc = j0; jc < j1; jc += NC) {
    const nc = imin(NC, j1 - jc);
    for (let pc = 0; pc < K; pc += kcStep) {
      const kc = imin(kcStep, K - pc);
      packB(transB, b, N, K, pc, kc, jc, nc, pb);
      for (let ic = i0; ic < i1; ic += MC) {
        const mc = imin(MC, i1 - ic);
        packA(transA, a, M, K, ic, mc, pc, kc, pa);
        for (let jr = 0; jr < nc; jr += NR) {
          const nr = imin(NR, nc - jr);
          const bp = pb + (<usize>jr * <usize>kc << 2);
          for (let ir = 0; ir < mc; ir += MR) {
            const mr = imin(MR, mc - ir);
            const cp = c + ((<usize>(ic + ir) * <usize>N + <usize>(jc + jr)) << 2);
            microKernel(kc, pa + (<usize>ir * <usize>kc << 2), bp, alpha, cp, ldc, mr, nr, tmp);
          }
        }
      }
    }
  }
}

// First and one-past-last output index o in [0, out) with 0 <= o*stride + off < size.
@inline function validLo(off: i32, stride: i32, out: i32): i32 {
  let o = 0;
  while (o < out && o * stride + off < 0) o++;
  return o;
}
@inline function validHi(off: i32, stride: i32, size: i32, lo: i32, out: i32): i32 {
  let o = out;
  while (o > lo && (o - 1) * stride + off >= size) o--;
  return o;
}

/** Caffe's im2col for one image (col: (C*kh*kw) x (outH*outW)). */
export function im2col(im: usize, channels: i32, height: i32, width: i32, kernelH: i32, kernelW: i32, padH: i32, padW: i32,
  strideH: i32, strideW: i32, dilationH: i32, dilationW: i32, col: usize): void {
  const outH = (height + 2 * padH - (dilationH * (kernelH - 1) + 1)) / strideH + 1;
  const outW = (width + 2 * padW - (dilationW * (kernelW - 1) + 1)) / strideW + 1;
  let p = col;
  const rowBytes = <usize>outW << 2;
  for (let c = 0; c < channels; c++) {
    const plane = im + (<usize>c * <usize>height * <usize>width << 2);
    for (let kh = 0; kh < kernelH; kh++) {
      for (let kw = 0; kw < kernelW; kw++) {
        const offW = kw * dilationW - padW;
        const lo = validLo(offW, strideW, outW);
        const hi = validHi(offW, strideW, width, lo, outW);
        let inRow = kh * dilationH - padH;
        for (let oh = 0; oh < outH; oh++, inRow += strideH, p += rowBytes) {
          if (inRow < 0 || inRow >= height) {
            memory.fill(p, 0, rowBytes);
            continue;
          }
          for (let ow = 0; ow < lo; ow++) store<f32>(p + (<usize>ow << 2), 0);
          for (let ow = hi; ow < outW; ow++) store<f32>(p + (<usize>ow << 2), 0);
          const src = plane + (<usize>(inRow * width) << 2);
          if (strideW == 1) {
            // rows are short (tens of floats): a SIMD loop beats memory.copy's call overhead
            const d = p + (<usize>lo << 2), s = src + (<usize>(lo + offW) << 2);
            const n = hi - lo;
            let i = 0;
            for (; i + 4 <= n; i += 4) v128.store(d + (<usize>i << 2), v128.load(s + (<usize>i << 2)));
            for (; i < n; i++) store<f32>(d + (<usize>i << 2), load<f32>(s + (<usize>i << 2)));
          } else {
            for (let ow = lo; ow < hi; ow++) store<f32>(p + (<usize>ow << 2), load<f32>(src + (<usize>(ow * strideW + offW) << 2)));
          }
        }
      }
    }
  }
}

/** Caffe's col2im: im (zeroed first) accumulates col. */
export function col2im(col: usize, channels: i32, height: i32, width: i32, kernelH: i32, kernelW: i32, padH: i32, padW: i32,
  strideH: i32, strideW: i32, dilationH: i32, dilationW: i32, im: usize): void {
  const outH = (height + 2 * padH - (dilationH * (kernelH - 1) + 1)) / strideH + 1;
  const outW = (width + 2 * padW - (dilationW * (kernelW - 1) + 1)) / strideW + 1;
  memory.fill(im, 0, <usize>channels * <usize>height * <usize>width << 2);
  let p = col;
  const rowBytes = <usize>outW << 2;
  for (let c = 0; c < channels; c++) {
    const plane = im + (<usize>c * <usize>height * <usize>width << 2);
    for (let kh = 0; kh < kernelH; kh++) {
      for (let kw = 0; kw < kernelW; kw++) {
        const offW = kw * dilationW - padW;
        const lo = validLo(offW, strideW, outW);
        const hi = validHi(offW, strideW, width, lo, outW);
        let inRow = kh * dilationH - padH;
        for (let oh = 0; oh < outH; oh++, inRow += strideH, p += rowBytes) {
          if (inRow < 0 || inRow >= height) continue;
          const dst = plane + (<usize>(inRow * width) << 2);
          if (strideW == 1) {
            let ow = lo;
            for (; ow + 4 <= hi; ow += 4) {
              const q = dst + (<usize>(ow + offW) << 2);
              v128.store(q, f32x4.add(v128.load(q), v128.load(p + (<usize>ow << 2))));
            }
            for (; ow < hi; ow++) {
              const q = dst + (<usize>(ow + offW) << 2);
              store<f32>(q, load<f32>(q) + load<f32>(p + (<usize>ow << 2)));
            }
          } else {
            for (let ow = lo; ow < hi; ow++) {
              const q = dst + (<usize>(ow * strideW + offW) << 2);
              store<f32>(q, load<f32>(q) + load<f32>(p + (<usize>ow << 2)));
            }
          }
        }
      }
    }
  }
}

// Max over one clipped window, scalar: the value goes to `top`, its index within the plane to `mask`.
@inline function maxWindow(base: usize, width: i32, hs: i32, he: i32, ws: i32, we: i32, t: usize, m: usize): void {
  let best = -Infinity as f32;
  let arg = -1;
  for (let h = hs; h < he; h++) {
    const row = h * width;
    for (let w = ws; w < we; w++) {
      const v = load<f32>(base + (<usize>(row + w) << 2));
      if (v > best) { best = v; arg = row + w; }
    }
  }
  store<f32>(t, best);
  store<f32>(m, <f32>arg);
}

/**
 * Caffe's max pooling over `planes` = num*channels planes; mask receives the argmax index within the plane (-1 for an
 * empty window). Four horizontally adjacent windows that lie fully inside the row are done at once with branch-free
 * SIMD compare-and-select (strict >, in row-major order: the first maximum wins and NaN is skipped, as in Caffe).
 */
export function maxPoolForward(bottom: usize, planes: i32, height: i32, width: i32, pooledH: i32, pooledW: i32,
  kernelH: i32, kernelW: i32, padH: i32, padW: i32, strideH: i32, strideW: i32, top: usize, mask: usize): void {
  const planeBytes = <usize>(height * width) << 2;
  const laneOff = i32x4(0, strideW, 2 * strideW, 3 * strideW);
  // First and one-past-last pw whose window is not clipped horizontally.
  let pwLo = 0;
  while (pwLo < pooledW && pwLo * strideW - padW < 0) pwLo++;
  let pwHi = pooledW;
  while (pwHi > pwLo && (pwHi - 1) * strideW - padW + kernelW > width) pwHi--;
  let t = top, m = mask, base = bottom;
  for (let nc = 0; nc < planes; nc++, base += planeBytes) {
    for (let ph = 0; ph < pooledH; ph++) {
      const h0 = ph * strideH - padH;
      const hs = h0 > 0 ? h0 : 0;
      const he = imin(h0 + kernelH, height);
      let pw = 0;
      for (; pw < pwLo; pw++) {
        const w0 = pw * strideW - padW;
        maxWindow(base, width, hs, he, w0 > 0 ? w0 : 0, imin(w0 + kernelW, width), t + (<usize>pw << 2), m + (<usize>pw << 2));
      }
      for (; pw + 4 <= pwHi; pw += 4) {
        let best = f32x4.splat(-Infinity);
        let arg = i32x4.splat(-1);
        const w0 = pw * strideW - padW;
        for (let h = hs; h < he; h++) {
          for (let kw = 0; kw < kernelW; kw++) {
            const i0 = h * width + w0 + kw;
            const p = base + (<usize>i0 << 2);
            let v: v128;
            if (strideW == 1) v = v128.load(p);
            else if (strideW == 2) v = i32x4.shuffle(v128.load(p), v128.load(p, 16), 0, 2, 4, 6);
            else {
              const sb = <usize>strideW << 2;
              v = f32x4.splat(load<f32>(p));
              v = f32x4.replace_lane(v, 1, load<f32>(p + sb));
              v = f32x4.replace_lane(v, 2, load<f32>(p + 2 * sb));
              v = f32x4.replace_lane(v, 3, load<f32>(p + 3 * sb));
            }
            const gt = f32x4.gt(v, best);
            best = v128.bitselect(v, best, gt);
            arg = v128.bitselect(i32x4.add(i32x4.splat(i0), laneOff), arg, gt);
          }
        }
        v128.store(t + (<usize>pw << 2), best);
        v128.store(m + (<usize>pw << 2), f32x4.convert_i32x4_s(arg));
      }
      for (; pw < pooledW; pw++) {
        const w0 = pw * strideW - padW;
        maxWindow(base, width, hs, he, w0 > 0 ? w0 : 0, imin(w0 + kernelW, width), t + (<usize>pw << 2), m + (<usize>pw << 2));
      }
      t += <usize>pooledW << 2;
      m += <usize>pooledW << 2;
    }
  }
}

/** Caffe's max pooling backward: bottomDiff (zeroed first) accumulates topDiff at the mask positions. */
export function maxPoolBackward(topDiff: usize, mask: usize, planes: i32, height: i32, width: i32, pooledH: i32,
  pooledW: i32, bottomDiff: usize): void {
  const planeBytes = <usize>(height * width) << 2;
  const n = pooledH * pooledW;
  memory.fill(bottomDiff, 0, <usize>planes * planeBytes);
  let t = topDiff, m = mask, base = bottomDiff;
  for (let nc = 0; nc < planes; nc++, base += planeBytes) {
    for (let i = 0; i < n; i++, t += 4, m += 4) {
      const idx = load<f32>(m);
      if (idx >= 0) {
        const q = base + (<usize><i32>idx << 2);
        store<f32>(q, load<f32>(q) + load<f32>(t));
      }
    }
  }
}

/** Zero `bytes` bytes at ptr (bulk memory.fill: far faster than TypedArray.prototype.fill). */
export function zero(ptr: usize, bytes: usize): void {
  memory.fill(ptr, 0, bytes);
}
