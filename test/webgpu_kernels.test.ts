/// <reference types="@webgpu/types" />
// The WebGPU kernels against the TypeScript reference backend, on odd sizes, on whatever adapter this machine has (a
// software one without a GPU: Dawn's OpenGL backend on Mesa's llvmpipe). Without an adapter the tests skip, saying
// why; under CI (CI=true) that is a failure instead, since .ci/run installs the packages that give one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { convOutputSize, setBackend, type ConvGeometry, type MatrixLayout, type PoolGeometry } from '../src/backend/backend.js';
import { createTsBackend } from '../src/backend/ts/index.js';
import { Blob } from '../src/blob/blob.js';
import { formatAdapter } from '../src/backend/webgpu/device.js';
import { adapters, deviceTest, noAdapter, requireAdapter, seededRand, useTestDevice } from './webgpu_helpers.js';
import { GpuKernels, type LossNormalization } from '../src/backend/webgpu/kernels.js';
import { makeLayer } from './gradient_checker.js';

const ref = createTsBackend();
setBackend(ref); // the loss layers below are the reference for the loss kernels
let device: GPUDevice;
let gpu: GpuKernels; // the tiled GEMM; GEMM_VARIANTS below covers the direct one too
useTestDevice((d) => {
  device = d.device;
  gpu = new GpuKernels(device);
});

test('webgpu: an adapter is found', { skip: requireAdapter }, (t) => {
  assert.ok(!noAdapter, noAdapter || '');
  const d = adapters[0]!.description;
  t.diagnostic(formatAdapter(d));
  assert.ok(d.limits.maxStorageBufferBindingSize > 0 && d.limits.maxComputeInvocationsPerWorkgroup > 0);
  // requiredLimits raised the device to the adapter's own limits (compatibility mode's defaults are lower).
  assert.equal(device.limits.maxComputeInvocationsPerWorkgroup, d.limits.maxComputeInvocationsPerWorkgroup);
});

const gpuTest = (name: string, fn: () => Promise<void>) => deviceTest(`webgpu: ${name}`, () => device, fn);

/** Both GEMM kernels: tiled in workgroup memory (GPUs) and direct (what software adapters get). */
const GEMM_VARIANTS: Array<[string, boolean]> = [['tiled', false], ['direct', true]];

const rand = seededRand(12345);

function close(got: Float32Array, want: Float32Array, what: string, tol = 1e-5): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!, w = want[i]!;
    if (!(Math.abs(g - w) <= tol * Math.max(1, Math.abs(w)))) assert.fail(`${what}: element ${i} is ${g}, want ${w}`);
  }
}

for (const [variant, software] of GEMM_VARIANTS) {
  gpuTest(`gemm: every transpose, odd sizes, alpha/beta, beta 0 ignores NaN in C [${variant}]`, async () => {
  const gpu = new GpuKernels(device, { software });
  for (const [M, N, K] of [[37, 53, 29], [1, 67, 130], [130, 3, 17], [70, 129, 65]] as const) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        for (const [alpha, beta] of [[1.5, 0], [-0.75, 0.5]] as const) {
          const A = rand(M * K), B = rand(K * N), C = beta === 0 ? new Float32Array(M * N).fill(NaN) : rand(M * N);
          const want = C.slice();
          ref.gemm(transA, transB, M, N, K, alpha, A, B, beta, want);
          const gc = gpu.upload(C);
          gpu.gemm(transA, transB, M, N, K, alpha, gpu.upload(A), gpu.upload(B), beta, gc);
          close(await gpu.download(gc, M * N), want, `gemm ${transA} ${transB} ${M}x${N}x${K} alpha ${alpha} beta ${beta}`, 1e-5 * K);
        }
      }
    }
  }
});}

