// The 'wasm' backend against the TypeScript reference backend: GEMM on odd sizes, all transposes, alpha/beta variants,
// both SIMD builds, one and two threads, operands inside and outside the wasm memory; im2col/col2im; the other kernels;
// the allocator and memory growth; a LeNet-like convolution layer under either backend; clean worker shutdown; and the
// committed .wasm modules against a fresh AssemblyScript build.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createBackend, layoutExtent, setBackend, type Backend, type ConvGeometry, type MatrixLayout,
  type PoolGeometry } from '../src/backend/backend.js';
import '../src/backend/ts/index.js';
import { createWasmBackend, shutdownWasmWorkers, type WasmBackend } from '../src/backend/wasm/index.js';
import { wasmRuntime } from '../src/backend/wasm/runtime.js';
import { Blob } from '../src/blob/blob.js';
import { makeLayer } from './gradient_checker.js';
import { setRandomSeed } from '../src/util/rng.js';
import { repoRoot, scratchDir, removeDir } from './helpers.js';

const ts = createBackend('ts');

let seed = 12345;
function rand(): number {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
  return (seed >>> 8) / 16777216 - 0.5;
}
function fill(a: Float32Array): Float32Array {
  for (let i = 0; i < a.length; i++) a[i] = rand();
  return a;
}

/** Check one GEMM of `be` against the reference: |c - ref| <= 1e-4 (|ref| + |alpha| sum_k |a b| + |beta c0|). */
function checkGemm(be: WasmBackend, tA: boolean, tB: boolean, M: number, N: number, K: number, alpha: number, beta: number,
  where: 'wasm' | 'js' | 'offset'): void {
  const alloc = (n: number) => (where === 'js' ? new Float32Array(n) : be.allocFloat32(n));
  const pad = where === 'offset' ? 3 : 0; // operands at odd offsets inside larger arrays
  const A = fill(alloc(M * K + pad)).subarray(pad), B = fill(alloc(K * N + pad)).subarray(pad);
  const Cbig = fill(alloc(M * N + 2 * pad));
  const C = Cbig.subarray(pad, pad + M * N);
  const c0 = Float32Array.from(C);
  const ref = Float32Array.from(C);
  const guard = Float32Array.from(Cbig);
  ts.gemm(tA, tB, M, N, K, alpha, A, B, beta, ref);
  be.gemm(tA, tB, M, N, K, alpha, A, B, beta, C);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let abs = 0;
      for (let k = 0; k < K; k++) abs += Math.abs((tA ? A[k * M + i]! : A[i * K + k]!) * (tB ? B[j * K + k]! : B[k * N + j]!));
      const r = ref[i * N + j]!, c = C[i * N + j]!;
      const tol = 1e-4 * (Math.abs(r) + Math.abs(alpha) * abs + Math.abs(beta * c0[i * N + j]!)) + 1e-30;
      if (!(Math.abs(c - r) <= tol)) {
        assert.fail(`gemm(${tA}, ${tB}, M=${M}, N=${N}, K=${K}, alpha=${alpha}, beta=${beta}, ${where}, ${be.simd}, ` +
          `${be.threads}T): C[${i},${j}] = ${c}, reference ${r}`);
      }
    }
  }
  for (let i = 0; i < pad; i++) {
    assert.equal(Cbig[i], guard[i], 'wrote before C');
    assert.equal(Cbig[pad + M * N + i], guard[pad + M * N + i], 'wrote after C');
  }
}

const TRANS: Array<[boolean, boolean]> = [[false, false], [false, true], [true, false], [true, true]];
const AB: Array<[number, number]> = [[1, 0], [0.5, 1], [-1.5, 0.25], [0, 2]];

test('wasm: relaxed SIMD is detected (or the plain build is used), both builds load', () => {
  const w = createWasmBackend({ threads: 1 });
  assert.equal(w.name, 'wasm');
  assert.ok(w.simd === 'relaxed' || w.simd === 'simd');
  // V8 >= 11.3 (Node 20) supports relaxed SIMD behind a flag the backend sets at runtime; Node 22 has it on.
  assert.equal(w.simd, 'relaxed');
  assert.equal(createWasmBackend({ threads: 1, simd: 'simd' }).simd, 'simd');
});

