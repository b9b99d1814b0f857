// im2col and col2im for one image, with Caffe's semantics (padding, stride, dilation). col2im writes (not accumulates)
// each image element by gathering every column entry that maps onto it, like Caffe's col2im_gpu_kernel: no atomics.
import type { KernelDef } from './shader.js';

const geometry = [
  ['n', 'u32'], ['height', 'i32'], ['width', 'i32'], ['kernelH', 'i32'], ['kernelW', 'i32'], ['padH', 'i32'],
  ['padW', 'i32'], ['strideH', 'i32'], ['strideW', 'i32'], ['dilationH', 'i32'], ['dilationW', 'i32'],
  ['outH', 'i32'], ['outW', 'i32'],
] as const;

export const convKernels = (wg: number) => ({
  // One invocation per column element: i = ((c * kernelH + kh) * kernelW + kw) * outH * outW + oh * outW + ow.
  im2col: {
    name: 'im2col', operands: ['im', 'col'], fields: geometry, workgroup: [wg, 1, 1],
    body: `
  if (i >= p.n) { return; }
  let j = i32(i);
  let ow = j % p.outW;
  let oh = (j / p.outW) % p.outH;
  let t = j / (p.outW * p.outH);
  let kw = t % p.kernelW;
  let kh = (t / p.kernelW) % p.kernelH;
  let c = t / (p.kernelW * p.kernelH);
  let h = oh * p.strideH - p.padH + kh * p.dilationH;
  let w = ow * p.strideW - p.padW + kw * p.dilationW;
  var v = 0.0;
  if (h >= 0 && h < p.height && w >= 0 && w < p.width) { v = $im[u32((c * p.height + h) * p.width + w)]; }
  $col[i] = v;`,
  } satisfies KernelDef,
  // One invocation per image element (c, h, w): the column entries (kh, kw, oh, ow) with
  // oh * strideH - padH + kh * dilationH == h (and likewise for w).
  col2im: {
    name: 'col2im', operands: ['col', 'im'], fields: geometry, workgroup: [wg, 1, 1],
    body: `
  if (i >= p.n) { return; }
  let j = i32(i);
  let wIm = j % p.width + p.padW;
  let hIm = (j / p.width) % p.height + p.padH;
  let c = j / (p.width * p.height);
  let extW = (p.kernelW - 1) * p.dilationW + 1;
  let extH = (p.kernelH - 1) * p.dilationH + 1;
  let wStart = select((wIm - extW) / p.strideW + 1, 0, wIm < extW);
  let wEnd = min(wIm / p.strideW + 1, p.outW);
  let hStart = select((hIm - extH) / p.strideH + 1, 0, hIm < extH);
  let hEnd = min(hIm / p.strideH + 1, p.outH);
  var v = 0.0;
  for (var oh = hStart; oh < hEnd; oh++) {
    for (var ow = wStart; ow < wEnd; ow++) {
      var kh = hIm - oh * p.strideH;
      var kw = wIm - ow * p.strideW;
      if (kh % p.dilationH == 0 && kw % p.dilationW == 0) {
        kh = kh / p.dilationH;
        kw = kw / p.dilationW;
        v += $col[u32((((c * p.kernelH + kh) * p.kernelW + kw) * p.outH + oh) * p.outW + ow)];
      }
    }
  }
  $im[i] = v;`,
  } satisfies KernelDef,
});