for (const [variant, software] of GEMM_VARIANTS) {
  gpuTest(`gemm: operands at odd offsets inside one shared buffer; rows split over several dispatches [${variant}]`, async () => {
  const gpu = new GpuKernels(device, { software });
  const M = 150, N = 31, K = 23, offA = 3, offB = offA + M * K + 5, offC = offB + K * N + 1;
  const all = rand(offC + M * N + 7);
  const want = all.slice();
  ref.gemm(true, false, M, N, K, 0.5, all.subarray(offA), all.subarray(offB), 2, want.subarray(offC, offC + M * N));
  const buf = gpu.upload(all);
  const split = new GpuKernels(device, { maxWorkgroupsPerDimension: 1, software }); // 150 rows: 3 or 5 dispatches of one tile row
  split.gemm(true, false, M, N, K, 0.5, { buffer: buf, offset: offA }, { buffer: buf, offset: offB }, 2, { buffer: buf, offset: offC });
  close(await split.download(buf, all.length), want, 'gemm in one buffer', 1e-4);
});}

for (const [variant, software] of GEMM_VARIANTS) {
  gpuTest(`gemm: split-K for a small C and a long K (plain and blocked operands, beta) [${variant}]`, async () => {
    const gpu = new GpuKernels(device, { software });
    // A weight gradient as conv_base.ts runs it: top diff (M x c*P, blocks of M x P) times col^T (blocked), into a
    // plain M x Kc weight diff accumulated with beta 1; and plain GEMMs with K long enough for many splits.
    const c = 9, M = 20, Kc = 25, P = 577, N = c * P;
    const lo: MatrixLayout = { ld: P, block: P, blockStride: M * P }, lc: MatrixLayout = { ld: P, block: P, blockStride: Kc * P };
    const top = rand(M * N), col = rand(Kc * N), wd = rand(M * Kc), want = wd.slice();
    ref.gemmEx(false, true, M, Kc, N, 0.5, top, lo, col, lc, 1, want, { ld: Kc });
    const gwd = gpu.upload(wd);
    gpu.gemmEx(false, true, M, Kc, N, 0.5, gpu.upload(top), lo, gpu.upload(col), lc, 1, gwd, { ld: Kc });
    close(await gpu.download(gwd, wd.length), want, 'blocked split-K weight gradient', 1e-5 * Math.sqrt(N));
    for (const [m, n, k] of [[7, 3, 3001], [1, 1, 4096], [65, 66, 2100]] as const) {
      for (const [transA, transB] of [[false, false], [true, true]] as const) {
        const A = rand(m * k), B = rand(k * n), C = rand(m * n), wantC = C.slice();
        ref.gemm(transA, transB, m, n, k, -1.5, A, B, 0.25, wantC);
        const gC = gpu.upload(C);
        gpu.gemm(transA, transB, m, n, k, -1.5, gpu.upload(A), gpu.upload(B), 0.25, gC);
        close(await gpu.download(gC, m * n), wantC, `split-K gemm ${m}x${n}x${k} ${transA} ${transB}`, 1e-5 * Math.sqrt(k));
      }
    }
  });
}

const convCases: ConvGeometry[] = [
  { channels: 3, height: 11, width: 9, kernelH: 3, kernelW: 4, padH: 1, padW: 2, strideH: 2, strideW: 1, dilationH: 1, dilationW: 2 },
  { channels: 2, height: 7, width: 13, kernelH: 5, kernelW: 5, padH: 0, padW: 0, strideH: 1, strideW: 1, dilationH: 1, dilationW: 1 },
  { channels: 1, height: 10, width: 10, kernelH: 3, kernelW: 2, padH: 2, padW: 1, strideH: 3, strideW: 2, dilationH: 2, dilationW: 1 },
];