for (const simd of ['relaxed', 'simd'] as const) {
  test(`wasm gemm (${simd}, 1 thread): odd sizes, all transposes, alpha/beta, in and out of wasm memory`, () => {
    const be = createWasmBackend({ threads: 1, simd });
    const sizes = [1, 3, 17, 65];
    let n = 0;
    for (const M of sizes) for (const N of sizes) for (const K of sizes) {
      const [tA, tB] = TRANS[n % 4]!;
      const [alpha, beta] = AB[(n >> 2) % 4]!;
      checkGemm(be, tA, tB, M, N, K, alpha, beta, (['wasm', 'js', 'offset'] as const)[n % 3]!);
      n++;
    }
    for (const [tA, tB] of TRANS) for (const [alpha, beta] of AB) {
      checkGemm(be, tA, tB, 9, 33, 300, alpha, beta, 'wasm'); // K spans two K blocks
      checkGemm(be, tA, tB, 130, 20, 7, alpha, beta, 'offset'); // M spans two M blocks
    }
    checkGemm(be, false, false, 5, 600, 4, 1, 0, 'js'); // N spans two N blocks
  });
}

test('wasm gemm, 2 threads: LeNet shapes and odd sizes take the multithreaded path', async () => {
  for (const simd of ['relaxed', 'simd'] as const) {
    const be = createWasmBackend({ threads: 2, simd, adaptive: false });
    await be.ready();
    const before = be.stats.parallelGemms;
    const shapes: Array<[boolean, boolean, number, number, number]> = [
      [false, false, 20, 576, 25], [false, false, 50, 64, 500], [false, true, 50, 500, 64], [true, false, 500, 64, 50],
      [false, true, 64, 500, 800], [true, false, 500, 800, 64], [true, true, 67, 129, 65], [false, false, 257, 17, 65],
      [false, false, 3, 1000, 65], [true, false, 1000, 3, 65],
      // matrix-vector products (InnerProduct at batch 1), cut into row or column ranges
      [false, true, 1, 500, 800], [false, false, 1, 800, 500], [true, false, 1, 500, 800], [false, false, 500, 1, 800],
      [true, false, 800, 1, 500], [true, true, 500, 1, 800],
    ];
    shapes.forEach(([tA, tB, M, N, K], i) => {
      const [alpha, beta] = AB[i % 4]!;
      checkGemm(be, tA, tB, M, N, K, alpha, beta, (['wasm', 'js', 'offset'] as const)[i % 3]!);
    });
    // A worker still waking from the previous job sits the next one out, so not every call needs to be split.
    assert.ok(be.stats.parallelGemms > before, 'no GEMM was split over threads');
    // ... but the workers do compute: a GEMM long enough for a sleeping worker to wake up and take a chunk.
    assert.ok(workerTakesPart(be), 'no chunk ran on a worker');
    // Small problems stay on the calling thread.
    const serial = be.stats.serialGemms;
    checkGemm(be, false, false, 3, 5, 7, 1, 0, 'wasm');
    assert.equal(be.stats.serialGemms, serial + 1);
  }
});

/** Whether a worker runs some chunk of large GEMMs (tried a few times: a loaded machine may starve a worker once). */
function workerTakesPart(be: WasmBackend): boolean {
  const M = 256, N = 512, K = 512;
  const A = fill(be.allocFloat32(M * K)), B = fill(be.allocFloat32(K * N)), C = be.allocFloat32(M * N);
  const before = be.stats.workerChunks;
  for (let i = 0; i < 50 && be.stats.workerChunks === before; i++) be.gemm(false, false, M, N, K, 1, A, B, 0, C);
  return be.stats.workerChunks > before;
}

test('wasm gemm: rejects operands that are too short', () => {
  const be = createWasmBackend({ threads: 1 });
  assert.throws(() => be.gemm(false, false, 2, 2, 2, 1, new Float32Array(3), new Float32Array(4), 0, new Float32Array(4)), RangeError);
});

/** Element (r, t) of a stored matrix with layout l (Backend.gemmEx). */
function at(l: MatrixLayout, r: number, t: number): number {
  if (l.rowOffsets && l.colOffsets) return l.rowOffsets[r]! + l.colOffsets[t]!;
  const blk = l.block || Infinity;
  return blk === Infinity ? r * l.ld + t : Math.floor(t / blk) * (l.blockStride ?? 0) + r * l.ld + (t % blk);
}

/**
 * gemmEx of `be` against a direct double-precision evaluation of the layouts: every C element within tolerance and
 * every float of C's array outside the matrix (gaps between blocks, padding) untouched.
 */
