// Convolution: im2col + GEMM as Caffe's ConvolutionLayer (2-D, groups, dilation), over several images per GEMM.
import type { Blob } from '../blob/blob.js';
import { BaseConvolutionLayer } from './conv_base.js';
import { registerLayer } from './layer.js';

export class ConvolutionLayer extends BaseConvolutionLayer {
  protected reverseDimensions(): boolean { return false; }

  protected computeOutputShape(): [number, number] {
    const kh = this.dilationH * (this.kernelH - 1) + 1;
    const kw = this.dilationW * (this.kernelW - 1) + 1;
    return [Math.floor((this.inH + 2 * this.padH - kh) / this.strideH) + 1, Math.floor((this.inW + 2 * this.padW - kw) / this.strideW) + 1];
  }

  forward(bottom: Blob[], top: Blob[]): void {
    const w = this.blobs[0]!.data;
    const bias = this.biasTerm ? this.blobs[1]!.data : undefined;
    for (let i = 0; i < bottom.length; i++) {
      const num = bottom[i]!.shape[0]!, step = this.chunk(num);
      for (let n0 = 0; n0 < num; n0 += step) {
        const c = Math.min(step, num - n0);
        this.imToCols(bottom[i]!.data, n0, c);
        this.gemmForward(w, c);
        this.scatterOut(top[i]!.data, n0, c, bias);
      }
    }
  }

  backward(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    const w = this.blobs[0]!;
    for (let i = 0; i < top.length; i++) {
      const b = bottom[i]!, t = top[i]!;
      const num = b.shape[0]!, outDim = t.count(1), step = this.chunk(num);
      if (this.biasTerm && this.paramPropagateDown[1]) {
        for (let n = 0; n < num; n++) this.backwardBias(this.blobs[1]!.diff, t.diff.subarray(n * outDim, (n + 1) * outDim));
      }
      if (!this.paramPropagateDown[0] && !propagateDown[i]) continue;
      for (let n0 = 0; n0 < num; n0 += step) {
        const c = Math.min(step, num - n0);
        this.gatherOut(t.diff, n0, c);
        if (this.paramPropagateDown[0]) {
          this.imToCols(b.data, n0, c);
          this.gemmWeights(w.diff, c);
        }
        if (propagateDown[i]) {
          this.gemmBackwardData(w.data, c);
          this.colsToIm(b.diff, n0, c);
        }
      }
    }
  }
}

registerLayer('Convolution', ConvolutionLayer);
