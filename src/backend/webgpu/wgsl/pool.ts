// Pooling over num * channels planes with Caffe's semantics (padding; the pooled size, e.g. ceil mode, is the
// caller's). Backward passes gather per bottom element over the pooled windows that contain it, as Caffe's GPU kernels do.
import type { KernelDef } from './shader.js';

const geometry = [
  ['n', 'u32'], ['height', 'i32'], ['width', 'i32'], ['pooledH', 'i32'], ['pooledW', 'i32'], ['kernelH', 'i32'],
  ['kernelW', 'i32'], ['padH', 'i32'], ['padW', 'i32'], ['strideH', 'i32'], ['strideW', 'i32'],
] as const;

// Invocation i is pooled element (plane nc, ph, pw).
const topIndex = `
  if (i >= p.n) { return; }
  let j = i32(i);
  let pw = j % p.pooledW;
  let ph = (j / p.pooledW) % p.pooledH;
  let nc = j / (p.pooledW * p.pooledH);`;

// Invocation i is bottom element (plane nc, h, w); [phStart, phEnd) x [pwStart, pwEnd) are the windows over it.
const bottomIndex = `
  if (i >= p.n) { return; }
  let j = i32(i);
  let w = j % p.width;
  let h = (j / p.width) % p.height;
  let nc = j / (p.width * p.height);
  let hp = h + p.padH;
  let wp = w + p.padW;
  let phStart = select((hp - p.kernelH) / p.strideH + 1, 0, hp < p.kernelH);
  let phEnd = min(hp / p.strideH + 1, p.pooledH);
  let pwStart = select((wp - p.kernelW) / p.strideW + 1, 0, wp < p.kernelW);
  let pwEnd = min(wp / p.strideW + 1, p.pooledW);
  let topBase = nc * p.pooledH * p.pooledW;`;

export const poolKernels = (wg: number) => ({
  // mask gets the argmax's index within its input plane (-1 for an empty window), as a float like Caffe's top mask.
  maxPoolForward: {
    name: 'max_pool_fwd', operands: ['bottom', 'top', 'mask'], fields: geometry, workgroup: [wg, 1, 1],
    body: `${topIndex}
  let hs = max(ph * p.strideH - p.padH, 0);
  let he = min(ph * p.strideH - p.padH + p.kernelH, p.height);
  let ws = max(pw * p.strideW - p.padW, 0);
  let we = min(pw * p.strideW - p.padW + p.kernelW, p.width);
  let base = nc * p.height * p.width;
  var best = 0.0; // replaced by the window's first element (arg < 0)
  var arg = -1;
  for (var y = hs; y < he; y++) {
    for (var x = ws; x < we; x++) {
      let v = $bottom[u32(base + y * p.width + x)];
      if (v > best || arg < 0) { best = v; arg = y * p.width + x; }
    }
  }
  $top[i] = best;
  $mask[i] = f32(arg);`,
  } satisfies KernelDef,
  maxPoolBackward: {
    name: 'max_pool_bwd', operands: ['topDiff', 'mask', 'bottomDiff'], fields: geometry, workgroup: [wg, 1, 1],
    body: `${bottomIndex}
  let me = f32(h * p.width + w);
  var g = 0.0;
  for (var ph = phStart; ph < phEnd; ph++) {
    for (var pw = pwStart; pw < pwEnd; pw++) {
      let t = u32(topBase + ph * p.pooledW + pw);
      if ($mask[t] == me) { g += $topDiff[t]; }
    }
  }
  $bottomDiff[i] = g;`,
  } satisfies KernelDef,
  // Caffe divides by the window clipped to the padded input (height + padH), not to the image.
  avePoolForward: {
    name: 'ave_pool_fwd', operands: ['bottom', 'top'], fields: geometry, workgroup: [wg, 1, 1],
    body: `${topIndex}
  var hs = ph * p.strideH - p.padH;
  var ws = pw * p.strideW - p.padW;
  var he = min(hs + p.kernelH, p.height + p.padH);
  var we = min(ws + p.kernelW, p.width + p.padW);
  let size = f32((he - hs) * (we - ws));
  hs = max(hs, 0); ws = max(ws, 0); he = min(he, p.height); we = min(we, p.width);
  let base = nc * p.height * p.width;
  var s = 0.0;
  for (var y = hs; y < he; y++) {
    for (var x = ws; x < we; x++) { s += $bottom[u32(base + y * p.width + x)]; }
  }
  $top[i] = s / size;`,
  } satisfies KernelDef,
  avePoolBackward: {
    name: 'ave_pool_bwd', operands: ['topDiff', 'bottomDiff'], fields: geometry, workgroup: [wg, 1, 1],
    body: `${bottomIndex}
  var g = 0.0;
  for (var ph = phStart; ph < phEnd; ph++) {
    for (var pw = pwStart; pw < pwEnd; pw++) {
      let hs = ph * p.strideH - p.padH;
      let ws = pw * p.strideW - p.padW;
      let he = min(hs + p.kernelH, p.height + p.padH);
      let we = min(ws + p.kernelW, p.width + p.padW);
      g += $topDiff[u32(topBase + ph * p.pooledW + pw)] / f32((he - hs) * (we - ws));
    }
  }
  $bottomDiff[i] = g;`,
  } satisfies KernelDef,
});