gpuTest('im2col and col2im: padding, stride, dilation', async () => {
  for (const g of convCases) {
    const [oh, ow] = convOutputSize(g);
    const imN = g.channels * g.height * g.width, colN = g.channels * g.kernelH * g.kernelW * oh * ow;
    const im = rand(imN), col = rand(colN);
    const wantCol = new Float32Array(colN), wantIm = new Float32Array(imN);
    ref.im2col(im, g, wantCol);
    ref.col2im(col, g, wantIm);
    // The image at an offset in a larger buffer, like one image of a batch.
    const gim = gpu.upload(new Float32Array([...rand(7), ...im])), gcol = gpu.createBuffer(colN);
    gpu.im2col({ buffer: gim, offset: 7 }, g, gcol);
    const gim2 = gpu.upload(rand(imN)); // col2im overwrites
    gpu.col2im(gpu.upload(col), g, gim2);
    close(await gpu.download(gcol, colN), wantCol, `im2col ${JSON.stringify(g)}`, 0);
    close(await gpu.download(gim2, imN), wantIm, `col2im ${JSON.stringify(g)}`);
  }
});

function poolGeometry(num: number, channels: number, height: number, width: number, k: number, s: number, pad: number): PoolGeometry {
  // Caffe's ceil rounding, then its clip so that the last window starts inside the (padded) image.
  let pooledH = Math.ceil((height + 2 * pad - k) / s) + 1, pooledW = Math.ceil((width + 2 * pad - k) / s) + 1;
  if (pad > 0) {
    if ((pooledH - 1) * s >= height + pad) pooledH--;
    if ((pooledW - 1) * s >= width + pad) pooledW--;
  }
  return { num, channels, height, width, pooledH, pooledW, kernelH: k, kernelW: k, padH: pad, padW: pad, strideH: s, strideW: s };
}

gpuTest('max and average pooling, forward and backward, with padding and ceil rounding', async () => {
  for (const g of [poolGeometry(2, 3, 11, 10, 3, 2, 1), poolGeometry(1, 2, 9, 13, 2, 2, 0), poolGeometry(2, 1, 8, 7, 3, 1, 2)]) {
    const nb = g.num * g.channels * g.height * g.width, nt = g.num * g.channels * g.pooledH * g.pooledW;
    const bottom = rand(nb), topDiff = rand(nt);
    const top = new Float32Array(nt), mask = new Float32Array(nt), maxDiff = new Float32Array(nb);
    ref.maxPoolForward(bottom, g, top, mask);
    ref.maxPoolBackward(topDiff, mask, g, maxDiff);
    const aveTop = new Float32Array(nt), aveDiff = new Float32Array(nb);
    ref.avePoolForward(bottom, g, aveTop);
    ref.avePoolBackward(topDiff, g, aveDiff);
    const gb = gpu.upload(bottom), gtd = gpu.upload(topDiff);
    const gt = gpu.createBuffer(nt), gm = gpu.createBuffer(nt), gbd = gpu.upload(rand(nb));
    const gat = gpu.createBuffer(nt), gabd = gpu.upload(rand(nb));
    gpu.maxPoolForward(gb, g, gt, gm);
    gpu.maxPoolBackward(gtd, gm, g, gbd);
    gpu.avePoolForward(gb, g, gat);
    gpu.avePoolBackward(gtd, g, gabd);
    const what = JSON.stringify(g);
    close(await gpu.download(gt, nt), top, `max top ${what}`, 0);
    close(await gpu.download(gm, nt), mask, `max mask ${what}`, 0);
    close(await gpu.download(gbd, nb), maxDiff, `max bottom diff ${what}`);
    close(await gpu.download(gat, nt), aveTop, `ave top ${what}`);
    close(await gpu.download(gabd, nb), aveDiff, `ave bottom diff ${what}`);
  }
});

gpuTest('relu forward/backward with and without slope, also in place', async () => {
  const n = 1001;
  for (const slope of [0, 0.1]) {
    const x = rand(n), dy = rand(n);
    const y = new Float32Array(n), dx = new Float32Array(n);
    ref.reluForward(x, y, slope);
    ref.reluBackward(x, dy, dx, slope);
    const gx = gpu.upload(x), gy = gpu.createBuffer(n), gdy = gpu.upload(dy), gdx = gpu.createBuffer(n);
    gpu.reluForward(n, gx, gy, slope);
    gpu.reluBackward(n, gx, gdy, gdx, slope);
    close(await gpu.download(gy, n), y, `relu forward slope ${slope}`, 0);
    close(await gpu.download(gdx, n), dx, `relu backward slope ${slope}`, 0);
    // In place, like Caffe's relu layers (top == bottom): backward reads the forward output, same sign as x.
    gpu.reluForward(n, gx, gx, slope);
    gpu.reluBackward(n, gx, gdy, gdy, slope);
    close(await gpu.download(gx, n), y, `relu forward in place slope ${slope}`, 0);
    close(await gpu.download(gdy, n), dx, `relu backward in place slope ${slope}`, 0);
  }
});

