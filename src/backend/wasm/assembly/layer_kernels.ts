// AssemblyScript kernels of the 'wasm' backend besides GEMM: im2col/col2im, max pooling, ReLU and the fused SGD step
// (exported through kernels.ts, the build's entry; same memory model: byte pointers into the shared memory).

@inline function imin(a: i32, b: i32): i32 {
  return a < b ? a : b;
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

/** y = max(x, 0) + slope * min(x, 0) over n floats (x and y may be the same array). */
export function reluForward(x: usize, y: usize, n: i32, slope: f32): void {
  const z = f32x4.splat(0), vs = f32x4.splat(slope);
  let i = 0;
  if (slope == 0) {
    for (; i + 4 <= n; i += 4) v128.store(y + (<usize>i << 2), f32x4.max(v128.load(x + (<usize>i << 2)), z));
  } else {
    for (; i + 4 <= n; i += 4) {
      const v = v128.load(x + (<usize>i << 2));
      v128.store(y + (<usize>i << 2), v128.bitselect(v, f32x4.mul(v, vs), f32x4.gt(v, z)));
    }
  }
  for (; i < n; i++) {
    const v = load<f32>(x + (<usize>i << 2));
    store<f32>(y + (<usize>i << 2), v > 0 ? v : (slope == 0 ? 0 : v * slope));
  }
}

/** dx = dy * (x > 0 ? 1 : slope) over n floats (dy and dx may be the same array). */
export function reluBackward(x: usize, dy: usize, dx: usize, n: i32, slope: f32): void {
  const z = f32x4.splat(0), vs = f32x4.splat(slope);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const d = v128.load(dy + o);
    v128.store(dx + o, v128.bitselect(d, f32x4.mul(d, vs), f32x4.gt(v128.load(x + o), z)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const d = load<f32>(dy + o);
    store<f32>(dx + o, load<f32>(x + o) > 0 ? d : d * slope);
  }
}

/**
 * One parameter's SGD step, fused (Caffe's Regularize (L2), SGD ComputeUpdateValue and Blob::Update):
 * g += decay * w; h = momentum * h + lr * g; g = h; w -= h. Over n floats. Each line is computed in f64 and rounded
 * once to f32, exactly as the reference backend does (which reproduces Caffe's training losses to 6 digits; plain f32
 * arithmetic, with its extra roundings, drifts by about 1% within 100 LeNet iterations).
 */
export function sgdStep(w: usize, g: usize, h: usize, n: i32, decay: f64, momentum: f64, lr: f64): void {
  const vd = f64x2.splat(decay), vm = f64x2.splat(momentum), vl = f64x2.splat(lr);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const w4 = v128.load(w + o), g4 = v128.load(g + o), h4 = v128.load(h + o);
    // low and high halves as f64x2
    const wl = f64x2.promote_low_f32x4(w4), wh = f64x2.promote_low_f32x4(i32x4.shuffle(w4, w4, 2, 3, 0, 1));
    const gl0 = f64x2.promote_low_f32x4(g4), gh0 = f64x2.promote_low_f32x4(i32x4.shuffle(g4, g4, 2, 3, 0, 1));
    const hl0 = f64x2.promote_low_f32x4(h4), hh0 = f64x2.promote_low_f32x4(i32x4.shuffle(h4, h4, 2, 3, 0, 1));
    // g (rounded to f32) = g + decay * w
    const gn = i32x4.shuffle(f32x4.demote_f64x2_zero(f64x2.add(gl0, f64x2.mul(vd, wl))),
      f32x4.demote_f64x2_zero(f64x2.add(gh0, f64x2.mul(vd, wh))), 0, 1, 4, 5);
    const gl = f64x2.promote_low_f32x4(gn), gh = f64x2.promote_low_f32x4(i32x4.shuffle(gn, gn, 2, 3, 0, 1));
    // h (rounded) = momentum * h + lr * g
    const hn = i32x4.shuffle(f32x4.demote_f64x2_zero(f64x2.add(f64x2.mul(vm, hl0), f64x2.mul(vl, gl))),
      f32x4.demote_f64x2_zero(f64x2.add(f64x2.mul(vm, hh0), f64x2.mul(vl, gh))), 0, 1, 4, 5);
    v128.store(h + o, hn);
    v128.store(g + o, hn);
    v128.store(w + o, f32x4.sub(w4, hn));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const vw = load<f32>(w + o);
    const vg = <f64>(<f32>(<f64>load<f32>(g + o) + decay * <f64>vw));
    const vh = <f32>(momentum * <f64>load<f32>(h + o) + lr * vg);
    store<f32>(h + o, vh);
    store<f32>(g + o, vh);
    store<f32>(w + o, vw - vh);
  }
}

/** x (num images of channels x spatial floats) += bias[c] on every element of channel c (a convolution's bias). */
export function addChannelBias(x: usize, num: i32, channels: i32, spatial: i32, bias: usize): void {
  let p = x;
  for (let n = 0; n < num; n++) {
    for (let c = 0; c < channels; c++) {
      const b = load<f32>(bias + (<usize>c << 2));
      const vb = f32x4.splat(b);
      let i = 0;
      for (; i + 4 <= spatial; i += 4, p += 16) v128.store(p, f32x4.add(v128.load(p), vb));
      for (; i < spatial; i++, p += 4) store<f32>(p, load<f32>(p) + b);
    }
  }
}

/** sums[c] += the sum of channel c's elements over num images of channels x spatial floats (a bias gradient). */
export function sumChannels(x: usize, num: i32, channels: i32, spatial: i32, sums: usize): void {
  let p = x;
  for (let n = 0; n < num; n++) {
    for (let c = 0; c < channels; c++) {
      let acc = f32x4.splat(0);
      let i = 0;
      for (; i + 4 <= spatial; i += 4, p += 16) acc = f32x4.add(acc, v128.load(p));
      let s = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
      for (; i < spatial; i++, p += 4) s += load<f32>(p);
      const q = sums + (<usize>c << 2);
      store<f32>(q, load<f32>(q) + s);
    }
  }
}
