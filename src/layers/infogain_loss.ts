// InfogainLoss, as Caffe's (master) InfogainLossLayer: softmax over `axis`, then loss = -sum_l H[label, l] log p_l per
// labelled position, normalized as SoftmaxWithLoss. H (K x K) comes from a 3rd bottom or the binaryproto
// infogain_loss_param.source; with H = identity this is SoftmaxWithLoss.
import type { BlobProto, InfogainLossParameter } from '../proto/types.generated.js';
import { has, paramOf } from '../proto/caffe.js';
import { readProtoBinary } from '../proto/io.js';
import { Blob } from '../blob/blob.js';
import { backend } from '../backend/backend.js';
import { Layer, registerLayer } from './layer.js';
import { checkSameNum } from './loss_shape.js';
import { lossParam, normalizer, LossLayer, VALID } from './loss_util.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import { SUM, badHostLabel, channelSumOnDevice, copyOnDevice, lossOpsOf } from './device_util.js';

const LOG_THRESHOLD = 1e-20;

export class InfogainLossLayer extends LossLayer {
  private prob = new Blob();
  private infogain = new Blob();
  private sumRowsH = new Float64Array(0);
  /** The device path's row sums of H and 1 / the loss's normalizer (GpuKernels.lossReduce). */
  private rowSumBlob = new Blob();
  private rnorm = new Blob([1]);
  private axis = 1;
  private outer = 0;
  private inner = 0;
  private numLabels = 0;

  override exactNumBottomBlobs(): number { return -1; }
  override minBottomBlobs(): number { return 2; }
  override maxBottomBlobs(): number { return 3; }
  override minTopBlobs(): number { return 1; }
  override maxTopBlobs(): number { return 2; }
  /** Labels and the infogain matrix take no gradient. */
  override allowForceBackward(i: number): boolean { return i === 0; }

  private err(m: string): Error {
    return new Error(`Layer ${this.name} (InfogainLoss): ${m}`);
  }

  override layerSetUp(bottom: Blob[]): void {
    const lp = lossParam(this.param);
    this.ignoreLabel = has(lp, 'ignore_label') ? lp.ignore_label! : undefined;
    if (has(lp, 'normalize')) throw this.err('loss_param.normalize is deprecated; use "normalization"');
    this.mode = lp.normalization ?? 1;
    if (bottom.length < 3) {
      const ip = paramOf<InfogainLossParameter>('InfogainLossParameter', this.param.infogain_loss_param);
      if (!has(ip, 'source')) throw this.err('Infogain matrix source must be specified (infogain_loss_param.source, or a third bottom)');
      this.infogain.fromProto(readProtoBinary<BlobProto>(ip.source!, 'BlobProto'), true, ip.source!);
    }
  }

  private matrix(bottom: Blob[]): Blob {
    return bottom.length < 3 ? this.infogain : bottom[2]!;
  }

  reshape(bottom: Blob[], top: Blob[]): void {
    checkSameNum(this, bottom);
    const ip = paramOf<InfogainLossParameter>('InfogainLossParameter', this.param.infogain_loss_param);
    const b = bottom[0]!;
    this.axis = b.canonicalAxis(ip.axis ?? 1);
    this.outer = b.count(0, this.axis);
    this.inner = b.count(this.axis + 1);
    this.numLabels = b.shape[this.axis]!;
    if (this.outer * this.inner !== bottom[1]!.count()) {
      throw this.err(`number of labels must match number of predictions; e.g., if infogain axis == 1 and prediction shape is (N, C, H, W), label count (number of labels) must be N*H*W, with integer values in {0, 1, ..., C-1} (prediction ${b.shapeString()}, labels ${bottom[1]!.shapeString()})`);
    }
    const H = this.matrix(bottom);
    if (H.count() !== this.numLabels * this.numLabels) {
      throw this.err(`the infogain matrix must have ${this.numLabels}x${this.numLabels} entries, got ${H.shapeString()}`);
    }
    this.prob.reshapeLike(b);
    if (this.sumRowsH.length !== this.numLabels) this.sumRowsH = new Float64Array(this.numLabels);
    if (bottom.length === 2) this.sumRows(H);
    top[0]!.reshape([]);
    if (top.length > 1) top[1]!.reshapeLike(b);
  }

  private sumRows(H: Blob): void {
    const K = this.numLabels, h = H.data;
    for (let r = 0; r < K; r++) {
      let s = 0;
      for (let c = 0; c < K; c++) s += h[r * K + c]!;
      this.sumRowsH[r] = s;
    }
  }

  private label(bottom: Blob[], i: number, j: number): number | undefined {
    const l = Math.trunc(bottom[1]!.data[i * this.inner + j]!);
    if (this.ignoreLabel !== undefined && l === this.ignoreLabel) return undefined;
    if (l < 0 || l >= this.numLabels) throw this.labelError(l);
    return l;
  }

