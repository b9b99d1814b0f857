// Shared geometry and GEMM plumbing of Convolution and Deconvolution (Caffe's BaseConvolutionLayer), 2-D.
import type { ConvolutionParameter } from '../proto/types.generated.js';
import { has, paramOf } from '../proto/caffe.js';
import { Blob } from '../blob/blob.js';
import { allocFloat32, backend, convOutputSize, type ConvGeometry, type MatrixLayout } from '../backend/backend.js';
import { fillBlob } from '../util/filler.js';
import { envVar } from '../util/env.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import type { GpuOperand } from '../backend/webgpu/dispatcher.js';
import { Layer } from './layer.js';

/** Columns (images x output pixels) per batched convolution GEMM (TSCAFFE_CONV_CHUNK). */
const CHUNK_COLUMNS = Number(envVar('TSCAFFE_CONV_CHUNK')) > 0 ? Number(envVar('TSCAFFE_CONV_CHUNK')) : 2048;
/** On a device the batches are as large as memory allows, or TSCAFFE_CONV_CHUNK columns where that is set. */
const GPU_CHUNK_COLUMNS = Number(envVar('TSCAFFE_CONV_CHUNK')) > 0 ? Number(envVar('TSCAFFE_CONV_CHUNK')) : Infinity;
/** Floats of a device column matrix, at most (256 MB), and below the adapter's maxStorageBufferBindingSize. */
const GPU_MAX_COL_FLOATS = 64 << 20;

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

  // Batched GEMMs. Instead of Caffe's one small GEMM per image, `c` images at a time form one wide GEMM: the column
  // matrix is K x (c*P) with image i in columns [i*P, (i+1)*P), stored blocked (image by image, each K x P, exactly as
  // im2col writes it), and the "output side" (the non-im2col side: top for convolution, bottom for deconvolution) is
  // the Mo x (c*P) matrix whose blocks are the images of the blob itself (Mo x P each). Backend.gemmEx reads and writes
  // these blocked layouts in place, so nothing is copied between im2col, the GEMMs and the blobs.
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

  /** Images per batched GEMM: about CONV_CHUNK_COLUMNS columns, at most 64 MB of column matrix. */
  protected chunk(num: number): number {
    const { outSp, kTotal } = this.convDims();
    const byCols = Math.ceil(CHUNK_COLUMNS / outSp);
    const byMem = Math.floor((16 << 20) / Math.max(1, kTotal * outSp));
    return Math.max(1, Math.min(num, byCols, byMem));
  }

  // The internal matrices, in the backend's memory (e.g. WebAssembly's) so its kernels work on them in place.
  private ensureCol(c: number): void {
    const { outSp, kTotal } = this.convDims();
    if (this.colBig.length < kTotal * outSp * c) this.colBig = allocFloat32(kTotal * outSp * c);
  }

  private ensureOut(c: number): void {
    const { convOutC, outSp } = this.convDims();
    if (this.outBig.length < convOutC * outSp * c) this.outBig = allocFloat32(convOutC * outSp * c);
  }

  /** Storage of the column matrix (Ktot x c*P, image blocks of Ktot x P). */
  private colLayout(): MatrixLayout {
    const { outSp: P, kTotal } = this.convDims();
    return { ld: P, block: P, blockStride: kTotal * P };
  }

  /** Storage of the output side (Mo x c*P, image blocks of Mo x P). */
  private outLayout(): MatrixLayout {
    const { convOutC, outSp: P } = this.convDims();
    return { ld: P, block: P, blockStride: convOutC * P };
  }

  // The column matrix read straight from the images (no im2col) where there is no padding: Backend.gemmEx's offset
  // tables. colSrc: images [n0, ...) of the im2col side while the tables stand for the column matrix, else undefined.
  private colSrc: Float32Array | undefined;
  private tabStore: Float32Array = new Float32Array(0);
  private rowTab: Int32Array = new Int32Array(0);
  private colTab: Int32Array = new Int32Array(0);
  private tabKey = '';

  /**
   * Make the column matrix of images [n0, n0+c) of `im` available to gemmForward / gemmWeights: as offset tables into
   * `im` itself when the geometry has no padding, else by im2col into the internal matrix.
   */
  protected prepareCols(im: Float32Array, n0: number, c: number): void {
    const g = this.geometry();
    if (!this.colsByTable()) return this.imToCols(im, n0, c);
    const { outSp: P, kTotal } = this.convDims();
    const imDim = g.channels * g.height * g.width;
    const [oh, ow] = convOutputSize(g);
    const key = `${c},${imDim},${g.width},${oh},${ow},${g.kernelH},${g.kernelW},${g.strideH},${g.strideW},${g.dilationH},${g.dilationW}`;
    if (key !== this.tabKey) {
      // in the backend's memory (kernels then read them in place); tabStore keeps that block alive
      this.tabStore = allocFloat32(kTotal + c * P);
      this.rowTab = new Int32Array(this.tabStore.buffer, this.tabStore.byteOffset, kTotal);
      let r = 0;
      for (let ch = 0; ch < g.channels; ch++) {
        for (let kh = 0; kh < g.kernelH; kh++) {
          for (let kw = 0; kw < g.kernelW; kw++) this.rowTab[r++] = ch * g.height * g.width + kh * g.dilationH * g.width + kw * g.dilationW;
        }
      }
      this.colTab = new Int32Array(this.tabStore.buffer, this.tabStore.byteOffset + kTotal * 4, c * P);
      let t = 0;
      for (let i = 0; i < c; i++) {
        for (let y = 0; y < oh; y++) for (let x = 0; x < ow; x++) this.colTab[t++] = i * imDim + y * g.strideH * g.width + x * g.strideW;
      }
      this.tabKey = key;
    }
    this.colSrc = im.subarray(n0 * imDim);
  }

  /** Whether prepareCols reads the images in place (no padding); then it takes any number of images at once. */
  protected colsByTable(): boolean {
    return this.padH === 0 && this.padW === 0;
  }

  /** Group i's rows of the column matrix, as a gemmEx operand. */
  private colOperand(i: number): [Float32Array, MatrixLayout] {
    const { outSp: P, kTotal } = this.convDims();
    const Kg = kTotal / this.group;
    if (this.colSrc) return [this.colSrc, { ld: 0, rowOffsets: this.rowTab.subarray(i * Kg), colOffsets: this.colTab }];
    return [this.colBig.subarray(i * Kg * P), this.colLayout()];
  }

  /** Column matrix of images [n0, n0+c) of `im` (the im2col side), by im2col into the internal matrix. */
  protected imToCols(im: Float32Array, n0: number, c: number): void {
    this.colSrc = undefined;
    this.ensureCol(c);
    const { outSp: P, kTotal } = this.convDims();
    const g = this.geometry();
    const imDim = g.channels * g.height * g.width, colDim = kTotal * P;
    const be = backend();
    for (let i = 0; i < c; i++) {
      be.im2col(im.subarray((n0 + i) * imDim, (n0 + i + 1) * imDim), g, this.colBig.subarray(i * colDim, (i + 1) * colDim));
    }
  }

  /** col2im of the column matrix into images [n0, n0+c) of `im` (overwrites them). */
  protected colsToIm(im: Float32Array, n0: number, c: number): void {
    const { outSp: P, kTotal } = this.convDims();
    const g = this.geometry();
    const imDim = g.channels * g.height * g.width, colDim = kTotal * P;
    const be = backend();
    for (let i = 0; i < c; i++) {
      be.col2im(this.colBig.subarray(i * colDim, (i + 1) * colDim), g, im.subarray((n0 + i) * imDim, (n0 + i + 1) * imDim));
    }
  }

  /** Copy images [n0, n0+c) of the output side into the internal Mo x (c*P) matrix (for callers that pass no `out`). */
  protected gatherOut(src: Float32Array, n0: number, c: number): void {
    this.ensureOut(c);
    const { convOutC: M, outSp: P } = this.convDims();
    this.outBig.set(src.subarray(n0 * M * P, (n0 + c) * M * P));
  }

  /** Copy the internal Mo x (c*P) matrix back to images [n0, n0+c), adding `bias` per channel when given. */
  protected scatterOut(dst: Float32Array, n0: number, c: number, bias?: Float32Array): void {
    const { convOutC: M, outSp: P } = this.convDims();
    const out = dst.subarray(n0 * M * P, (n0 + c) * M * P);
    out.set(this.outBig.subarray(0, c * M * P));
    if (bias) this.addBias(out, c, bias);
  }

  /** out (c output-side images) += bias per channel (Caffe's forward_cpu_bias). */
  protected addBias(out: Float32Array, c: number, bias: Float32Array): void {
    const { convOutC: M, outSp: P } = this.convDims();
    backend().addChannelBias(out, c, M, P, bias);
  }

  /** biasDiff += the sums of c output-side images of `outDiff` per channel (Caffe's backward_cpu_bias). */
  protected addBiasGrad(biasDiff: Float32Array, outDiff: Float32Array, c: number): void {
    const { convOutC: M, outSp: P } = this.convDims();
    backend().sumChannels(outDiff, c, M, P, biasDiff);
  }

  /** Per group: out (Mo x c*P) = W * col; `out` is c output-side images (default: the internal matrix). */
  protected gemmForward(weights: Float32Array, c: number, out?: Float32Array): void {
    if (!out) {
      this.ensureOut(c);
      out = this.outBig;
    }
    const { convOutC, outSp: P, kTotal } = this.convDims();
    const g = this.group, Mg = convOutC / g, Kg = kTotal / g, ld = c * P;
    const lo = this.outLayout();
    for (let i = 0; i < g; i++) {
      const [col, lc] = this.colOperand(i);
      backend().gemmEx(false, false, Mg, ld, Kg, 1, weights.subarray(i * Mg * Kg, (i + 1) * Mg * Kg), { ld: Kg },
        col, lc, 0, out.subarray(i * Mg * P), lo);
    }
  }

  /** Per group: col = W^T * out. */
  protected gemmBackwardData(weights: Float32Array, c: number, out: Float32Array = this.outBig): void {
    this.ensureCol(c);
    const { convOutC, outSp: P, kTotal } = this.convDims();
    const g = this.group, Mg = convOutC / g, Kg = kTotal / g, ld = c * P;
    const lc = this.colLayout(), lo = this.outLayout();
    this.colSrc = undefined; // the internal matrix holds this product now
    for (let i = 0; i < g; i++) {
      backend().gemmEx(true, false, Kg, ld, Mg, 1, weights.subarray(i * Mg * Kg, (i + 1) * Mg * Kg), { ld: Kg },
        out.subarray(i * Mg * P), lo, 0, this.colBig.subarray(i * Kg * P), lc);
    }
  }

  /** Per group: weight grad += out * col^T. */
  protected gemmWeights(weightDiff: Float32Array, c: number, out: Float32Array = this.outBig): void {
    const { convOutC, outSp: P, kTotal } = this.convDims();
    const g = this.group, Mg = convOutC / g, Kg = kTotal / g, ld = c * P;
    const lo = this.outLayout();
    for (let i = 0; i < g; i++) {
      const [col, lc] = this.colOperand(i);
      backend().gemmEx(false, true, Mg, Kg, ld, 1, out.subarray(i * Mg * P), lo, col, lc, 1,
        weightDiff.subarray(i * Mg * Kg, (i + 1) * Mg * Kg), { ld: Kg });
    }
  }

  // Device paths (Caffe's Forward_gpu / Backward_gpu): the same batched GEMMs on the device's kernels, with the column
  // matrix of `c` images in a device buffer the layer owns (always by im2col: gemmEx takes no offset tables there).
  private gpuCol: { buffer: GPUBuffer; floats: number; gpu: WebGpuDevice } | undefined;

  /** Images per device batch: the column matrix and each batch's binding stay within the adapter's limits. */
  protected gpuChunk(num: number, gpu: WebGpuDevice): number {
    const { convOutC, outSp: P, kTotal } = this.convDims();
    const g = this.geometry();
    const maxFloats = Math.min(GPU_MAX_COL_FLOATS, Math.floor(gpu.device.limits.maxStorageBufferBindingSize / 4));
    const perImage = Math.max(kTotal * P, convOutC * P, g.channels * g.height * g.width);
    // gemmEx dispatches one workgroup per 32 to 64 columns in x: keep c * P within the dispatch limit
    const byCols = Math.floor(Math.min(GPU_CHUNK_COLUMNS, gpu.kernels.maxGroups * 32) / P);
    return Math.max(1, Math.min(num, Math.floor(maxFloats / perImage), byCols));
  }

  /** The device column buffer for c images (grown when needed; a buffer on another device is replaced). */
  protected gpuCols(gpu: WebGpuDevice, c: number): GPUBuffer {
    const { outSp: P, kTotal } = this.convDims();
    const need = kTotal * P * c;
    if (!this.gpuCol || this.gpuCol.gpu !== gpu || this.gpuCol.floats < need) {
      if (this.gpuCol) this.gpuCol.gpu.free(this.gpuCol.buffer);
      this.gpuCol = { buffer: gpu.alloc(need, `Layer ${this.name} column buffer`), floats: need, gpu };
    }
    return this.gpuCol.buffer;
  }

  override async close(): Promise<void> {
    if (this.gpuCol) this.gpuCol.gpu.free(this.gpuCol.buffer);
    this.gpuCol = undefined;
    await super.close();
  }

  /** im2col (or col2im) of images [n0, n0+c) of the device image `im`. */
  protected gpuImToCols(gpu: WebGpuDevice, im: GPUBuffer, n0: number, c: number, col: GPUBuffer): void {
    const g = this.geometry();
    gpu.kernels.im2col({ buffer: im, offset: n0 * g.channels * g.height * g.width }, g, col, c);
  }

  protected gpuColsToIm(gpu: WebGpuDevice, col: GPUBuffer, im: GPUBuffer, n0: number, c: number): void {
    const g = this.geometry();
    gpu.kernels.col2im(col, g, { buffer: im, offset: n0 * g.channels * g.height * g.width }, c);
  }

  /** Group i's operands: weights (Mg x Kg), columns (Kg x c*P, blocked), output side (Mg x c*P, blocked, from image n0). */
  private gpuOperands(w: GPUBuffer, col: GPUBuffer, out: GPUBuffer, n0: number, i: number) {
    const { convOutC, outSp: P, kTotal } = this.convDims();
    const Mg = convOutC / this.group, Kg = kTotal / this.group;
    return {
      Mg, Kg,
      w: { buffer: w, offset: i * Mg * Kg } as GpuOperand,
      col: { buffer: col, offset: i * Kg * P } as GpuOperand,
      out: { buffer: out, offset: n0 * convOutC * P + i * Mg * P } as GpuOperand,
    };
  }

  /** Per group: out (images [n0, n0+c) of the output side) = W * col. */
  protected gpuGemmForward(gpu: WebGpuDevice, w: GPUBuffer, col: GPUBuffer, out: GPUBuffer, n0: number, c: number): void {
    const ld = c * this.convDims().outSp, lc = this.colLayout(), lo = this.outLayout();
    for (let i = 0; i < this.group; i++) {
      const o = this.gpuOperands(w, col, out, n0, i);
      gpu.kernels.gemmEx(false, false, o.Mg, ld, o.Kg, 1, o.w, { ld: o.Kg }, o.col, lc, 0, o.out, lo);
    }
  }

  /** Per group: col = W^T * out. */
  protected gpuGemmBackwardData(gpu: WebGpuDevice, w: GPUBuffer, out: GPUBuffer, n0: number, c: number, col: GPUBuffer): void {
    const ld = c * this.convDims().outSp, lc = this.colLayout(), lo = this.outLayout();
    for (let i = 0; i < this.group; i++) {
      const o = this.gpuOperands(w, col, out, n0, i);
      gpu.kernels.gemmEx(true, false, o.Kg, ld, o.Mg, 1, o.w, { ld: o.Kg }, o.out, lo, 0, o.col, lc);
    }
  }

  /** Per group: weight grad += out * col^T (Caffe accumulates parameter gradients). */
  protected gpuGemmWeights(gpu: WebGpuDevice, wDiff: GPUBuffer, out: GPUBuffer, n0: number, c: number, col: GPUBuffer): void {
    const ld = c * this.convDims().outSp, lc = this.colLayout(), lo = this.outLayout();
    for (let i = 0; i < this.group; i++) {
      const o = this.gpuOperands(wDiff, col, out, n0, i);
      gpu.kernels.gemmEx(false, true, o.Mg, o.Kg, ld, 1, o.out, lo, o.col, lc, 1, o.w, { ld: o.Kg });
    }
  }
}
