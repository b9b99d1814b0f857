// Threshold: y = 1 if x > threshold else 0. No gradient: Caffe's backward is NOT_IMPLEMENTED.
import type { ThresholdParameter } from '../proto/types.generated.js';
import { paramOf } from '../proto/caffe.js';
import type { Blob } from '../blob/blob.js';
import { registerLayer } from './layer.js';
import { layerError, NeuronLayer } from './layer_util.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import { neuronForwardOnDevice, neuronOf } from './device_util.js';

export class ThresholdLayer extends NeuronLayer {
  private threshold = 0;

  override layerSetUp(): void {
    this.threshold = paramOf<ThresholdParameter>('ThresholdParameter', this.param.threshold_param).threshold ?? 0;
  }

  forward(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0]!.data, y = top[0]!.data, t = this.threshold;
    for (let i = 0; i < x.length; i++) y[i] = x[i]! > t ? 1 : 0;
  }

  backward(_top: Blob[], propagateDown: boolean[]): void {
    // Caffe aborts (NOT_IMPLEMENTED) when asked for this gradient.
    if (propagateDown.some(Boolean)) throw layerError(this, 'Threshold does not implement backward (not implemented in Caffe)');
  }

  override forwardGpu(bottom: Blob[], top: Blob[], gpu: WebGpuDevice): void {
    neuronForwardOnDevice(gpu, neuronOf(gpu).thresholdForward, bottom[0]!, top[0]!, [this.threshold]);
  }

  override backwardGpu(top: Blob[], propagateDown: boolean[]): void {
    this.backward(top, propagateDown);
  }
}

registerLayer('Threshold', ThresholdLayer);
