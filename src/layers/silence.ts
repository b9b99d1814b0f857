// Silence: consumes bottoms so they are not reported as net outputs; no tops. Backward zeroes the bottoms' diffs.
import type { Blob } from '../blob/blob.js';
import { Layer, registerLayer } from './layer.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';

export class SilenceLayer extends Layer {
  override minBottomBlobs(): number { return 1; }
  override exactNumTopBlobs(): number { return 0; }

  reshape(): void {}
  forward(): void {}

  backward(_top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    bottom.forEach((b, i) => { if (propagateDown[i]) b.diff.fill(0); });
  }

  override forwardGpu(): void {}

  override backwardGpu(_top: Blob[], propagateDown: boolean[], bottom: Blob[], gpu: WebGpuDevice): void {
    bottom.forEach((b, i) => { if (propagateDown[i]) gpu.kernels.scal(b.count(), 0, b.deviceDiff(gpu, true)); });
  }
}

registerLayer('Silence', SilenceLayer);
