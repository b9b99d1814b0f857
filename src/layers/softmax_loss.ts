// SoftmaxWithLoss: softmax then multinomial logistic loss, with ignore_label and Caffe's normalization modes.
import type { SoftmaxParameter } from '../proto/types.generated.js';
import { has, paramOf } from '../proto/caffe.js';
import { Blob } from '../blob/blob.js';
import { backend } from '../backend/backend.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import type { LabelOptions, LossNormalization } from '../backend/webgpu/kernels.js';
import { badHostLabel, copyOnDevice } from './device_util.js';
import { registerLayer } from './layer.js';
import { BATCH_SIZE, FULL, LossLayer, NONE, VALID, normalizer } from './loss_util.js';

const FLT_MIN = 1.17549435e-38;

export class SoftmaxWithLossLayer extends LossLayer {
  private prob = new Blob();
  /** The device path's 1 / normalizer, written by the forward pass for the backward pass. */
  private rnorm = new Blob([1]);
  private axis = 1;
  private outer = 0;
  private inner = 0;

  override minTopBlobs(): number { return 1; }
  override maxTopBlobs(): number { return 2; }

  reshape(bottom: Blob[], top: Blob[]): void {
    const sp = paramOf<SoftmaxParameter>('SoftmaxParameter', this.param.softmax_param);
    const b = bottom[0]!;
    this.axis = b.canonicalAxis(sp.axis ?? 1);
    this.outer = b.count(0, this.axis);
    this.inner = b.count(this.axis + 1);
    if (this.outer * this.inner !== bottom[1]!.count()) {
      throw new Error(`Layer ${this.name}: number of labels must match number of predictions; e.g., if softmax axis == 1 and prediction shape is (N, C, H, W), label count (number of labels) must be N*H*W, with integer values in {0, 1, ..., C-1} (prediction ${b.shapeString()}, labels ${bottom[1]!.shapeString()})`);
    }
    this.prob.reshapeLike(b);
    top[0]!.reshape([]);
    if (top.length > 1) top[1]!.reshapeLike(b);
  }

  forward(bottom: Blob[], top: Blob[]): void {
    const C = bottom[0]!.shape[this.axis]!;
    backend().softmax(bottom[0]!.data, this.outer, C, this.inner, this.prob.data);
    const p = this.prob.data, label = bottom[1]!.data;
    let loss = 0, count = 0;
    for (let i = 0; i < this.outer; i++) {
      for (let j = 0; j < this.inner; j++) {
        const l = Math.trunc(label[i * this.inner + j]!);
        if (this.ignoreLabel !== undefined && l === this.ignoreLabel) continue;
        if (l < 0 || l >= C) throw this.labelError(l, C);
        loss -= Math.log(Math.max(p[i * C * this.inner + l * this.inner + j]!, FLT_MIN));
        count++;
      }
    }
    top[0]!.data[0] = loss / normalizer(this.mode, this.outer, this.inner, count);
    if (top.length === 2) top[1]!.data.set(p);
  }

  backward(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (propagateDown[1]) throw new Error(`Layer ${this.name}: cannot backpropagate to label inputs`);
    if (!propagateDown[0]) return;
    const C = bottom[0]!.shape[this.axis]!;
    const dx = bottom[0]!.diff, label = bottom[1]!.data;
    dx.set(this.prob.data);
    let count = 0;
    for (let i = 0; i < this.outer; i++) {
      for (let j = 0; j < this.inner; j++) {
        const l = Math.trunc(label[i * this.inner + j]!);
        if (this.ignoreLabel !== undefined && l === this.ignoreLabel) {
          for (let c = 0; c < C; c++) dx[i * C * this.inner + c * this.inner + j] = 0;
        } else {
          dx[i * C * this.inner + l * this.inner + j]! -= 1;
          count++;
        }
      }
    }
    const scale = top[0]!.diff[0]! / normalizer(this.mode, this.outer, this.inner, count);
    backend().scal(scale, dx);
  }

  private labelOptions(bottom: Blob[]): LabelOptions {
    return { outer: this.outer, channels: bottom[0]!.shape[this.axis]!, inner: this.inner, ignoreLabel: this.ignoreLabel };
  }

  private normalization(): LossNormalization {
    const m = ({ [FULL]: 'full', [VALID]: 'valid', [BATCH_SIZE]: 'batch_size', [NONE]: 'none' } as const)[this.mode];
    if (!m) throw new Error(`Layer ${this.name}: unknown loss normalization mode ${this.mode}`);
    return m;
  }

  // A label outside [0, channels) cannot throw on the device: the loss is NaN instead.
  private labelError(l: number, classes: number): Error {
    return new Error(`Layer ${this.name}: label ${l} out of range [0, ${classes})`);
  }

  override forwardGpu(bottom: Blob[], top: Blob[], gpu: WebGpuDevice): void {
    const C = bottom[0]!.shape[this.axis]!, bad = badHostLabel(bottom[1]!, C, this.ignoreLabel);
    if (bad !== undefined) throw this.labelError(bad, C);
    const x = bottom[0]!.deviceData(gpu), label = bottom[1]!.deviceData(gpu);
    const prob = this.prob.deviceData(gpu, true);
    gpu.kernels.softmaxLossForward(x, label, this.labelOptions(bottom), this.normalization(), prob, top[0]!.deviceData(gpu, true),
      this.rnorm.deviceData(gpu, true));
    if (top.length === 2) {
      copyOnDevice(gpu, this.prob.count(), prob, top[1]!.deviceData(gpu, true));
    }
  }

  /** Scaled by the loss weight the top's diff holds (Caffe's top[0]->cpu_diff()[0]). */
  override backwardGpu(top: Blob[], propagateDown: boolean[], bottom: Blob[], gpu: WebGpuDevice): void {
    if (propagateDown[1]) throw new Error(`Layer ${this.name}: cannot backpropagate to label inputs`);
    if (!propagateDown[0]) return;
    const prob = this.prob.deviceData(gpu), label = bottom[1]!.deviceData(gpu), topDiff = top[0]!.deviceDiff(gpu);
    gpu.kernels.softmaxLossBackward(prob, label, this.labelOptions(bottom), this.rnorm.deviceData(gpu), topDiff,
      bottom[0]!.deviceDiff(gpu, true));
  }
}

registerLayer('SoftmaxWithLoss', SoftmaxWithLossLayer);
