// Tile: repeats the bottom `tiles` times along `axis` (top dim = tiles * bottom dim); gradients sum over the copies.
import type { TileParameter } from '../proto/types.generated.js';
import { has, paramOf } from '../proto/caffe.js';
import type { Blob } from '../blob/blob.js';
import { Layer, registerLayer } from './layer.js';
import { check } from './layer_util.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import { shapeOpsKernels } from '../backend/webgpu/wgsl/shape_ops.js';

export class TileLayer extends Layer {
  private axis = 1;
  private tiles = 1;
  private outer = 0;
  private inner = 0;

  override exactNumBottomBlobs(): number { return 1; }
  override exactNumTopBlobs(): number { return 1; }

  reshape(bottom: Blob[], top: Blob[]): void {
    const p = paramOf<TileParameter>('TileParameter', this.param.tile_param);
    const b = bottom[0]!;
    this.axis = b.canonicalAxis(p.axis ?? 1);
    check(this, has(p, 'tiles'), 'Number of tiles must be specified');
    this.tiles = p.tiles!;
    check(this, this.tiles > 0, 'Number of tiles must be positive.');
    check(this, top[0] !== b, 'Tile does not work in place');
    const shape = [...b.shape];
    shape[this.axis]! *= this.tiles;
    top[0]!.reshape(shape);
    this.outer = b.count(0, this.axis);
    this.inner = b.count(this.axis);
  }

  forward(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0]!.data, y = top[0]!.data, inner = this.inner;
    let o = 0;
    for (let i = 0; i < this.outer; i++) {
      const src = x.subarray(i * inner, (i + 1) * inner);
      for (let t = 0; t < this.tiles; t++, o += inner) y.set(src, o);
    }
  }

  backward(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    if (!propagateDown[0]) return;
    const dy = top[0]!.diff, dx = bottom[0]!.diff, inner = this.inner;
    let o = 0;
    for (let i = 0; i < this.outer; i++) {
      const base = i * inner;
      dx.set(dy.subarray(o, o + inner), base);
      o += inner;
      for (let t = 1; t < this.tiles; t++, o += inner) for (let j = 0; j < inner; j++) dx[base + j]! += dy[o + j]!;
    }
  }

  override forwardGpu(bottom: Blob[], top: Blob[], gpu: WebGpuDevice): void {
    const n = top[0]!.count();
    gpu.kernels.run1d(shapeOpsKernels(gpu.kernels.wg).tileForward, n, [bottom[0]!.deviceData(gpu), top[0]!.deviceData(gpu, true)],
      [bottom[0]!.count(), n], [this.inner, this.tiles]);
  }

  override backwardGpu(top: Blob[], propagateDown: boolean[], bottom: Blob[], gpu: WebGpuDevice): void {
    if (!propagateDown[0]) return;
    const n = bottom[0]!.count();
    gpu.kernels.run1d(shapeOpsKernels(gpu.kernels.wg).tileBackward, n, [top[0]!.deviceDiff(gpu), bottom[0]!.deviceDiff(gpu, true)],
      [top[0]!.count(), n], [this.inner, this.tiles]);
  }
}

registerLayer('Tile', TileLayer);