  forward(bottom: Blob[], top: Blob[]): void {
    const K = this.numLabels, inner = this.inner;
    backend().softmax(bottom[0]!.data, this.outer, K, inner, this.prob.data);
    const p = this.prob.data, h = this.matrix(bottom).data;
    let loss = 0, count = 0;
    for (let i = 0; i < this.outer; i++) {
      for (let j = 0; j < inner; j++) {
        const l = this.label(bottom, i, j);
        if (l === undefined) continue;
        for (let k = 0; k < K; k++) loss -= h[l * K + k]! * Math.log(Math.max(p[(i * K + k) * inner + j]!, LOG_THRESHOLD));
        count++;
      }
    }
    top[0]!.data[0] = loss / normalizer(this.mode, this.outer, inner, count);
    if (top.length === 2) top[1]!.data.set(p);
  }

  backward(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (propagateDown[1]) throw this.err('cannot backpropagate to label inputs');
    if (propagateDown.length > 2 && propagateDown[2]) throw this.err('cannot backpropagate to infogain inputs');
    if (!propagateDown[0]) return;
    if (bottom.length === 3) this.sumRows(bottom[2]!);
    const K = this.numLabels, inner = this.inner;
    const p = this.prob.data, h = this.matrix(bottom).data, dx = bottom[0]!.diff;
    let count = 0;
    for (let i = 0; i < this.outer; i++) {
      for (let j = 0; j < inner; j++) {
        const l = this.label(bottom, i, j);
        for (let k = 0; k < K; k++) {
          const idx = (i * K + k) * inner + j;
          dx[idx] = l === undefined ? 0 : p[idx]! * this.sumRowsH[l]! - h[l * K + k]!;
        }
        if (l !== undefined) count++;
      }
    }
    backend().scal(top[0]!.diff[0]! / normalizer(this.mode, this.outer, inner, count), dx);
  }

  private deviceValues(): number[] {
    return [this.numLabels, this.inner, this.ignoreLabel === undefined ? 0 : 1, this.ignoreLabel ?? 0];
  }

  // A label outside [0, K) cannot throw on the device: the loss (and its gradient) is NaN instead. A file-loaded H is
  // a host blob: deviceData uploads it once.
  private labelError(l: number): Error {
    return this.err(`label ${l} out of range [0, ${this.numLabels})`);
  }

  override forwardGpu(bottom: Blob[], top: Blob[], gpu: WebGpuDevice): void {
    const K = this.numLabels, n = bottom[0]!.count(), positions = this.outer * this.inner;
    const bad = badHostLabel(bottom[1]!, K, this.ignoreLabel);
    if (bad !== undefined) throw this.labelError(bad);
    const prob = this.prob.deviceData(gpu, true);
    gpu.kernels.softmax(bottom[0]!.deviceData(gpu), this.outer, K, this.inner, prob);
    const useCount = this.mode === VALID && this.ignoreLabel !== undefined;
    gpu.kernels.lossReduce(lossOpsOf(gpu).infogainPartial, positions,
      [prob, bottom[1]!.deviceData(gpu), this.matrix(bottom).deviceData(gpu)], [n, positions, K * K], this.deviceValues(),
      { useCount, norm: useCount ? 0 : normalizer(this.mode, this.outer, this.inner, -1) },
      top[0]!.deviceData(gpu, true), this.rnorm.deviceData(gpu, true));
    if (top.length === 2) copyOnDevice(gpu, n, prob, top[1]!.deviceData(gpu, true));
  }

  override backwardGpu(top: Blob[], propagateDown: boolean[], bottom: Blob[], gpu: WebGpuDevice): void {
    if (propagateDown[1]) throw this.err('cannot backpropagate to label inputs');
    if (propagateDown.length > 2 && propagateDown[2]) throw this.err('cannot backpropagate to infogain inputs');
    if (!propagateDown[0]) return;
    const K = this.numLabels, n = bottom[0]!.count(), positions = this.outer * this.inner;
    const H = this.matrix(bottom).deviceData(gpu);
    this.rowSumBlob.reshape([K]);
    const rowSum = this.rowSumBlob.deviceData(gpu, true);
    channelSumOnDevice(gpu, { num: 1, channels: K, spatial: K }, SUM, H, H, rowSum);
    gpu.kernels.run1d(lossOpsOf(gpu).infogainBackward, n, [this.prob.deviceData(gpu), bottom[1]!.deviceData(gpu), H, rowSum,
      top[0]!.deviceDiff(gpu), this.rnorm.deviceData(gpu), bottom[0]!.deviceDiff(gpu, true)],
      [n, positions, K * K, K, 1, 1, n], this.deviceValues());
  }
}

registerLayer('InfogainLoss', InfogainLossLayer);
