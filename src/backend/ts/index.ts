// The reference backend: plain TypeScript loops over Float32Array. Every faster backend is tested against it.
import type { Backend, ConvGeometry, MatrixLayout, PoolGeometry } from '../backend.js';
import { convOutputSize, registerBackend } from '../backend.js';
import { gemm } from './gemm.js';

/** Whether a rows x cols matrix with layout l is plain row-major without gaps. */
function dense(cols: number, l: MatrixLayout): boolean {
  return l.ld === cols && (!l.block || l.block >= cols);
}

/** The rows x cols matrix stored with layout l, as a plain row-major array (a view when it already is one). */
function toPlain(src: Float32Array, rows: number, cols: number, l: MatrixLayout): Float32Array {
  const out = new Float32Array(rows * cols);
  if (l.rowOffsets && l.colOffsets) {
    for (let r = 0; r < rows; r++) {
      const ro = l.rowOffsets[r]!;
      for (let t = 0; t < cols; t++) out[r * cols + t] = src[ro + l.colOffsets[t]!]!;
    }
    return out;
  }
  if (dense(cols, l)) return src;
  const blk = l.block || cols, bs = l.blockStride ?? 0;
  for (let r = 0; r < rows; r++) {
    for (let t = 0; t < cols; t++) out[r * cols + t] = src[Math.floor(t / blk) * bs + r * l.ld + (t % blk)]!;
  }
  return out;
}

function fromPlain(plain: Float32Array, rows: number, cols: number, l: MatrixLayout, dst: Float32Array): void {
  if (plain === dst) return;
  const blk = l.block || cols, bs = l.blockStride ?? 0;
  for (let r = 0; r < rows; r++) {
    for (let t = 0; t < cols; t++) dst[Math.floor(t / blk) * bs + r * l.ld + (t % blk)] = plain[r * cols + t]!;
  }
}

function gemmEx(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
  A: Float32Array, la: MatrixLayout, B: Float32Array, lb: MatrixLayout, beta: number, C: Float32Array, lc: MatrixLayout): void {
  if (M <= 0 || N <= 0) return;
  if (la.rowOffsets || lc.rowOffsets) throw new RangeError('gemmEx: offset tables are for B only');
  const a = toPlain(A, transA ? K : M, transA ? M : K, la);
  const b = toPlain(B, transB ? N : K, transB ? K : N, lb);
  const c = toPlain(C, M, N, lc);
  gemm(transA, transB, M, N, K, alpha, a, b, beta, c);
  fromPlain(c, M, N, lc, C);
}

function im2col(im: Float32Array, g: ConvGeometry, col: Float32Array): void {
  const { channels, height, width, kernelH, kernelW, padH, padW, strideH, strideW, dilationH, dilationW } = g;
  const [outH, outW] = convOutputSize(g);
  let p = 0;
  for (let c = 0; c < channels; c++) {
    const plane = c * height * width;
    for (let kh = 0; kh < kernelH; kh++) {
      for (let kw = 0; kw < kernelW; kw++) {
        let inRow = -padH + kh * dilationH;
        for (let oh = 0; oh < outH; oh++, inRow += strideH) {
          if (inRow < 0 || inRow >= height) {
            col.fill(0, p, p + outW);
            p += outW;
            continue;
          }
          const rowBase = plane + inRow * width;
          let inCol = -padW + kw * dilationW;
          for (let ow = 0; ow < outW; ow++, inCol += strideW) {
            col[p++] = inCol >= 0 && inCol < width ? im[rowBase + inCol]! : 0;
          }
        }
      }
    }
  }
}

