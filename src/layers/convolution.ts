// Convolution: im2col + GEMM as Caffe's ConvolutionLayer (2-D, groups, dilation), over several images per GEMM.
import type { Blob } from '../blob/blob.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
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
    const { convOutC: M, outSp: P } = this.convDims();
    for (let i = 0; i < bottom.length; i++) {
      // Without padding the column matrix is not materialized: one GEMM over the whole batch.
      const num = bottom[i]!.shape[0]!, step = this.colsByTable() ? num : this.chunk(num);
      const out = top[i]!.data;
      for (let n0 = 0; n0 < num; n0 += step) {
        const c = Math.min(step, num - n0);
        this.prepareCols(bottom[i]!.data, n0, c);
        this.gemmForward(w, c, out.subarray(n0 * M * P, (n0 + c) * M * P));
      }
      if (this.biasTerm) this.addBias(out, num, this.blobs[1]!.data);
    }
  }

  backward(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    const w = this.blobs[0]!;
    const { convOutC: M, outSp: P } = this.convDims();
    for (let i = 0; i < top.length; i++) {
      const b = bottom[i]!, t = top[i]!;
      const num = b.shape[0]!, step = this.chunk(num);
      if (this.biasTerm && this.paramPropagateDown[1]) this.addBiasGrad(this.blobs[1]!.diff, t.diff, num);
      if (!this.paramPropagateDown[0] && !propagateDown[i]) continue;
      const byTable = this.colsByTable();
      if (byTable && this.paramPropagateDown[0]) {
        this.prepareCols(b.data, 0, num);
        this.gemmWeights(w.diff, num, t.diff);
      }
      for (let n0 = 0; n0 < num; n0 += step) {
        const c = Math.min(step, num - n0);
        const outDiff = t.diff.subarray(n0 * M * P, (n0 + c) * M * P);
        if (this.paramPropagateDown[0] && !byTable) {
          this.prepareCols(b.data, n0, c);
          this.gemmWeights(w.diff, c, outDiff);
        }
        if (propagateDown[i]) {
          this.gemmBackwardData(w.data, c, outDiff);
          this.colsToIm(b.diff, n0, c);
        }
      }
    }
  }

  override forwardGpu(bottom: Blob[], top: Blob[], gpu: WebGpuDevice): void {
    const w = this.blobs[0]!.deviceData(gpu);
    const { convOutC: M, outSp: P } = this.convDims();
    for (let i = 0; i < bottom.length; i++) {
      const num = bottom[i]!.shape[0]!, step = this.gpuChunk(num, gpu);
      const x = bottom[i]!.deviceData(gpu), y = top[i]!.deviceData(gpu, true);
      for (let n0 = 0; n0 < num; n0 += step) {
        const c = Math.min(step, num - n0), col = this.gpuCols(gpu, c);
        this.gpuImToCols(gpu, x, n0, c, col);
        this.gpuGemmForward(gpu, w, col, y, n0, c);
      }
      if (this.biasTerm) gpu.kernels.addChannelBias(y, num, M, P, this.blobs[1]!.deviceData(gpu));
    }
  }

  override backwardGpu(top: Blob[], propagateDown: boolean[], bottom: Blob[], gpu: WebGpuDevice): void {
    const k = gpu.kernels, w = this.blobs[0]!;
    const { convOutC: M, outSp: P } = this.convDims();
    for (let i = 0; i < top.length; i++) {
      const b = bottom[i]!, dy = top[i]!.deviceDiff(gpu);
      const num = b.shape[0]!, step = this.gpuChunk(num, gpu);
      if (this.biasTerm && this.paramPropagateDown[1]) k.sumChannels(dy, num, M, P, this.blobs[1]!.deviceDiff(gpu, true));
      if (!this.paramPropagateDown[0] && !propagateDown[i]) continue;
      for (let n0 = 0; n0 < num; n0 += step) {
        const c = Math.min(step, num - n0), col = this.gpuCols(gpu, c);
        if (this.paramPropagateDown[0]) {
          this.gpuImToCols(gpu, b.deviceData(gpu), n0, c, col);
          this.gpuGemmWeights(gpu, w.deviceDiff(gpu, true), dy, n0, c, col);
        }
        if (propagateDown[i]) {
          this.gpuGemmBackwardData(gpu, w.deviceData(gpu), dy, n0, c, col);
          this.gpuColsToIm(gpu, col, b.deviceDiff(gpu, true), n0, c);
        }
      }
    }
  }
}

registerLayer('Convolution', ConvolutionLayer);