function checkGemmEx(be: Backend, tA: boolean, tB: boolean, M: number, N: number, K: number, alpha: number, beta: number,
  la: MatrixLayout, lb: MatrixLayout, lc: MatrixLayout, alloc: (n: number) => Float32Array, what: string): void {
  const [ra, ca] = tA ? [K, M] : [M, K], [rb, cb] = tB ? [N, K] : [K, N];
  const A = fill(alloc(layoutExtent(ra, ca, la) + 5)), B = fill(alloc(layoutExtent(rb, cb, lb) + 5));
  const C = fill(alloc(layoutExtent(M, N, lc) + 7));
  const c0 = Float32Array.from(C);
  be.gemmEx(tA, tB, M, N, K, alpha, A, la, B, lb, beta, C, lc);
  const inC = new Uint8Array(C.length);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0, abs = 0;
      for (let k = 0; k < K; k++) {
        const p = A[tA ? at(la, k, i) : at(la, i, k)]! * B[tB ? at(lb, j, k) : at(lb, k, j)]!;
        s += p;
        abs += Math.abs(p);
      }
      const ci = at(lc, i, j);
      inC[ci] = 1;
      const old = c0[ci]!;
      const ref = alpha * s + (beta === 0 ? 0 : beta * old);
      const tol = 1e-4 * (Math.abs(ref) + Math.abs(alpha) * abs + Math.abs(beta * old)) + 1e-30;
      if (!(Math.abs(C[ci]! - ref) <= tol)) {
        assert.fail(`${what}: gemmEx(${tA}, ${tB}, M=${M}, N=${N}, K=${K}, alpha=${alpha}, beta=${beta}, ` +
          `${JSON.stringify([la, lb, lc])}): C[${i},${j}] = ${C[ci]}, expected ${ref}`);
      }
    }
  }
  for (let i = 0; i < C.length; i++) if (!inC[i]) assert.equal(C[i], c0[i], `${what}: gemmEx wrote outside C at ${i}`);
}

/** Layouts for a stored rows x cols matrix: plain, padded rows, and blocked with several block sizes and gaps. */
function layoutsFor(rows: number, cols: number): MatrixLayout[] {
  const out: MatrixLayout[] = [{ ld: cols }, { ld: cols + 3 }];
  for (const blk of [1, 3, 4, 8, 9, 64]) {
    if (blk >= cols) continue;
    out.push({ ld: blk, block: blk, blockStride: rows * blk });
    out.push({ ld: blk + 2, block: blk, blockStride: rows * (blk + 2) + 5 });
  }
  return out;
}