function col2im(col: Float32Array, g: ConvGeometry, im: Float32Array): void {
  const { channels, height, width, kernelH, kernelW, padH, padW, strideH, strideW, dilationH, dilationW } = g;
  const [outH, outW] = convOutputSize(g);
  im.fill(0, 0, channels * height * width);
  let p = 0;
  for (let c = 0; c < channels; c++) {
    const plane = c * height * width;
    for (let kh = 0; kh < kernelH; kh++) {
      for (let kw = 0; kw < kernelW; kw++) {
        let inRow = -padH + kh * dilationH;
        for (let oh = 0; oh < outH; oh++, inRow += strideH) {
          if (inRow < 0 || inRow >= height) {
            p += outW;
            continue;
          }
          const rowBase = plane + inRow * width;
          let inCol = -padW + kw * dilationW;
          for (let ow = 0; ow < outW; ow++, inCol += strideW, p++) {
            if (inCol >= 0 && inCol < width) im[rowBase + inCol]! += col[p]!;
          }
        }
      }
    }
  }
}

function maxPoolForward(bottom: Float32Array, g: PoolGeometry, top: Float32Array, mask: Float32Array): void {
  const { num, channels, height, width, pooledH, pooledW, kernelH, kernelW, padH, padW, strideH, strideW } = g;
  let t = 0;
  for (let nc = 0; nc < num * channels; nc++) {
    const base = nc * height * width;
    for (let ph = 0; ph < pooledH; ph++) {
      const hstart = Math.max(ph * strideH - padH, 0);
      const hend = Math.min(ph * strideH - padH + kernelH, height);
      for (let pw = 0; pw < pooledW; pw++, t++) {
        const wstart = Math.max(pw * strideW - padW, 0);
        const wend = Math.min(pw * strideW - padW + kernelW, width);
        let best = -Infinity;
        let arg = -1;
        for (let h = hstart; h < hend; h++) {
          for (let w = wstart; w < wend; w++) {
            const idx = h * width + w;
            const v = bottom[base + idx]!;
            if (v > best) {
              best = v;
              arg = idx;
            }
          }
        }
        top[t] = best;
        mask[t] = arg;
      }
    }
  }
}

function maxPoolBackward(topDiff: Float32Array, mask: Float32Array, g: PoolGeometry, bottomDiff: Float32Array): void {
  const { num, channels, height, width, pooledH, pooledW } = g;
  bottomDiff.fill(0, 0, num * channels * height * width);
  const plane = pooledH * pooledW;
  for (let nc = 0; nc < num * channels; nc++) {
    const base = nc * height * width;
    const tb = nc * plane;
    for (let i = 0; i < plane; i++) {
      const m = mask[tb + i]!;
      if (m >= 0) bottomDiff[base + m]! += topDiff[tb + i]!;
    }
  }
}

// Caffe's average pooling divides by the window size clipped to the padded input, not to the image.
function avePool(g: PoolGeometry, visit: (nc: number, t: number, hs: number, he: number, ws: number, we: number, size: number) => void): void {
  const { num, channels, height, width, pooledH, pooledW, kernelH, kernelW, padH, padW, strideH, strideW } = g;
  let t = 0;
  for (let nc = 0; nc < num * channels; nc++) {
    for (let ph = 0; ph < pooledH; ph++) {
      let hstart = ph * strideH - padH;
      let hend = Math.min(hstart + kernelH, height + padH);
      for (let pw = 0; pw < pooledW; pw++, t++) {
        let wstart = pw * strideW - padW;
        let wend = Math.min(wstart + kernelW, width + padW);
        const size = (hend - hstart) * (wend - wstart);
        visit(nc, t, Math.max(hstart, 0), Math.min(hend, height), Math.max(wstart, 0), Math.min(wend, width), size);
      }
    }
  }
}

function avePoolForward(bottom: Float32Array, g: PoolGeometry, top: Float32Array): void {
  const hw = g.height * g.width;
  avePool(g, (nc, t, hs, he, ws, we, size) => {
    let s = 0;
    const base = nc * hw;
    for (let h = hs; h < he; h++) for (let w = ws; w < we; w++) s += bottom[base + h * g.width + w]!;
    top[t] = s / size;
  });
}

