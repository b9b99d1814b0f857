// Shared geometry and GEMM plumbing of Convolution and Deconvolution (Caffe's BaseConvolutionLayer), 2-D.
import type { ConvolutionParameter } from '../proto/types.generated.js';
import { has, paramOf } from '../proto/caffe.js';
import { Blob } from '../blob/blob.js';
import { allocFloat32, backend, type ConvGeometry } from '../backend/backend.js';
import { fillBlob } from '../util/filler.js';
import { Layer } from './layer.js';

function pick(list: readonly number[] | undefined, i: number, dflt: number): number {
  if (!list || list.length === 0) return dflt;
  return list.length === 1 ? list[0]! : list[i]!;
}

export abstract class BaseConvolutionLayer extends Layer {
  protected cp!: ConvolutionParameter;
  protected kernelH = 0; protected kernelW = 0;
  protected strideH = 1; protected strideW = 1;
  protected padH = 0; protected padW = 0;
  protected dilationH = 1; protected dilationW = 1;
  protected numOutput = 0;
  protected group = 1;
  protected biasTerm = true;
  protected channels = 0;
  protected inH = 0; protected inW = 0;
  protected outH = 0; protected outW = 0;

  override exactNumBottomBlobs(): number { return -1; }
  override minBottomBlobs(): number { return 1; }
  override minTopBlobs(): number { return 1; }
  override equalNumBottomTopBlobs(): boolean { return true; }

  /** Deconvolution swaps the roles of input and output. */
  protected abstract reverseDimensions(): boolean;
  protected abstract computeOutputShape(): [number, number];

  override layerSetUp(bottom: Blob[], _top: Blob[]): void {
    const cp = (this.cp = paramOf<ConvolutionParameter>('ConvolutionParameter', this.param.convolution_param));
    const err = (m: string) => new Error(`Layer ${this.name}: ${m}`);
    const axis = bottom[0]!.canonicalAxis(cp.axis ?? 1);
    if (bottom[0]!.numAxes - axis - 1 !== 2) throw err(`only 2-D convolution is supported (bottom shape ${bottom[0]!.shapeString()})`);
    if (has(cp, 'kernel_h') || has(cp, 'kernel_w')) {
      if (!has(cp, 'kernel_h') || !has(cp, 'kernel_w')) throw err('kernel_h and kernel_w must be given together');
      if (cp.kernel_size?.length) throw err('either kernel_size or kernel_h/kernel_w, not both');
      this.kernelH = cp.kernel_h!; this.kernelW = cp.kernel_w!;
    } else {
      if (!cp.kernel_size?.length) throw err('kernel_size (or kernel_h and kernel_w) is required');
      this.kernelH = pick(cp.kernel_size, 0, 0); this.kernelW = pick(cp.kernel_size, 1, 0);
    }
    if (this.kernelH <= 0 || this.kernelW <= 0) throw err('kernel dimensions must be > 0');
    if (has(cp, 'stride_h') || has(cp, 'stride_w')) { this.strideH = cp.stride_h ?? 1; this.strideW = cp.stride_w ?? 1; }
    else { this.strideH = pick(cp.stride, 0, 1); this.strideW = pick(cp.stride, 1, 1); }
    if (has(cp, 'pad_h') || has(cp, 'pad_w')) { this.padH = cp.pad_h ?? 0; this.padW = cp.pad_w ?? 0; }
    else { this.padH = pick(cp.pad, 0, 0); this.padW = pick(cp.pad, 1, 0); }
    this.dilationH = pick(cp.dilation, 0, 1); this.dilationW = pick(cp.dilation, 1, 1);
    this.channels = bottom[0]!.shape[axis]!;
    this.numOutput = cp.num_output ?? 0;
    if (this.numOutput <= 0) throw err('num_output must be > 0');
    this.group = cp.group ?? 1;
    if (this.channels % this.group !== 0) throw err(`channels (${this.channels}) must be divisible by group (${this.group})`);
    if (this.numOutput % this.group !== 0) throw err(`num_output (${this.numOutput}) must be divisible by group (${this.group})`);
    this.biasTerm = cp.bias_term ?? true;
    const [convOut, convIn] = this.reverseDimensions() ? [this.channels, this.numOutput] : [this.numOutput, this.channels];
    const wShape = [convOut, convIn / this.group, this.kernelH, this.kernelW];
    if (this.blobs.length === 0) {
      const w = new Blob(wShape);
      fillBlob(w, cp.weight_filler ?? undefined);
      this.blobs.push(w);
      if (this.biasTerm) {
        const b = new Blob([this.numOutput]);
        fillBlob(b, cp.bias_filler ?? undefined);
        this.blobs.push(b);
      }
    }
    this.paramPropagateDown = this.blobs.map(() => true);
  }

