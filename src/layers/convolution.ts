// Convolution: im2col + GEMM per image, as Caffe's ConvolutionLayer (2-D, groups, dilation).
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
    for (let i = 0; i < bottom.length; i++) {
      const b = bottom[i]!, t = top[i]!;
      const inDim = b.count(1), outDim = t.count(1);
      for (let n = 0; n < b.shape[0]!; n++) {
        const out = t.data.subarray(n * outDim, (n + 1) * outDim);
        this.forwardGemm(b.data.subarray(n * inDim, (n + 1) * inDim), w, out);
        if (this.biasTerm) this.forwardBias(out, this.blobs[1]!.data);
      }
    }
  }

  backward(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    const w = this.blobs[0]!;
    for (let i = 0; i < top.length; i++) {
      const b = bottom[i]!, t = top[i]!;
      const inDim = b.count(1), outDim = t.count(1);
      for (let n = 0; n < b.shape[0]!; n++) {
        const td = t.diff.subarray(n * outDim, (n + 1) * outDim);
        if (this.biasTerm && this.paramPropagateDown[1]) this.backwardBias(this.blobs[1]!.diff, td);
        if (this.paramPropagateDown[0]) this.weightGemm(b.data.subarray(n * inDim, (n + 1) * inDim), td, w.diff);
        if (propagateDown[i]) this.backwardGemm(td, w.data, b.diff.subarray(n * inDim, (n + 1) * inDim));
      }
    }
  }
}

registerLayer('Convolution', ConvolutionLayer);
