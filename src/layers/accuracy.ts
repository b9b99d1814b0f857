// Accuracy: fraction of items whose label is among the top_k scores; optional second top with per-class accuracy.
import type { AccuracyParameter } from '../proto/types.generated.js';
import { has, paramOf } from '../proto/caffe.js';
import type { Blob } from '../blob/blob.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import { badHostLabel } from './device_util.js';
import { Layer, registerLayer } from './layer.js';

export class AccuracyLayer extends Layer {
  private topK = 1;
  private axis = 1;
  private ignoreLabel: number | undefined;

  override exactNumBottomBlobs(): number { return 2; }
  override minTopBlobs(): number { return 1; }
  override maxTopBlobs(): number { return 2; }
  override allowForceBackward(): boolean { return false; }

  override layerSetUp(): void {
    const ap = paramOf<AccuracyParameter>('AccuracyParameter', this.param.accuracy_param);
    this.topK = ap.top_k ?? 1;
    this.ignoreLabel = has(ap, 'ignore_label') ? ap.ignore_label! : undefined;
  }

  reshape(bottom: Blob[], top: Blob[]): void {
    const ap = paramOf<AccuracyParameter>('AccuracyParameter', this.param.accuracy_param);
    const b = bottom[0]!;
    this.axis = b.canonicalAxis(ap.axis ?? 1);
    if (this.topK > b.count() / bottom[1]!.count()) throw new Error(`Layer ${this.name}: top_k must be less than or equal to the number of classes`);
    if (b.count(0, this.axis) * b.count(this.axis + 1) !== bottom[1]!.count()) {
      throw new Error(`Layer ${this.name}: number of labels must match number of predictions (${b.shapeString()} vs ${bottom[1]!.shapeString()})`);
    }
    top[0]!.reshape([]);
    if (top.length > 1) top[1]!.reshape([b.shape[this.axis]!]);
  }

  forward(bottom: Blob[], top: Blob[]): void {
    const b = bottom[0]!;
    const C = b.shape[this.axis]!, outer = b.count(0, this.axis), inner = b.count(this.axis + 1);
    const x = b.data, label = bottom[1]!.data;
    const perClass = top.length > 1 ? new Float64Array(C) : undefined;
    const perClassN = top.length > 1 ? new Float64Array(C) : undefined;
    let correct = 0, count = 0;
    for (let i = 0; i < outer; i++) {
      for (let j = 0; j < inner; j++) {
        const l = Math.trunc(label[i * inner + j]!);
        if (this.ignoreLabel !== undefined && l === this.ignoreLabel) continue;
        if (l < 0 || l >= C) throw this.labelError(l, C);
        if (perClassN) perClassN[l]!++;
        // Caffe counts every class scoring >= the true class (itself included, so ties count against it).
        const v = x[i * C * inner + l * inner + j]!;
        let higher = -1;
        for (let c = 0; c < C && higher < this.topK; c++) if (x[i * C * inner + c * inner + j]! >= v) higher++;
        if (higher < this.topK) {
          correct++;
          if (perClass) perClass[l]!++;
        }
        count++;
      }
    }
    top[0]!.data[0] = count === 0 ? 0 : Math.fround(correct / count);
    if (perClass && perClassN) for (let c = 0; c < C; c++) top[1]!.data[c] = perClassN[c] ? perClass[c]! / perClassN[c]! : 0;
  }

  backward(_top: Blob[], propagateDown: boolean[]): void {
    if (propagateDown.some((p) => p)) throw new Error(`Layer ${this.name}: Accuracy has no gradient`);
  }

  // A label outside [0, channels) cannot throw on the device: the accuracy is NaN instead.
  private labelError(l: number, classes: number): Error {
    return new Error(`Layer ${this.name}: label ${l} out of range [0, ${classes})`);
  }

  override forwardGpu(bottom: Blob[], top: Blob[], gpu: WebGpuDevice): void {
    const b = bottom[0]!;
    const bad = badHostLabel(bottom[1]!, b.shape[this.axis]!, this.ignoreLabel);
    if (bad !== undefined) throw this.labelError(bad, b.shape[this.axis]!);
    const o = { outer: b.count(0, this.axis), channels: b.shape[this.axis]!, inner: b.count(this.axis + 1), ignoreLabel: this.ignoreLabel };
    const x = b.deviceData(gpu), label = bottom[1]!.deviceData(gpu);
    gpu.kernels.accuracy(x, label, o, this.topK, top[0]!.deviceData(gpu, true));
    if (top.length > 1) gpu.kernels.accuracyPerClass(x, label, o, this.topK, top[1]!.deviceData(gpu, true));
  }

  override backwardGpu(top: Blob[], propagateDown: boolean[]): void {
    this.backward(top, propagateDown);
  }
}

registerLayer('Accuracy', AccuracyLayer);
