// Embed: looks up row `index` of a learned input_dim x num_output table for each (integer-valued) bottom element;
// the top is the bottom's shape plus num_output; optional bias. Gradients go to the table and bias only.
import type { EmbedParameter } from '../proto/types.generated.js';
import { paramOf } from '../proto/caffe.js';
import { Blob } from '../blob/blob.js';
import { fillBlob } from '../util/filler.js';
import { Layer, registerLayer } from './layer.js';
import { check } from './layer_util.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import { shapeOpsKernels } from '../backend/webgpu/wgsl/shape_ops.js';

export class EmbedLayer extends Layer {
  private N = 0;
  private K = 0;
  private M = 0;
  private biasTerm = true;

  override exactNumBottomBlobs(): number { return 1; }
  override exactNumTopBlobs(): number { return 1; }

  override layerSetUp(): void {
    const p = paramOf<EmbedParameter>('EmbedParameter', this.param.embed_param);
    this.N = p.num_output ?? 0;
    check(this, this.N > 0, 'EmbedLayer num_output must be positive.');
    this.K = p.input_dim ?? 0;
    check(this, this.K > 0, 'EmbedLayer input_dim must be positive.');
    this.biasTerm = p.bias_term ?? true;
    if (this.blobs.length === 0) {
      const w = new Blob([this.K, this.N]);
      fillBlob(w, p.weight_filler ?? undefined);
      this.blobs.push(w);
      if (this.biasTerm) {
        const b = new Blob([this.N]);
        fillBlob(b, p.bias_filler ?? undefined);
        this.blobs.push(b);
      }
    }
    this.paramPropagateDown = this.blobs.map(() => true);
  }

  reshape(bottom: Blob[], top: Blob[]): void {
    check(this, top[0] !== bottom[0], 'Embed does not work in place');
    this.M = bottom[0]!.count();
    top[0]!.reshape([...bottom[0]!.shape, this.N]);
  }

  private index(v: number): number {
    const i = Math.trunc(v);
    check(this, i >= 0, `embedding index ${v} is negative`);
    check(this, i < this.K, `embedding index ${v} is not less than input_dim ${this.K}`);
    check(this, i === v, `non-integer input ${v}`);
    return i;
  }

  forward(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0]!.data, y = top[0]!.data, w = this.blobs[0]!.data, N = this.N;
    for (let n = 0; n < this.M; n++) {
      const i = this.index(x[n]!);
      y.set(w.subarray(i * N, (i + 1) * N), n * N);
    }
    if (this.biasTerm) {
      const b = this.blobs[1]!.data;
      for (let n = 0; n < this.M; n++) for (let j = 0; j < N; j++) y[n * N + j]! += b[j]!;
    }
  }

  backward(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    check(this, !propagateDown[0], "Can't backpropagate to EmbedLayer input.");
    const x = bottom[0]!.data, dy = top[0]!.diff, N = this.N;
    if (this.paramPropagateDown[0]) {
      const dw = this.blobs[0]!.diff;
      for (let n = 0; n < this.M; n++) {
        const i = this.index(x[n]!);
        for (let j = 0; j < N; j++) dw[i * N + j]! += dy[n * N + j]!;
      }
    }
    if (this.biasTerm && this.paramPropagateDown[1]) {
      const db = this.blobs[1]!.diff;
      for (let n = 0; n < this.M; n++) for (let j = 0; j < N; j++) db[j]! += dy[n * N + j]!;
    }
  }

  override forwardGpu(bottom: Blob[], top: Blob[], gpu: WebGpuDevice): void {
    const n = this.M * this.N, w = this.blobs[0]!;
    // Without a bias the weights stand in for the unread bias operand.
    const b = this.biasTerm ? this.blobs[1]!.deviceData(gpu) : w.deviceData(gpu);
    gpu.kernels.run1d(shapeOpsKernels(gpu.kernels.wg).embedForward, n, [bottom[0]!.deviceData(gpu), w.deviceData(gpu), b, top[0]!.deviceData(gpu, true)],
      [this.M, this.K * this.N, this.N, n], [this.N, this.K, this.biasTerm ? 1 : 0]);
  }

  override backwardGpu(top: Blob[], propagateDown: boolean[], bottom: Blob[], gpu: WebGpuDevice): void {
    check(this, !propagateDown[0], "Can't backpropagate to EmbedLayer input.");
    const k = gpu.kernels, ops = shapeOpsKernels(k.wg), dy = top[0]!.deviceDiff(gpu), n = this.M * this.N;
    if (this.paramPropagateDown[0]) {
      k.run1d(ops.embedBackwardWeight, this.K * this.N, [bottom[0]!.deviceData(gpu), dy, this.blobs[0]!.deviceDiff(gpu, true)],
        [this.M, n, this.K * this.N], [this.N, this.M]);
    }
    if (this.biasTerm && this.paramPropagateDown[1]) {
      k.run1d(ops.embedBackwardBias, this.N, [dy, this.blobs[1]!.deviceDiff(gpu, true)], [n, this.N], [this.N, this.M]);
    }
  }
}

registerLayer('Embed', EmbedLayer);
