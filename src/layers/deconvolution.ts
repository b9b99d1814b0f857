// Deconvolution (transposed convolution), as Caffe's DeconvolutionLayer: the roles of input and output of
// BaseConvolutionLayer are swapped, so forward is convolution's backward-data GEMM and backward its forward GEMM.
import type { Blob } from '../blob/blob.js';
import { backend } from '../backend/backend.js';
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
      const num = bottom[i]!.shape[0]!, step = this.chunk(num);
      for (let n0 = 0; n0 < num; n0 += step) {
        const c = Math.min(step, num - n0);
        this.gatherOut(bottom[i]!.data, n0, c);
        this.gemmBackwardData(w, c);
        this.colsToIm(top[i]!.data, n0, c);
      }
      if (this.biasTerm) backend().addChannelBias(top[i]!.data, num, this.numOutput, this.outH * this.outW, this.blobs[1]!.data);
    }
  }

  backward(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    const w = this.blobs[0]!;
    for (let i = 0; i < top.length; i++) {
      const b = bottom[i]!, t = top[i]!;
      const num = b.shape[0]!, step = this.chunk(num);
      if (this.biasTerm && this.paramPropagateDown[1]) {
        backend().sumChannels(t.diff, num, this.numOutput, this.outH * this.outW, this.blobs[1]!.diff);
      }
      // The top diff is the im2col side: weight grad += bottom data * col(top diff)^T, bottom grad = W * col(top diff).
      for (let n0 = 0; n0 < num; n0 += step) {
        const c = Math.min(step, num - n0);
        if (!this.paramPropagateDown[0] && !propagateDown[i]) break;
        this.imToCols(t.diff, n0, c);
        if (this.paramPropagateDown[0]) {
          this.gatherOut(b.data, n0, c);
          this.gemmWeights(w.diff, c);
        }
        if (propagateDown[i]) {
          this.gemmForward(w.data, c);
          this.scatterOut(b.diff, n0, c);
        }
      }
    }
  }
}

registerLayer('Deconvolution', DeconvolutionLayer);
