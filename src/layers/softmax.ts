// Softmax over `axis` (default the channel axis).
import type { SoftmaxParameter } from '../proto/types.generated.js';
import { paramOf } from '../proto/caffe.js';
import type { Blob } from '../blob/blob.js';
import { backend } from '../backend/backend.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import { Layer, registerLayer } from './layer.js';

export class SoftmaxLayer extends Layer {
  private axis = 1;
  private outer = 0;
  private inner = 0;

  override exactNumBottomBlobs(): number { return 1; }
  override exactNumTopBlobs(): number { return 1; }

  reshape(bottom: Blob[], top: Blob[]): void {
    const sp = paramOf<SoftmaxParameter>('SoftmaxParameter', this.param.softmax_param);
    this.axis = bottom[0]!.canonicalAxis(sp.axis ?? 1);
    this.outer = bottom[0]!.count(0, this.axis);
    this.inner = bottom[0]!.count(this.axis + 1);
    if (top[0] !== bottom[0]) top[0]!.reshapeLike(bottom[0]!);
  }

  forward(bottom: Blob[], top: Blob[]): void {
    backend().softmax(bottom[0]!.data, this.outer, bottom[0]!.shape[this.axis]!, this.inner, top[0]!.data);
  }

  backward(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    // dx = y * (dy - sum_c(dy * y))
    const y = top[0]!.data, dy = top[0]!.diff, dx = bottom[0]!.diff;
    const C = bottom[0]!.shape[this.axis]!, inner = this.inner;
    for (let o = 0; o < this.outer; o++) {
      const base = o * C * inner;
      for (let i = 0; i < inner; i++) {
        let dotp = 0;
        for (let c = 0; c < C; c++) dotp += dy[base + c * inner + i]! * y[base + c * inner + i]!;
        for (let c = 0; c < C; c++) {
          const k = base + c * inner + i;
          dx[k] = (dy[k]! - dotp) * y[k]!;
        }
      }
    }
  }

  override forwardGpu(bottom: Blob[], top: Blob[], gpu: WebGpuDevice): void {
    const x = bottom[0]!.deviceData(gpu);
    gpu.kernels.softmax(x, this.outer, bottom[0]!.shape[this.axis]!, this.inner, top[0]!.deviceData(gpu, true));
  }

  override backwardGpu(top: Blob[], propagateDown: boolean[], bottom: Blob[], gpu: WebGpuDevice): void {
    if (!propagateDown[0]) return;
    const t = top[0]!;
    gpu.kernels.softmaxBackward(t.deviceData(gpu), t.deviceDiff(gpu), this.outer, bottom[0]!.shape[this.axis]!, this.inner,
      bottom[0]!.deviceDiff(gpu, true));
  }
}

registerLayer('Softmax', SoftmaxLayer);