test('gemmEx on blocked and padded layouts (ts reference and wasm: both builds, 1 and 2 threads, in and out of wasm memory)', async () => {
  const wasms = [createWasmBackend({ threads: 1, simd: 'relaxed' }), createWasmBackend({ threads: 1, simd: 'simd' }),
    createWasmBackend({ threads: 2, adaptive: false })];
  await wasms[2]!.ready();
  const shapes: Array<[number, number, number]> = [[1, 1, 1], [3, 17, 5], [5, 64, 9], [20, 200, 25], [7, 13, 130],
    [50, 128, 300], [1, 50, 576], [33, 9, 65]];
  let n = 0;
  for (const [M, N, K] of shapes) {
    for (const [tA, tB] of TRANS) {
      const las = layoutsFor(tA ? K : M, tA ? M : K), lbs = layoutsFor(tB ? N : K, tB ? K : N), lcs = layoutsFor(M, N);
      // every layout of each operand at least once, with the others varied
      const count = Math.max(las.length, lbs.length, lcs.length);
      for (let i = 0; i < count; i++, n++) {
        const la = las[(i + n) % las.length]!, lb = lbs[(i * 3 + n) % lbs.length]!, lc = lcs[(i * 5 + n) % lcs.length]!;
        const [alpha, beta] = AB[n % 4]!;
        checkGemmEx(ts, tA, tB, M, N, K, alpha, beta, la, lb, lc, (k) => new Float32Array(k), 'ts');
        const be = wasms[n % 3]!;
        const js = n % 5 === 4;
        checkGemmEx(be, tA, tB, M, N, K, alpha, beta, la, lb, lc, (k) => (js ? new Float32Array(k) : be.allocFloat32(k)),
          `wasm ${be.simd} ${be.threads}T ${js ? 'js' : 'wasm'} arrays`);
      }
    }
  }
  // B through offset tables (the im2col matrix read from images): runs of contiguous columns, and scattered ones.
  for (const [M, N, K] of [[5, 24, 9], [20, 64, 25], [9, 37, 131], [1, 8, 4]] as Array<[number, number, number]>) {
    for (const tB of [false, true]) {
      const [rb, cb] = tB ? [N, K] : [K, N];
      const runs: MatrixLayout = { ld: 0, rowOffsets: Int32Array.from({ length: rb }, (_, r) => r * 7 + (r % 3)),
        colOffsets: Int32Array.from({ length: cb }, (_, t) => t + Math.floor(t / 8) * 3 + (t >= 13 ? 1 : 0)) };
      const scattered: MatrixLayout = { ld: 0, rowOffsets: Int32Array.from({ length: rb }, (_, r) => ((r * 5) % rb) * 2),
        colOffsets: Int32Array.from({ length: cb }, (_, t) => ((t * 7) % cb) * 3 + 1) };
      for (const lb of [runs, scattered]) {
        for (const tA of [false, true]) {
          const la = { ld: tA ? M : K }, lc = { ld: N + 1 };
          checkGemmEx(ts, tA, tB, M, N, K, 1.5, 0.5, la, lb, lc, (k) => new Float32Array(k), 'ts tables');
          for (const be of wasms) {
            checkGemmEx(be, tA, tB, M, N, K, 1.5, 0.5, la, lb, lc, (k) => be.allocFloat32(k), `wasm ${be.simd} ${be.threads}T tables`);
          }
          checkGemmEx(wasms[0]!, tA, tB, M, N, K, 1, 0, la, lb, lc, (k) => new Float32Array(k), 'wasm tables, js arrays');
        }
      }
    }
  }
  assert.throws(() => wasms[0]!.gemmEx(false, false, 1, 1, 1, 1, new Float32Array(1),
    { ld: 0, rowOffsets: Int32Array.of(0), colOffsets: Int32Array.of(0) }, new Float32Array(1), { ld: 1 }, 0, new Float32Array(1), { ld: 1 }), RangeError);
  // K = 0 and alpha = 0 only scale C, and only inside the matrix.
  for (const be of [ts, wasms[0]!]) {
    const lc = { ld: 4, block: 4, blockStride: 13 };
    checkGemmEx(be, false, false, 3, 10, 0, 1, 0.5, { ld: 0 }, { ld: 10 }, lc, (k) => new Float32Array(k), 'K = 0');
    checkGemmEx(be, false, true, 3, 10, 4, 0, 0, { ld: 4 }, { ld: 4 }, lc, (k) => new Float32Array(k), 'alpha = 0');
  }
  // A blocked GEMM big enough to be split over both threads.
  const be2 = wasms[2]!;
  const split = be2.stats.parallelGemms;
  checkGemmEx(be2, false, false, 50, 512, 500, 1, 0, { ld: 500 }, { ld: 64, block: 64, blockStride: 500 * 64 },
    { ld: 64, block: 64, blockStride: 50 * 64 }, (k) => be2.allocFloat32(k), 'conv2-like, 2 threads');
  assert.ok(be2.stats.parallelGemms > split, 'the blocked GEMM was not split');
});

test('gemmEx: rejects operands too short for their layout', () => {
  const be = createWasmBackend({ threads: 1 });
  const lb = { ld: 4, block: 4, blockStride: 10 };
  // B: 2 x 8 with blocks of 4 columns 10 floats apart spans 10 + 4 + 4 = 18 floats
  assert.equal(layoutExtent(2, 8, lb), 18);
  assert.throws(() => be.gemmEx(false, false, 1, 8, 2, 1, new Float32Array(2), { ld: 2 }, new Float32Array(17), lb, 0,
    new Float32Array(8), { ld: 8 }), RangeError);
});

function geometries(): ConvGeometry[] {
  const g = (channels: number, height: number, width: number, kernelH: number, kernelW: number, padH: number, padW: number,
    strideH: number, strideW: number, dilationH = 1, dilationW = 1): ConvGeometry =>
    ({ channels, height, width, kernelH, kernelW, padH, padW, strideH, strideW, dilationH, dilationW });
  return [g(1, 28, 28, 5, 5, 0, 0, 1, 1), g(20, 12, 12, 5, 5, 0, 0, 1, 1), g(3, 7, 9, 3, 3, 1, 1, 1, 1),
    g(2, 8, 5, 3, 2, 2, 1, 2, 3), g(2, 9, 9, 3, 3, 2, 2, 1, 1, 2, 2), g(4, 5, 6, 1, 1, 0, 0, 1, 1),
    g(1, 4, 4, 5, 5, 3, 3, 2, 2), g(3, 11, 10, 4, 3, 1, 0, 3, 1, 1, 3)];
}

