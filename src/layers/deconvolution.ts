// Deconvolution (transposed convolution), as Caffe's DeconvolutionLayer: the roles of input and output of
// BaseConvolutionLayer are swapped, so forward is convolution's backward-data GEMM and backward its forward GEMM.
import type { Blob } from '../blob/blob.js';
import { backend } from '../backend/backend.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
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

  // The output side of the GEMMs is the bottom here, the im2col side the top.
  override forwardGpu(bottom: Blob[], top: Blob[], gpu: WebGpuDevice): void {
    const w = this.blobs[0]!.deviceData(gpu);
    for (let i = 0; i < bottom.length; i++) {
      const num = bottom[i]!.shape[0]!, step = this.gpuChunk(num, gpu);
      const x = bottom[i]!.deviceData(gpu), y = top[i]!.deviceData(gpu, true);
      for (let n0 = 0; n0 < num; n0 += step) {
        const c = Math.min(step, num - n0), col = this.gpuCols(gpu, c);
        this.gpuGemmBackwardData(gpu, w, x, n0, c, col);
        this.gpuColsToIm(gpu, col, y, n0, c);
      }
      if (this.biasTerm) gpu.kernels.addChannelBias(y, num, this.numOutput, this.outH * this.outW, this.blobs[1]!.deviceData(gpu));
    }
  }

  override backwardGpu(top: Blob[], propagateDown: boolean[], bottom: Blob[], gpu: WebGpuDevice): void {
    const w = this.blobs[0]!;
    for (let i = 0; i < top.length; i++) {
      const b = bottom[i]!, dy = top[i]!.deviceDiff(gpu);
      const num = b.shape[0]!, step = this.gpuChunk(num, gpu);
      if (this.biasTerm && this.paramPropagateDown[1]) {
        gpu.kernels.sumChannels(dy, num, this.numOutput, this.outH * this.outW, this.blobs[1]!.deviceDiff(gpu, true));
      }
      if (!this.paramPropagateDown[0] && !propagateDown[i]) continue;
      for (let n0 = 0; n0 < num; n0 += step) {
        const c = Math.min(step, num - n0), col = this.gpuCols(gpu, c);
        this.gpuImToCols(gpu, dy, n0, c, col);
        if (this.paramPropagateDown[0]) this.gpuGemmWeights(gpu, w.deviceDiff(gpu, true), b.deviceData(gpu), n0, c, col);
        if (propagateDown[i]) this.gpuGemmForward(gpu, w.deviceData(gpu), col, b.deviceDiff(gpu, true), n0, c);
      }
    }
  }
}

registerLayer('Deconvolution', DeconvolutionLayer);
