// Shared geometry and GEMM plumbing of Convolution and Deconvolution (Caffe's BaseConvolutionLayer), 2-D.
import type { ConvolutionParameter } from '../proto/types.generated.js';
import { has, paramOf } from '../proto/caffe.js';
import { Blob } from '../blob/blob.js';
import { backend, type ConvGeometry } from '../backend/backend.js';
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
  protected col = new Float32Array(0);
  protected biasMultiplier = new Float32Array(0);
  protected is1x1 = false;

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
    this.is1x1 = this.kernelH === 1 && this.kernelW === 1 && this.strideH === 1 && this.strideW === 1 && this.padH === 0 && this.padW === 0;
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
    const [colH, colW] = this.reverseDimensions() ? [this.outH, this.outW] : [this.inH, this.inW];
    const [spH, spW] = this.reverseDimensions() ? [this.inH, this.inW] : [this.outH, this.outW];
    void colH; void colW;
    const kdim = (this.reverseDimensions() ? this.numOutput : this.channels) * this.kernelH * this.kernelW;
    const need = kdim * spH * spW;
    if (this.col.length < need) this.col = new Float32Array(need);
    const outSp = this.outH * this.outW;
    if (this.biasMultiplier.length !== outSp) this.biasMultiplier = new Float32Array(outSp).fill(1);
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

  // Per-image GEMMs, as Caffe's forward_cpu_gemm / backward_cpu_gemm / weight_cpu_gemm. "conv in" is the im2col side.
  private convDims() {
    const rev = this.reverseDimensions();
    const convOutC = rev ? this.channels : this.numOutput;
    const convInC = rev ? this.numOutput : this.channels;
    const outSp = rev ? this.inH * this.inW : this.outH * this.outW;
    const kdim = (convInC / this.group) * this.kernelH * this.kernelW;
    return { convOutC, convInC, outSp, kdim };
  }

  /** output (convOutC x outSp) = W * col(input) */
  protected forwardGemm(input: Float32Array, weights: Float32Array, output: Float32Array): void {
    const be = backend();
    const { convOutC, outSp, kdim } = this.convDims();
    let col = input;
    if (!this.is1x1) { be.im2col(input, this.geometry(), this.col); col = this.col; }
    const g = this.group;
    const wOff = (convOutC / g) * kdim;
    for (let i = 0; i < g; i++) {
      be.gemm(false, false, convOutC / g, outSp, kdim, 1,
        weights.subarray(wOff * i, wOff * (i + 1)), col.subarray(kdim * outSp * i, kdim * outSp * (i + 1)), 0,
        output.subarray((convOutC / g) * outSp * i, (convOutC / g) * outSp * (i + 1)));
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

  /** input grad = col2im(W^T * output grad) */
  protected backwardGemm(outputDiff: Float32Array, weights: Float32Array, inputDiff: Float32Array): void {
    const be = backend();
    const { convOutC, outSp, kdim } = this.convDims();
    const col = this.is1x1 ? inputDiff : this.col;
    const g = this.group;
    const wOff = (convOutC / g) * kdim;
    for (let i = 0; i < g; i++) {
      be.gemm(true, false, kdim, outSp, convOutC / g, 1,
        weights.subarray(wOff * i, wOff * (i + 1)), outputDiff.subarray((convOutC / g) * outSp * i, (convOutC / g) * outSp * (i + 1)), 0,
        col.subarray(kdim * outSp * i, kdim * outSp * (i + 1)));
    }
    if (!this.is1x1) be.col2im(this.col, this.geometry(), inputDiff);
  }

  /** weight grad += output grad * col(input)^T */
  protected weightGemm(input: Float32Array, outputDiff: Float32Array, weightDiff: Float32Array): void {
    const be = backend();
    const { convOutC, outSp, kdim } = this.convDims();
    let col = input;
    if (!this.is1x1) { be.im2col(input, this.geometry(), this.col); col = this.col; }
    const g = this.group;
    const wOff = (convOutC / g) * kdim;
    for (let i = 0; i < g; i++) {
      be.gemm(false, true, convOutC / g, kdim, outSp, 1,
        outputDiff.subarray((convOutC / g) * outSp * i, (convOutC / g) * outSp * (i + 1)),
        col.subarray(kdim * outSp * i, kdim * outSp * (i + 1)), 1, weightDiff.subarray(wOff * i, wOff * (i + 1)));
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