gpuTest('softmax over the channel axis', async () => {
  for (const [outer, channels, inner] of [[3, 7, 5], [17, 10, 1], [1, 1, 4]] as const) {
    const n = outer * channels * inner;
    const x = rand(n, -20, 20), y = new Float32Array(n);
    ref.softmax(x, outer, channels, inner, y);
    const gy = gpu.createBuffer(n);
    gpu.softmax(gpu.upload(x), outer, channels, inner, gy);
    close(await gpu.download(gy, n), y, `softmax ${outer}x${channels}x${inner}`);
  }
});

gpuTest('axpy, axpby, scal, the SGD step and the channel bias, 1-D dispatches split over y', async () => {
  const n = 4099;
  const split = new GpuKernels(device, { maxWorkgroupsPerDimension: 5 }); // 4099 floats in 17 workgroups: a 5 x 4 grid
  for (const k of [gpu, split]) {
    const x = rand(n), y = rand(n);
    const wAxpy = y.slice(), wAxpby = y.slice(), wScal = x.slice(), wZero = x.slice();
    ref.axpy(0.3, x, wAxpy);
    ref.axpby(-1.25, x, 0.5, wAxpby);
    ref.scal(1.7, wScal);
    ref.scal(0, wZero);
    const gx = k.upload(x), gy1 = k.upload(y), gy2 = k.upload(y), gs = k.upload(x), gz = k.upload(x);
    k.axpy(n, 0.3, gx, gy1);
    k.axpby(n, -1.25, gx, 0.5, gy2);
    k.scal(n, 1.7, gs);
    k.scal(n, 0, gz);
    close(await k.download(gy1, n), wAxpy, 'axpy');
    close(await k.download(gy2, n), wAxpby, 'axpby');
    close(await k.download(gs, n), wScal, 'scal');
    close(await k.download(gz, n), wZero, 'scal 0', 0);

    const w = rand(n), g = rand(n), h = rand(n);
    const ww = w.slice(), wg = g.slice(), wh = h.slice();
    ref.sgdStep(ww, wg, wh, 5e-4, 0.9, 0.01);
    // w, g and h side by side in one buffer, as a later device-resident net may pack them.
    const packed = k.upload(new Float32Array([...w, ...g, ...h]));
    k.solverStep('SGD', n, { buffer: packed }, { buffer: packed, offset: n }, [{ buffer: packed, offset: 2 * n }],
      { decay: 5e-4, momentum: 0.9, lr: 0.01 });
    const out = await k.download(packed, 3 * n);
    close(out.subarray(0, n), ww, 'sgd w');
    close(out.subarray(n, 2 * n), wg, 'sgd g');
    close(out.subarray(2 * n), wh, 'sgd h');

    const [num, channels, spatial] = [3, 7, 13];
    const bx = rand(num * channels * spatial), bias = rand(channels), want = bx.slice();
    ref.addChannelBias(want, num, channels, spatial, bias);
    const gbx = k.upload(bx);
    k.addChannelBias(gbx, num, channels, spatial, k.upload(bias));
    close(await k.download(gbx, want.length), want, 'addChannelBias', 0);
  }
});