test('wasm im2col / col2im match the reference (wasm path and copy fallback)', () => {
  const be = createWasmBackend({ threads: 1 });
  for (const g of geometries()) {
    const outH = Math.floor((g.height + 2 * g.padH - (g.dilationH * (g.kernelH - 1) + 1)) / g.strideH) + 1;
    const outW = Math.floor((g.width + 2 * g.padW - (g.dilationW * (g.kernelW - 1) + 1)) / g.strideW) + 1;
    const imN = g.channels * g.height * g.width, colN = g.channels * g.kernelH * g.kernelW * outH * outW;
    for (const inWasm of [true, false]) {
      const alloc = (n: number) => (inWasm ? be.allocFloat32(n) : new Float32Array(n));
      const im = fill(alloc(imN)), col = fill(alloc(colN)), refCol = new Float32Array(colN);
      be.im2col(im, g, col);
      ts.im2col(im, g, refCol);
      for (let i = 0; i < colN; i++) assert.equal(col[i], refCol[i], `im2col ${JSON.stringify(g)} at ${i}`);
      const src = fill(alloc(colN)), outIm = fill(alloc(imN)), refIm = new Float32Array(imN);
      be.col2im(src, g, outIm);
      ts.col2im(src, g, refIm);
      for (let i = 0; i < imN; i++) assert.equal(outIm[i], refIm[i], `col2im ${JSON.stringify(g)} at ${i}`);
    }
  }
});

test('wasm: max pooling and the other kernels agree with the reference on wasm-memory arrays', () => {
  const be = createWasmBackend({ threads: 1 });
  const pool = (num: number, channels: number, height: number, width: number, k: number, stride: number, pad: number,
    kw = k): PoolGeometry => {
    const out = (size: number, kk: number) => {
      let o = Math.ceil((size + 2 * pad - kk) / stride) + 1;
      if (pad > 0 && (o - 1) * stride >= size + pad) o--;
      return o;
    };
    return { num, channels, height, width, pooledH: out(height, k), pooledW: out(width, kw), kernelH: k, kernelW: kw,
      padH: pad, padW: pad, strideH: stride, strideW: stride };
  };
  const pools = [pool(2, 3, 7, 6, 3, 2, 0, 2), pool(1, 6, 7, 6, 3, 2, 1), pool(3, 2, 6, 7, 2, 1, 1),
    pool(2, 2, 12, 24, 2, 2, 0), pool(1, 3, 9, 20, 3, 3, 0), pool(1, 2, 8, 21, 3, 2, 1), pool(1, 1, 5, 30, 2, 1, 0, 5)];
  const run = (b: Backend, alloc: (n: number) => Float32Array): Float32Array[] => {
    seed = 99;
    const x = fill(alloc(252)), y = alloc(252), dx = alloc(252), dy = fill(alloc(252));
    const out: Float32Array[] = [];
    for (const pg of pools) {
      const n = pg.num * pg.channels * pg.pooledH * pg.pooledW, nIn = pg.num * pg.channels * pg.height * pg.width;
      const xin = fill(alloc(nIn));
      xin[5] = NaN; xin[nIn - 3] = NaN; // NaN is skipped
      for (const i of [8, 20, 33, 47, 62]) xin[i] = xin[i + 1] = 10 + i; // ties (window maxima) go to the first
      const top = alloc(n), mask = alloc(n), top2 = alloc(n), bd = fill(alloc(nIn)), bd2 = alloc(nIn);
      b.maxPoolForward(xin, pg, top, mask);
      out.push(Float32Array.from(top));
      fill(top);
      b.maxPoolBackward(top, mask, pg, bd);
      b.avePoolForward(xin, pg, top2); b.avePoolBackward(top2, pg, bd2);
      out.push(mask, bd, top2, bd2);
    }
    b.reluForward(x, y, 0.1); b.reluBackward(x, dy, dx, 0.1);
    const sm = alloc(252); b.softmax(x, 2, 6, 21, sm);
    const w = fill(alloc(10)), g = fill(alloc(10)), h = fill(alloc(10));
    b.axpy(0.3, g, w); b.axpby(0.2, g, 0.7, h); b.scal(1.5, w); b.sgdUpdate(g, h, 0.9, 0.01); b.applyUpdate(w, g);
    // leaky and plain ReLU, in place too, on lengths that are not multiples of 4
    const r0 = Float32Array.from(x.subarray(0, 251)), y0 = alloc(251), x2 = alloc(250), dx0 = alloc(251);
    x2.set(x.subarray(0, 250));
    b.reluForward(x.subarray(0, 251), y0, 0); b.reluBackward(x.subarray(0, 251), dy.subarray(0, 251), dx0, 0);
    b.reluForward(x2, x2, 0.25); b.reluBackward(x2, x2, x2, 0.3);
    // the fused SGD step, with and without decay and momentum (odd lengths: vector and scalar tails)
    const sgd: Float32Array[] = [];
    for (const [len, decay, mom, lr] of [[11, 0.0005, 0.9, 0.01], [4, 0, 0, 0.1], [37, 0.003, 0.5, 1e-3]] as const) {
      const sw = fill(alloc(len)), sg = fill(alloc(len)), sh = fill(alloc(len));
      b.sgdStep(sw, sg, sh, decay, mom, lr);
      sgd.push(sw, sg, sh);
    }
    return [...out, y, dx, sm, w, g, h, Float32Array.of(b.dot(x, dy), b.asum(x)), r0, y0, dx0, x2, ...sgd];
  };
  const want = run(ts, (n) => new Float32Array(n));
  for (const inWasm of [true, false]) {
    const got = run(be, (n) => (inWasm ? be.allocFloat32(n) : new Float32Array(n)));
    got.forEach((a, i) => assert.deepEqual(Array.from(a), Array.from(want[i]!), `kernel result ${i} (${inWasm ? 'wasm' : 'js'} arrays)`));
  }
});