  override reshape(bottom: Blob[], top: Blob[]): void {
    const b0 = bottom[0]!;
    if (b0.numAxes !== 4) throw new Error(`Layer ${this.name}: bottom must be 4-D (N C H W), got ${b0.shapeString()}`);
    for (const b of bottom) {
      if (!b.sameShape(b0.shape)) throw new Error(`Layer ${this.name}: all bottoms must have the same shape`);
    }
    if (b0.shape[1] !== this.channels) {
      throw new Error(`Layer ${this.name}: input has ${b0.shape[1]} channels, the layer was set up for ${this.channels}`);
    }
    this.inH = b0.shape[2]!; this.inW = b0.shape[3]!;
    [this.outH, this.outW] = this.computeOutputShape();
    if (this.outH <= 0 || this.outW <= 0) {
      throw new Error(`Layer ${this.name}: output would be ${this.outH}x${this.outW} for input ${this.inH}x${this.inW}`);
    }
    for (let i = 0; i < top.length; i++) top[i]!.reshape([b0.shape[0]!, this.numOutput, this.outH, this.outW]);
  }

  /** Geometry of the "image" side of im2col: the input for convolution, the output for deconvolution. */
  protected geometry(): ConvGeometry {
    const rev = this.reverseDimensions();
    return {
      channels: rev ? this.numOutput : this.channels,
      height: rev ? this.outH : this.inH,
      width: rev ? this.outW : this.inW,
      kernelH: this.kernelH, kernelW: this.kernelW, padH: this.padH, padW: this.padW,
      strideH: this.strideH, strideW: this.strideW, dilationH: this.dilationH, dilationW: this.dilationW,
    };
  }

  // Batched GEMMs. Instead of Caffe's one small GEMM per image, `c` images at a time are laid side by side: the
  // column matrix is K x (c*P) (image i in columns [i*P, (i+1)*P)) and the "output side" (the non-im2col side: top for
  // convolution, bottom for deconvolution) is gathered into Mo x (c*P). Fewer, wider GEMMs run much faster.
  private colOne: Float32Array = new Float32Array(0);
  private colBig: Float32Array = new Float32Array(0);
  private outBig: Float32Array = new Float32Array(0);

  /** Output-side channels (Mo), its spatial size (P) and the column rows (Ktot). */
  protected convDims() {
    const rev = this.reverseDimensions();
    const convOutC = rev ? this.channels : this.numOutput;
    const convInC = rev ? this.numOutput : this.channels;
    const outSp = rev ? this.inH * this.inW : this.outH * this.outW;
    return { convOutC, outSp, kTotal: convInC * this.kernelH * this.kernelW };
  }

  /** Images per batched GEMM: about 8192 columns, at most 64 MB of column matrix. */
  protected chunk(num: number): number {
    const { outSp, kTotal } = this.convDims();
    const byCols = Math.ceil(8192 / outSp);
    const byMem = Math.floor((16 << 20) / Math.max(1, kTotal * outSp));
    return Math.max(1, Math.min(num, byCols, byMem));
  }

  private ensure(c: number): void {
    const { convOutC, outSp, kTotal } = this.convDims();
    // In the backend's memory (e.g. WebAssembly's), so its kernels work on them in place.
    if (this.colOne.length < kTotal * outSp) this.colOne = allocFloat32(kTotal * outSp);
    if (this.colBig.length < kTotal * outSp * c) this.colBig = allocFloat32(kTotal * outSp * c);
    if (this.outBig.length < convOutC * outSp * c) this.outBig = allocFloat32(convOutC * outSp * c);
  }

  /** Column matrix of images [n0, n0+c) of `im` (the im2col side). */
  protected imToCols(im: Float32Array, n0: number, c: number): void {
    this.ensure(c);
    const { outSp: P, kTotal } = this.convDims();
    const g = this.geometry();
    const imDim = g.channels * g.height * g.width;
    const ld = c * P;
    const be = backend();
    for (let i = 0; i < c; i++) {
      be.im2col(im.subarray((n0 + i) * imDim, (n0 + i + 1) * imDim), g, this.colOne);
      for (let r = 0; r < kTotal; r++) this.colBig.set(this.colOne.subarray(r * P, r * P + P), r * ld + i * P);
    }
  }