gpuTest('many kernels in one submission: conv forward of a batch through im2col + gemm + bias + relu', async () => {
  const g = convCases[0]!, num = 3, outC = 5;
  const [oh, ow] = convOutputSize(g);
  const P = oh * ow, Kc = g.channels * g.kernelH * g.kernelW, imN = g.channels * g.height * g.width;
  const x = rand(num * imN), wts = rand(outC * Kc), bias = rand(outC);
  const want = new Float32Array(num * outC * P), col = new Float32Array(Kc * P);
  for (let i = 0; i < num; i++) {
    ref.im2col(x.subarray(i * imN), g, col);
    ref.gemm(false, false, outC, P, Kc, 1, wts, col, 0, want.subarray(i * outC * P));
  }
  ref.addChannelBias(want, num, outC, P, bias);
  ref.reluForward(want, want, 0);
  const gx = gpu.upload(x), gw = gpu.upload(wts), gb = gpu.upload(bias), gcol = gpu.createBuffer(Kc * P);
  const gy = gpu.createBuffer(num * outC * P);
  for (let i = 0; i < num; i++) {
    gpu.im2col({ buffer: gx, offset: i * imN }, g, gcol);
    gpu.gemm(false, false, outC, P, Kc, 1, gw, gcol, 0, { buffer: gy, offset: i * outC * P });
  }
  gpu.addChannelBias(gy, num, outC, P, gb);
  gpu.reluForward(num * outC * P, gy, gy, 0);
  close(await gpu.download(gy, want.length), want, 'conv + bias + relu', 1e-4);
});

gpuTest('hundreds of dispatches in one submission, twice (the uniform buffer grows while in use)', async () => {
  const n = 300, x = rand(n), y = rand(n), want = y.slice();
  for (let r = 0; r < 300; r++) ref.axpy(0.01, x, want);
  const gx = gpu.upload(x), gy = gpu.upload(y);
  for (const reps of [100, 200]) {
    for (let r = 0; r < reps; r++) gpu.axpy(n, 0.01, gx, gy);
    gpu.submit();
  }
  close(await gpu.download(gy, n), want, '300 axpy', 1e-4);
});

gpuTest('an operand beyond its buffer is a clear error', async () => {
  const b = gpu.createBuffer(10);
  assert.throws(() => gpu.axpy(11, 1, b, gpu.createBuffer(11)), /axpy: operand x \[0, 11\) floats is outside its buffer of 10 floats/);
});

gpuTest('im2col and col2im over a batch of images in one dispatch each', async () => {
  const g = convCases[0]!, num = 3;
  const [oh, ow] = convOutputSize(g);
  const imN = g.channels * g.height * g.width, colN = g.channels * g.kernelH * g.kernelW * oh * ow;
  const im = rand(num * imN), col = rand(num * colN);
  const wantCol = new Float32Array(num * colN), wantIm = new Float32Array(num * imN);
  for (let i = 0; i < num; i++) {
    ref.im2col(im.subarray(i * imN), g, wantCol.subarray(i * colN));
    ref.col2im(col.subarray(i * colN), g, wantIm.subarray(i * imN));
  }
  const gcol = gpu.createBuffer(num * colN), gim = gpu.upload(rand(num * imN));
  gpu.im2col(gpu.upload(im), g, gcol, num);
  gpu.col2im(gpu.upload(col), g, gim, num);
  close(await gpu.download(gcol, num * colN), wantCol, 'batched im2col', 0);
  close(await gpu.download(gim, num * imN), wantIm, 'batched col2im');
});