test('wasm: channel bias add and channel sums agree with the reference (odd spatial sizes, several images)', () => {
  const be = createWasmBackend({ threads: 1 });
  for (const [num, channels, spatial] of [[3, 5, 7], [2, 20, 576], [1, 1, 1], [4, 3, 64], [2, 2, 6]] as const) {
    const n = num * channels * spatial;
    seed = 7;
    const xs = fill(new Float32Array(n)), bias = fill(new Float32Array(channels)), sums0 = fill(new Float32Array(channels));
    const wantX = Float32Array.from(xs), wantS = Float32Array.from(sums0);
    ts.addChannelBias(wantX, num, channels, spatial, bias);
    ts.sumChannels(xs, num, channels, spatial, wantS);
    for (const inWasm of [true, false]) {
      const alloc = (a: Float32Array) => { const r = inWasm ? be.allocFloat32(a.length) : new Float32Array(a.length); r.set(a); return r; };
      const x = alloc(xs), b = alloc(bias), s = alloc(sums0);
      be.addChannelBias(x, num, channels, spatial, b);
      assert.deepEqual(Array.from(x), Array.from(wantX), `bias add ${num}x${channels}x${spatial}`);
      be.sumChannels(alloc(xs), num, channels, spatial, s);
      // the wasm sums run in 4 lanes: the same values up to float rounding
      s.forEach((v, c) => assert.ok(Math.abs(v - wantS[c]!) <= 1e-5 * (1 + Math.abs(wantS[c]!)), `sum ${c}: ${v} vs ${wantS[c]}`));
    }
  }
});

test('wasm memory: allocFloat32 is zeroed and in memory, blocks are reused, growth keeps old views valid', async () => {
  const be = createWasmBackend({ threads: 2, adaptive: false });
  await be.ready();
  const heap = wasmRuntime().heap;
  const a = be.allocFloat32(1000);
  assert.ok(be.inMemory(a) && a.every((v) => v === 0));
  a.fill(7);
  assert.ok(!be.inMemory(new Float32Array(4)));
  // free list: release and reallocate reuses the block (coalesced with its neighbour)
  const p1 = heap.alloc(4096), p2 = heap.alloc(4096);
  heap.release(p1);
  heap.release(p2);
  assert.equal(heap.alloc(8192), p1);
  // a reused, dirty block comes back zeroed from allocFloat32
  heap.f32(p1, 2048).fill(3);
  heap.release(p1);
  const z = be.allocFloat32(2048);
  assert.equal(z.byteOffset, p1);
  assert.ok(z.every((v) => v === 0), 'reused block not zeroed');
  // grow well past the current size
  const size0 = heap.size;
  const big = be.allocFloat32((size0 >> 2) + 1_000_000);
  assert.ok(heap.size > size0);
  assert.equal(a[999], 7, 'a view made before growth still reads its data');
  a[0] = 5;
  assert.ok(be.inMemory(a) && be.inMemory(big));
  // the worker computes on memory that only exists since the growth (the end of `big`)
  const M = 128, N = 256, K = 256;
  const tail = big.subarray(big.length - (M * K + K * N + M * N));
  const A = fill(tail.subarray(0, M * K)), B = fill(tail.subarray(M * K, M * K + K * N)), C = tail.subarray(M * K + K * N);
  const ref = new Float32Array(M * N);
  ts.gemm(false, false, M, N, K, 1, A, B, 0, ref);
  const before = be.stats.workerChunks;
  for (let i = 0; i < 50 && be.stats.workerChunks === before; i++) be.gemm(false, false, M, N, K, 1, A, B, 0, C);
  assert.ok(be.stats.workerChunks > before, 'no chunk ran on a worker');
  for (let i = 0; i < M * N; i++) assert.ok(Math.abs(C[i]! - ref[i]!) <= 1e-4 * (1 + Math.abs(ref[i]!)), `C[${i}]`);
  assert.equal(a[0], 5);
});