function avePoolBackward(topDiff: Float32Array, g: PoolGeometry, bottomDiff: Float32Array): void {
  const hw = g.height * g.width;
  bottomDiff.fill(0, 0, g.num * g.channels * hw);
  avePool(g, (nc, t, hs, he, ws, we, size) => {
    const v = topDiff[t]! / size;
    const base = nc * hw;
    for (let h = hs; h < he; h++) for (let w = ws; w < we; w++) bottomDiff[base + h * g.width + w]! += v;
  });
}

function softmax(x: Float32Array, outer: number, channels: number, inner: number, y: Float32Array): void {
  for (let o = 0; o < outer; o++) {
    const base = o * channels * inner;
    for (let i = 0; i < inner; i++) {
      let mx = -Infinity;
      for (let c = 0; c < channels; c++) mx = Math.max(mx, x[base + c * inner + i]!);
      let sum = 0;
      for (let c = 0; c < channels; c++) {
        const e = Math.exp(x[base + c * inner + i]! - mx);
        y[base + c * inner + i] = e;
        sum += e;
      }
      for (let c = 0; c < channels; c++) y[base + c * inner + i]! /= sum;
    }
  }
}

export function createTsBackend(): Backend {
  return {
    name: 'ts',
    gemm,
    gemmEx,
    im2col,
    col2im,
    maxPoolForward,
    maxPoolBackward,
    avePoolForward,
    avePoolBackward,
    addChannelBias(x, num, channels, spatial, bias) {
      let p = 0;
      for (let n = 0; n < num; n++) {
        for (let c = 0; c < channels; c++) {
          const b = bias[c]!;
          for (let i = 0; i < spatial; i++) x[p++]! += b;
        }
      }
    },
    sumChannels(x, num, channels, spatial, sums) {
      let p = 0;
      for (let n = 0; n < num; n++) {
        for (let c = 0; c < channels; c++) {
          let s = 0;
          for (let i = 0; i < spatial; i++) s += x[p++]!;
          sums[c]! += s;
        }
      }
    },
    reluForward(x, y, slope) {
      const n = x.length;
      slope = Math.fround(slope); // Caffe's Dtype negative_slope
      if (slope === 0) for (let i = 0; i < n; i++) { const v = x[i]!; y[i] = v > 0 ? v : 0; }
      else for (let i = 0; i < n; i++) { const v = x[i]!; y[i] = v > 0 ? v : v * slope; }
    },
    reluBackward(x, dy, dx, slope) {
      const n = x.length;
      slope = Math.fround(slope);
      for (let i = 0; i < n; i++) dx[i] = x[i]! > 0 ? dy[i]! : dy[i]! * slope;
    },
    softmax,
    axpy(alpha, x, y) {
      for (let i = 0; i < x.length; i++) y[i]! += alpha * x[i]!;
    },
    axpby(alpha, x, beta, y) {
      for (let i = 0; i < x.length; i++) y[i] = alpha * x[i]! + beta * y[i]!;
    },
    scal(alpha, x) {
      if (alpha === 0) x.fill(0);
      else for (let i = 0; i < x.length; i++) x[i]! *= alpha;
    },
    dot(x, y) {
      let s = 0;
      for (let i = 0; i < x.length; i++) s += x[i]! * y[i]!;
      return s;
    },
    asum(x) {
      let s = 0;
      for (let i = 0; i < x.length; i++) s += Math.abs(x[i]!);
      return s;
    },
    sgdUpdate(g, h, momentum, lr) {
      for (let i = 0; i < g.length; i++) {
        const v = momentum * h[i]! + lr * g[i]!;
        h[i] = v;
        g[i] = v;
      }
    },
    sgdStep(w, g, h, decay, momentum, lr) {
      for (let i = 0; i < w.length; i++) {
        const gi = Math.fround(g[i]! + decay * w[i]!);
        const v = Math.fround(momentum * h[i]! + lr * gi);
        h[i] = v;
        g[i] = v;
        w[i]! -= v;
      }
    },
    applyUpdate(w, g) {
      for (let i = 0; i < w.length; i++) w[i]! -= g[i]!;
    },
  };
}

registerBackend('ts', createTsBackend);