for (const [variant, software] of GEMM_VARIANTS) {
  gpuTest(`gemmEx on blocked layouts: a batched convolution forward, backward-data and weight gradient [${variant}]`, async () => {
  const gpu = new GpuKernels(device, { software });
  // conv_base.ts's GEMMs over c images side by side: col Kc x (c*P) in blocks of Kc x P, top Mo x (c*P) in blocks of
  // Mo x P, weights Mo x Kc plain; plus a C with a leading dimension wider than its columns.
  const c = 3, Mo = 5, Kc = 19, P = 23, N = c * P;
  const lc: MatrixLayout = { ld: P, block: P, blockStride: Kc * P }, lo: MatrixLayout = { ld: P, block: P, blockStride: Mo * P };
  const w = rand(Mo * Kc), col = rand(Kc * N), top = rand(Mo * N), wd = rand(Mo * Kc + 3);
  const wantTop = new Float32Array(Mo * N).fill(NaN), wantCol = col.slice(), wantWd = wd.slice();
  ref.gemmEx(false, false, Mo, N, Kc, 1, w, { ld: Kc }, col, lc, 0, wantTop, lo);
  ref.gemmEx(true, false, Kc, N, Mo, 0.5, w, { ld: Kc }, top, lo, 2, wantCol, lc);
  ref.gemmEx(false, true, Mo, Kc, N, 1, top, lo, col, lc, 1, wantWd.subarray(3), { ld: Kc });
  const gw = gpu.upload(w), gcol = gpu.upload(col), gtop = gpu.upload(top), gt2 = gpu.upload(new Float32Array(Mo * N).fill(NaN));
  const gcol2 = gpu.upload(col), gwd = gpu.upload(wd);
  gpu.gemmEx(false, false, Mo, N, Kc, 1, gw, { ld: Kc }, gcol, lc, 0, gt2, lo);
  gpu.gemmEx(true, false, Kc, N, Mo, 0.5, gw, { ld: Kc }, gtop, lo, 2, gcol2, lc);
  gpu.gemmEx(false, true, Mo, Kc, N, 1, gtop, lo, gcol, lc, 1, { buffer: gwd, offset: 3 }, { ld: Kc });
  close(await gpu.download(gt2, Mo * N), wantTop, 'blocked forward', 1e-4);
  close(await gpu.download(gcol2, Kc * N), wantCol, 'blocked backward data', 1e-4);
  close(await gpu.download(gwd, wd.length), wantWd, 'blocked weight gradient', 1e-4);
  // Leading dimensions wider than the rows: a 7 x 9 window of a 7 x 12 C, A and B with padding after each row.
  const M = 7, Nn = 9, K = 6, A = rand(M * 8), B = rand(K * 11), C = rand(M * 12), wantC = C.slice();
  ref.gemmEx(false, false, M, Nn, K, 1, A, { ld: 8 }, B, { ld: 11 }, -1, wantC, { ld: 12 });
  const gC = gpu.upload(C);
  gpu.gemmEx(false, false, M, Nn, K, 1, gpu.upload(A), { ld: 8 }, gpu.upload(B), { ld: 11 }, -1, gC, { ld: 12 });
  close(await gpu.download(gC, C.length), wantC, 'gemmEx with leading dimensions', 1e-4);
  assert.throws(() => gpu.gemmEx(false, false, 1, 1, 1, 1, gw, { ld: 1 }, gcol, { ld: 0, rowOffsets: new Int32Array(1), colOffsets: new Int32Array(1) }, 0, gt2, { ld: 1 }),
    /offset tables are not supported/);
});}