test('wasm memory: views dropped within one job are reclaimed by collect() (or at the next event-loop turn)', async () => {
  const be = createWasmBackend({ threads: 1 });
  const heap = wasmRuntime().heap;
  await new Promise((r) => setImmediate(r));
  const before = heap.used;
  (() => { for (let i = 0; i < 8; i++) be.allocFloat32(1 << 20); })();
  assert.ok(heap.used >= before + 32 * 2 ** 20);
  const freed = heap.collect();
  if (Number(process.versions.v8.split('.')[0]) <= 12) {
    assert.ok(freed >= 32 * 2 ** 20, `collect() freed only ${freed} bytes`); // cleanupSome: synchronously
  } else {
    for (let i = 0; i < 100 && heap.used >= before + 32 * 2 ** 20; i++) await new Promise((r) => setTimeout(r, 10));
  }
  assert.ok(heap.used < before + 32 * 2 ** 20, 'the dropped views were not reclaimed');
});

test('LeNet-like convolution layers give the same results under the wasm and ts backends', () => {
  const runNet = (be: Backend) => {
    setBackend(be);
    setRandomSeed(1701);
    const conv1 = makeLayer({ name: 'conv1', type: 'Convolution', convolution_param: { num_output: 20, kernel_size: [5], weight_filler: { type: 'xavier' }, bias_filler: { type: 'gaussian', std: 0.1 } } });
    const conv2 = makeLayer({ name: 'conv2', type: 'Convolution', convolution_param: { num_output: 50, kernel_size: [5], stride: [2], pad: [1], weight_filler: { type: 'xavier' }, bias_filler: { type: 'gaussian', std: 0.1 } } });
    const x = new Blob([3, 1, 28, 28]), h = new Blob(), y = new Blob();
    seed = 7;
    fill(x.data);
    conv1.setUp([x], [h]);
    conv2.setUp([h], [y]);
    conv1.forward([x], [h]);
    conv2.forward([h], [y]);
    fill(y.diff);
    conv2.backward([y], [true], [h]);
    conv1.backward([h], [true], [x]);
    return { x, y, h, params: [...conv1.blobs, ...conv2.blobs] };
  };
  const wasm = createWasmBackend({ threads: 2 });
  const a = runNet(ts);
  const b = runNet(wasm);
  setBackend(ts);
  assert.ok(wasm.inMemory(b.y.data), 'blobs were allocated in wasm memory');
  const close = (u: Float32Array, v: Float32Array, what: string) => {
    let scale = 0;
    for (let i = 0; i < v.length; i++) scale = Math.max(scale, Math.abs(v[i]!));
    for (let i = 0; i < v.length; i++) {
      assert.ok(Math.abs(u[i]! - v[i]!) <= 1e-4 * (scale + Math.abs(v[i]!)), `${what}[${i}]: ${u[i]} vs ${v[i]}`);
    }
  };
  close(b.y.data, a.y.data, 'conv2 output');
  close(b.h.data, a.h.data, 'conv1 output');
  close(b.h.diff, a.h.diff, 'conv2 bottom diff');
  close(b.x.diff, a.x.diff, 'conv1 bottom diff');
  a.params.forEach((p, i) => close(b.params[i]!.diff, p.diff, `param ${i} diff`));
});