  /** col2im of the column matrix into images [n0, n0+c) of `im` (overwrites them). */
  protected colsToIm(im: Float32Array, n0: number, c: number): void {
    const { outSp: P, kTotal } = this.convDims();
    const g = this.geometry();
    const imDim = g.channels * g.height * g.width;
    const ld = c * P;
    const be = backend();
    for (let i = 0; i < c; i++) {
      for (let r = 0; r < kTotal; r++) this.colOne.set(this.colBig.subarray(r * ld + i * P, r * ld + i * P + P), r * P);
      be.col2im(this.colOne, g, im.subarray((n0 + i) * imDim, (n0 + i + 1) * imDim));
    }
  }

  /** Gather images [n0, n0+c) of the output side into the Mo x (c*P) matrix. */
  protected gatherOut(src: Float32Array, n0: number, c: number): void {
    this.ensure(c);
    const { convOutC: M, outSp: P } = this.convDims();
    const ld = c * P;
    for (let i = 0; i < c; i++) {
      const base = (n0 + i) * M * P;
      for (let m = 0; m < M; m++) this.outBig.set(src.subarray(base + m * P, base + m * P + P), m * ld + i * P);
    }
  }

  /** Scatter the Mo x (c*P) matrix back to images [n0, n0+c), adding `bias` per channel when given. */
  protected scatterOut(dst: Float32Array, n0: number, c: number, bias?: Float32Array): void {
    const { convOutC: M, outSp: P } = this.convDims();
    const ld = c * P;
    for (let i = 0; i < c; i++) {
      const base = (n0 + i) * M * P;
      for (let m = 0; m < M; m++) {
        const from = m * ld + i * P, to = base + m * P;
        if (!bias) dst.set(this.outBig.subarray(from, from + P), to);
        else {
          const b = bias[m]!;
          for (let p = 0; p < P; p++) dst[to + p] = this.outBig[from + p]! + b;
        }
      }
    }
  }

  /** Per group: out (Mo x c*P) = W * col. */
  protected gemmForward(weights: Float32Array, c: number): void {
    const { convOutC, outSp, kTotal } = this.convDims();
    const g = this.group, Mg = convOutC / g, Kg = kTotal / g, ld = c * outSp;
    for (let i = 0; i < g; i++) {
      backend().gemm(false, false, Mg, ld, Kg, 1, weights.subarray(i * Mg * Kg, (i + 1) * Mg * Kg),
        this.colBig.subarray(i * Kg * ld, (i + 1) * Kg * ld), 0, this.outBig.subarray(i * Mg * ld, (i + 1) * Mg * ld));
    }
  }

  /** Per group: col = W^T * out. */
  protected gemmBackwardData(weights: Float32Array, c: number): void {
    this.ensure(c);
    const { convOutC, outSp, kTotal } = this.convDims();
    const g = this.group, Mg = convOutC / g, Kg = kTotal / g, ld = c * outSp;
    for (let i = 0; i < g; i++) {
      backend().gemm(true, false, Kg, ld, Mg, 1, weights.subarray(i * Mg * Kg, (i + 1) * Mg * Kg),
        this.outBig.subarray(i * Mg * ld, (i + 1) * Mg * ld), 0, this.colBig.subarray(i * Kg * ld, (i + 1) * Kg * ld));
    }
  }

  /** Per group: weight grad += out * col^T. */
  protected gemmWeights(weightDiff: Float32Array, c: number): void {
    const { convOutC, outSp, kTotal } = this.convDims();
    const g = this.group, Mg = convOutC / g, Kg = kTotal / g, ld = c * outSp;
    for (let i = 0; i < g; i++) {
      backend().gemm(false, true, Mg, Kg, ld, 1, this.outBig.subarray(i * Mg * ld, (i + 1) * Mg * ld),
        this.colBig.subarray(i * Kg * ld, (i + 1) * Kg * ld), 1, weightDiff.subarray(i * Mg * Kg, (i + 1) * Mg * Kg));
    }
  }

  protected forwardBias(output: Float32Array, bias: Float32Array): void {
    const sp = this.outH * this.outW;
    for (let c = 0; c < this.numOutput; c++) {
      const b = bias[c]!;
      const base = c * sp;
      for (let j = 0; j < sp; j++) output[base + j]! += b;
    }
  }

  protected backwardBias(biasDiff: Float32Array, outputDiff: Float32Array): void {
    const sp = this.outH * this.outW;
    for (let c = 0; c < this.numOutput; c++) {
      let s = 0;
      const base = c * sp;
      for (let j = 0; j < sp; j++) s += outputDiff[base + j]!;
      biasDiff[c]! += s;
    }
  }
}