gpuTest('sumChannels, dot, asum, sumsq: device reductions, deterministic, accumulating', async () => {
  for (const [num, channels, spatial] of [[3, 7, 13], [2, 300, 1], [5, 3, 1001]] as const) {
    const x = rand(num * channels * spatial), sums = rand(channels), want = sums.slice();
    ref.sumChannels(x, num, channels, spatial, want);
    // 300 channels over an 18 x 17 grid of workgroups (the last row partly past the channels).
    const split = new GpuKernels(device, { maxWorkgroupsPerDimension: 18 });
    const gs = gpu.upload(sums), gs2 = split.upload(sums), gx = gpu.upload(x);
    gpu.sumChannels(gx, num, channels, spatial, gs);
    split.sumChannels(gx, num, channels, spatial, gs2);
    close(await gpu.download(gs, channels), want, `sumChannels ${num}x${channels}x${spatial}`, 1e-5 * num * spatial);
    close(await split.download(gs2, channels), want, `sumChannels split ${num}x${channels}x${spatial}`, 1e-5 * num * spatial);
  }
  // 100003 floats: more than 256 workgroups' worth, so the first pass strides.
  for (const n of [0, 1, 255, 1001, 100003]) {
    const x = rand(n), y = rand(n);
    let sq = 0;
    for (const v of x) sq += v * v;
    const out = gpu.createBuffer(8), gx = gpu.upload(x), gy = gpu.upload(y);
    gpu.dot(n, gx, gy, { buffer: out, offset: 0 });
    gpu.asum(n, gx, { buffer: out, offset: 1 });
    gpu.sumsq(n, gx, { buffer: out, offset: 2 });
    gpu.sumsq(n, gx, { buffer: out, offset: 3 });
    gpu.sumsq(n, gy, { buffer: out, offset: 3 }, true); // one sum of squares over two blobs (gradient clipping)
    gpu.dot(n, gx, gy, { buffer: out, offset: 4 }); // again: the same bits
    let sqy = 0;
    for (const v of y) sqy += v * v;
    const got = await gpu.download(out, 5), scale = Math.max(1, ref.asum(x));
    const near = (g: number, w: number, what: string) => assert.ok(Math.abs(g - w) <= 1e-5 * scale, `${what} n=${n}: ${g}, want ${w}`);
    near(got[0]!, ref.dot(x, y), 'dot');
    near(got[1]!, ref.asum(x), 'asum');
    near(got[2]!, sq, 'sumsq');
    near(got[3]!, sq + sqy, 'sumsq accumulated');
    assert.equal(got[4], got[0], `dot n=${n} is deterministic`);
  }
});

/** Labels for outer x inner positions in [0, channels), with `ignore` at about every fifth. */
function labels(n: number, channels: number, ignore?: number): Float32Array {
  const l = rand(n, 0, channels).map(Math.floor);
  if (ignore !== undefined) for (let i = 0; i < n; i += 5) l[i] = ignore;
  return l;
}

const lossCases = [
  { outer: 5, channels: 10, inner: 1 }, { outer: 3, channels: 7, inner: 11 }, { outer: 2, channels: 4, inner: 300 },
] as const;
const modes: [LossNormalization, number][] = [['full', 0], ['valid', 1], ['batch_size', 2], ['none', 3]];

gpuTest('SoftmaxWithLoss forward and backward: ignore_label and every normalization, against the layer', async () => {
  for (const o of lossCases) {
    for (const ignore of [undefined, 2]) {
      for (const [mode, modeNum] of modes) {
        const n = o.outer * o.channels * o.inner;
        const x = new Blob([o.outer, o.channels, o.inner]), y = new Blob([o.outer, o.inner]), top = new Blob();
        x.data.set(rand(n, -5, 5));
        y.data.set(labels(o.outer * o.inner, o.channels, ignore));
        const layer = makeLayer({ name: 'l', type: 'SoftmaxWithLoss', loss_param: { normalization: modeNum, ...(ignore === undefined ? {} : { ignore_label: ignore }) } });
        layer.setUp([x, y], [top]);
        layer.forward([x, y], [top]);
        top.diff[0] = 0.7; // a loss_weight
        layer.backward([top], [true, false], [x, y]);
        const opts = { ...o, ignoreLabel: ignore };
        const gprob = gpu.createBuffer(n), gloss = gpu.createBuffer(1), gdx = gpu.upload(rand(n)), glabel = gpu.upload(y.data);
        const grnorm = gpu.createBuffer(1);
        gpu.softmaxLossForward(gpu.upload(x.data), glabel, opts, mode, gprob, gloss, grnorm);
        gpu.softmaxLossBackward(gprob, glabel, opts, grnorm, gpu.upload(new Float32Array([0.7])), gdx);
        const what = `${JSON.stringify(o)} ignore ${ignore} ${mode}`;
        close(await gpu.download(gloss, 1), top.data, `loss ${what}`);
        close(await gpu.download(gdx, n), x.diff, `gradient ${what}`);
      }
    }
  }
});

