// Deconvolution (transposed convolution), as Caffe's DeconvolutionLayer: the roles of input and output of
// BaseConvolutionLayer are swapped, so forward is convolution's backward-data GEMM and backward its forward GEMM.
import type { Blob } from '../blob/blob.js';
import { BaseConvolutionLayer } from './conv_base.js';
import { registerLayer } from './layer.js';

export class DeconvolutionLayer extends BaseConvolutionLayer {
  protected reverseDimensions(): boolean { return true; }

  /** output = stride * (input - 1) + dilated kernel extent - 2 * pad (Caffe's compute_output_shape). */
  protected computeOutputShape(): [number, number] {
    const kh = this.dilationH * (this.kernelH - 1) + 1;
    const kw = this.dilationW * (this.kernelW - 1) + 1;
    return [this.strideH * (this.inH - 1) + kh - 2 * this.padH, this.strideW * (this.inW - 1) + kw - 2 * this.padW];
  }

  forward(bottom: Blob[], top: Blob[]): void {
    const w = this.blobs[0]!.data;
    for (let i = 0; i < bottom.length; i++) {
      const b = bottom[i]!, t = top[i]!;
      const inDim = b.count(1), outDim = t.count(1);
      for (let n = 0; n < b.shape[0]!; n++) {
        const out = t.data.subarray(n * outDim, (n + 1) * outDim);
        this.backwardGemm(b.data.subarray(n * inDim, (n + 1) * inDim), w, out);
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
        // The top diff is the im2col side: weight grad += bottom data * col(top diff)^T, bottom grad = W * col(top diff).
        if (this.paramPropagateDown[0]) this.weightGemm(td, b.data.subarray(n * inDim, (n + 1) * inDim), w.diff);
        if (propagateDown[i]) this.forwardGemm(td, w.data, b.diff.subarray(n * inDim, (n + 1) * inDim));
      }
    }
  }
}

registerLayer('Deconvolution', DeconvolutionLayer);