test('grouped convolution and deconvolution over several GEMM chunks agree under the wasm and ts backends', () => {
  const runNet = (be: Backend) => {
    setBackend(be);
    setRandomSeed(4242);
    const filler = { weight_filler: { type: 'xavier' }, bias_filler: { type: 'gaussian', std: 0.1 } };
    // 28x28 outputs (784 columns per image): 7 images take two batched GEMM chunks at the default 2048 columns.
    const conv = makeLayer({ name: 'c', type: 'Convolution', convolution_param: { num_output: 6, kernel_size: [3], pad: [1], group: 2, ...filler } });
    const deconv = makeLayer({ name: 'd', type: 'Deconvolution', convolution_param: { num_output: 4, kernel_size: [3], stride: [2], group: 2, ...filler } });
    // No padding: the column matrix is read from the images through offset tables (24x24 outputs: 2 chunks).
    const c0 = makeLayer({ name: 'c0', type: 'Convolution', convolution_param: { num_output: 6, kernel_size: [5], group: 2, ...filler } });
    const c1 = makeLayer({ name: 'c1', type: 'Convolution', convolution_param: { num_output: 4, kernel_size: [3], stride: [2], dilation: [2], group: 2, ...filler } });
    const x = new Blob([7, 4, 28, 28]), h = new Blob(), y = new Blob(), h0 = new Blob(), h1 = new Blob();
    seed = 11;
    fill(x.data);
    conv.setUp([x], [h]);
    deconv.setUp([h], [y]);
    c0.setUp([x], [h0]);
    c1.setUp([h0], [h1]);
    conv.forward([x], [h]);
    deconv.forward([h], [y]);
    c0.forward([x], [h0]);
    c1.forward([h0], [h1]);
    fill(y.diff);
    fill(h1.diff);
    deconv.backward([y], [true], [h]);
    conv.backward([h], [true], [x]);
    const dx = Float32Array.from(x.diff);
    c1.backward([h1], [true], [h0]);
    c0.backward([h0], [true], [x]);
    return [y.data, h.data, h.diff, dx, h0.data, h1.data, h0.diff, x.diff,
      ...[...conv.blobs, ...deconv.blobs, ...c0.blobs, ...c1.blobs].map((b) => b.diff)];
  };
  const a = runNet(ts);
  const b = runNet(createWasmBackend({ threads: 2 }));
  setBackend(ts);
  a.forEach((v, k) => {
    const u = b[k]!;
    let scale = 0;
    for (let i = 0; i < v.length; i++) scale = Math.max(scale, Math.abs(v[i]!));
    for (let i = 0; i < v.length; i++) assert.ok(Math.abs(u[i]! - v[i]!) <= 1e-4 * (scale + Math.abs(v[i]!)), `result ${k}[${i}]: ${u[i]} vs ${v[i]}`);
  });
});

test('TSCAFFE_BACKEND=wasm selects the wasm backend; workers do not keep the process alive', () => {
  const script = `
    import '${path.join(repoRoot, 'dist/src/backend/ts/index.js')}';
    import '${path.join(repoRoot, 'dist/src/backend/wasm/index.js')}';
    import { backend } from '${path.join(repoRoot, 'dist/src/backend/backend.js')}';
    const be = backend();
    const n = 300, a = be.allocFloat32(n * n), c = be.allocFloat32(n * n);
    a.fill(1);
    be.gemm(false, false, n, n, n, 1, a, a, 0, c);
    console.log(be.name, be.threads, c[0]);
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, TSCAFFE_BACKEND: 'wasm', TSCAFFE_THREADS: '2' }, timeout: 30_000, encoding: 'utf8',
  });
  assert.equal(out.trim(), 'wasm 2 300');
});

test('wasm workers shut down cleanly and restart on demand', async () => {
  const be = createWasmBackend({ threads: 2, adaptive: false });
  await be.ready();
  await shutdownWasmWorkers();
  checkGemm(be, false, false, 64, 64, 64, 1, 0, 'wasm'); // runs (restarting workers, or here until they are up)
  await be.ready();
  assert.ok(workerTakesPart(be), 'the restarted worker took no chunk');
  checkGemm(be, true, true, 64, 130, 70, 1, 0.5, 'wasm');
});

test('the committed .wasm modules match a fresh build of assembly/kernels.ts', () => {
  const dir = scratchDir('tscaffe-wasm-');
  try {
    execFileSync(process.execPath, [path.join(repoRoot, 'src/backend/wasm/build.mjs'), dir], { stdio: 'pipe', timeout: 120_000 });
    for (const f of ['kernels-relaxed.wasm', 'kernels-simd.wasm']) {
      const fresh = readFileSync(path.join(dir, f));
      const committed = readFileSync(path.join(repoRoot, 'src/backend/wasm', f));
      assert.ok(fresh.equals(committed), `${f} differs from a fresh build: run npm run build:wasm`);
    }
  } finally {
    removeDir(dir);
  }
});