gpuTest('SoftmaxWithLoss: every label ignored gives 0; a label out of range gives NaN', async () => {
  const o = { outer: 3, channels: 4, inner: 2, ignoreLabel: 1 }, n = 24;
  const gloss = gpu.createBuffer(2), gprob = gpu.createBuffer(n), gx = gpu.upload(rand(n));
  const grnorm = gpu.createBuffer(1);
  gpu.softmaxLossForward(gx, gpu.upload(new Float32Array(6).fill(1)), o, 'valid', gprob, { buffer: gloss, offset: 0 }, grnorm);
  gpu.softmaxLossForward(gx, gpu.upload(new Float32Array([0, 1, 2, 4, 0, 0])), o, 'valid', gprob, { buffer: gloss, offset: 1 }, grnorm);
  const got = await gpu.download(gloss, 2);
  assert.equal(got[0], 0);
  assert.ok(Number.isNaN(got[1]), `out-of-range label: ${got[1]}`);
});

gpuTest('Accuracy and its per-class top: top_k, ignore_label, ties, against the layer', async () => {
  for (const o of lossCases) {
    for (const topK of [1, 3]) {
      for (const ignore of [undefined, 0]) {
        const n = o.outer * o.channels * o.inner;
        const x = new Blob([o.outer, o.channels, o.inner]), y = new Blob([o.outer, o.inner]), top = new Blob(), perClass = new Blob();
        x.data.set(rand(n, 0, 4).map(Math.floor)); // small integers: many ties
        y.data.set(labels(o.outer * o.inner, o.channels, ignore));
        const layer = makeLayer({ name: 'a', type: 'Accuracy', accuracy_param: { top_k: topK, ...(ignore === undefined ? {} : { ignore_label: ignore }) } });
        layer.setUp([x, y], [top, perClass]);
        layer.forward([x, y], [top, perClass]);
        const out = gpu.createBuffer(1), outC = gpu.createBuffer(o.channels), gx = gpu.upload(x.data), gl = gpu.upload(y.data);
        gpu.accuracy(gx, gl, { ...o, ignoreLabel: ignore }, topK, out);
        gpu.accuracyPerClass(gx, gl, { ...o, ignoreLabel: ignore }, topK, outC);
        const what = `${JSON.stringify(o)} top ${topK} ignore ${ignore}`;
        close(await gpu.download(out, 1), top.data, `accuracy ${what}`, 1e-6);
        close(await gpu.download(outC, o.channels), perClass.data, `per-class accuracy ${what}`, 1e-6);
      }
    }
  }
});

gpuTest('reused bind groups: the same dispatch sequence over other buffers, offsets or sizes binds those', async () => {
  const k = new GpuKernels(device);
  const ones = (n: number) => new Float32Array(n).fill(1);
  const a = k.upload(ones(300)), b = k.upload(ones(300)), x = k.upload(Float32Array.from({ length: 300 }, (_, i) => i));
  // Each round: y += 2 x at dispatch slot 0, then y *= 3 at slot 1, over a different target or range each time.
  const rounds: Array<[GPUBuffer, number, number]> = [[a, 0, 300], [a, 0, 300], [b, 0, 300], [a, 64, 100], [a, 64, 200]];
  const want = [ones(300), ones(300)];
  for (const [y, offset, n] of rounds) {
    k.axpy(n, 2, { buffer: x, offset }, { buffer: y, offset });
    k.scal(n, 3, { buffer: y, offset });
    k.submit();
    const w = want[y === a ? 0 : 1]!;
    for (let i = offset; i < offset + n; i++) w[i] = (w[i]! + 2 * i) * 3;
  }
  close(await k.download(a, 300), want[0]!, 'a');
  close(await k.download(b, 300), want[1]!, 'b');
  // Five rounds of two dispatches, two of them repeats of an earlier round: at most eight bind groups were made.
  assert.ok(k.dispatcher.counts.bindGroupsCreated <= 8, `${k.dispatcher.counts.bindGroupsCreated} bind groups`);
});
