// Bias: top = bottom[0] + b, with b broadcast over the axes around [axis, axis + num_axes). b is bottom[1] (then
// its shape gives the axes) or, with one bottom, a learned parameter shaped like those axes of bottom[0]
// (filler default constant 0). A scalar b (0 axes) applies to all. Works in place.
import type { BiasParameter } from '../proto/types.generated.js';
import { paramOf } from '../proto/caffe.js';
import { Blob } from '../blob/blob.js';
import { fillBlob } from '../util/filler.js';
import { Layer, registerLayer } from './layer.js';
import { check } from './layer_util.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import { channelSumOnDevice, copyOnDevice, routingOf, SUM } from './device_util.js';

/** outer x dim x inner broadcast geometry of b against x, shared by Bias and Scale. */
export interface Broadcast {
  outer: number;
  dim: number;
  inner: number;
}

/** Shape of the learned parameter: bottom's axes [axis, axis + numAxes) (numAxes -1: to the end). */
export function paramShape(layer: Layer, bottom: Blob, axisParam: number, numAxes: number): number[] {
  const axis = bottom.canonicalAxis(axisParam);
  check(layer, numAxes >= -1, 'num_axes must be non-negative, or -1 to extend to the end of bottom[0]');
  if (numAxes !== -1) {
    check(layer, bottom.numAxes >= axis + numAxes,
      `${layer.type} blob's shape extends past bottom[0]'s shape when applied starting with bottom[0] axis = ${axis}`);
  }
  return bottom.shape.slice(axis, numAxes === -1 ? undefined : axis + numAxes);
}

/** Checks b's shape against x from axis on and returns the broadcast geometry. */
export function broadcastOf(layer: Layer, x: Blob, b: Blob, axisParam: number): Broadcast {
  const axis = b.numAxes === 0 ? 0 : x.canonicalAxis(axisParam);
  check(layer, x.numAxes >= axis + b.numAxes,
    `${layer.type} blob's shape extends past bottom[0]'s shape when applied starting with bottom[0] axis = ${axis}`);
  for (let i = 0; i < b.numAxes; i++) {
    check(layer, x.shape[axis + i] === b.shape[i],
      `dimension mismatch between bottom[0]->shape(${axis + i}) and ${layer.type.toLowerCase()}->shape(${i}) (${x.shapeString()} vs ${b.shapeString()})`);
  }
  return { outer: x.count(0, axis), dim: b.count(), inner: x.count(axis + b.numAxes) };
}

/** The broadcast as the (num, channels, spatial) array of the device's per-channel sums. */
export function broadcastGeometry(g: Broadcast): { num: number; channels: number; spatial: number } {
  return { num: g.outer, channels: g.dim, spatial: g.inner };
}

/** Adds sum over outer and inner of dy into db (accumulate) or overwrites it. */
export function reduceBroadcast(g: Broadcast, dy: Float32Array, db: Float32Array, accumulate: boolean): void {
  const { outer, dim, inner } = g;
  const acc = new Float64Array(dim);
  for (let o = 0; o < outer; o++) {
    for (let d = 0; d < dim; d++) {
      const base = (o * dim + d) * inner;
      let s = 0;
      for (let i = 0; i < inner; i++) s += dy[base + i]!;
      acc[d]! += s;
    }
  }
  for (let d = 0; d < dim; d++) db[d] = (accumulate ? db[d]! : 0) + acc[d]!;
}

export class BiasLayer extends Layer {
  private g: Broadcast = { outer: 0, dim: 0, inner: 0 };

  override minBottomBlobs(): number { return 1; }
  override maxBottomBlobs(): number { return 2; }
  override exactNumTopBlobs(): number { return 1; }

  override layerSetUp(bottom: Blob[]): void {
    if (bottom.length === 1 && this.blobs.length === 0) {
      const p = paramOf<BiasParameter>('BiasParameter', this.param.bias_param);
      const b = new Blob();
      b.reshape(paramShape(this, bottom[0]!, p.axis ?? 1, p.num_axes ?? 1));
      fillBlob(b, p.filler ?? undefined);
      this.blobs.push(b);
    }
    this.paramPropagateDown = this.blobs.map(() => true);
  }

  reshape(bottom: Blob[], top: Blob[]): void {
    const p = paramOf<BiasParameter>('BiasParameter', this.param.bias_param);
    const bias = bottom.length > 1 ? bottom[1]! : this.blobs[0]!;
    this.g = broadcastOf(this, bottom[0]!, bias, p.axis ?? 1);
    check(this, top[0] !== bottom[1], 'Bias cannot write its output in place of the bias bottom');
    if (top[0] !== bottom[0]) top[0]!.reshapeLike(bottom[0]!);
  }

  forward(bottom: Blob[], top: Blob[]): void {
    const x = bottom[0]!.data, y = top[0]!.data;
    const b = (bottom.length > 1 ? bottom[1]! : this.blobs[0]!).data;
    const { outer, dim, inner } = this.g;
    for (let o = 0; o < outer; o++) {
      for (let d = 0; d < dim; d++) {
        const base = (o * dim + d) * inner, v = b[d]!;
        for (let i = 0; i < inner; i++) y[base + i] = x[base + i]! + v;
      }
    }
  }

  backward(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void {
    const dy = top[0]!.diff;
    if (propagateDown[0] && bottom[0] !== top[0]) bottom[0]!.diff.set(dy);
    const learned = bottom.length === 1;
    if ((learned && this.paramPropagateDown[0]) || (!learned && propagateDown[1])) {
      const db = (learned ? this.blobs[0]! : bottom[1]!).diff;
      reduceBroadcast(this.g, dy, db, learned);
    }
  }

  override forwardGpu(bottom: Blob[], top: Blob[], gpu: WebGpuDevice): void {
    const b = bottom.length > 1 ? bottom[1]! : this.blobs[0]!, n = bottom[0]!.count();
    gpu.kernels.run1d(routingOf(gpu).addBroadcast, n, [bottom[0]!.deviceData(gpu), b.deviceData(gpu), top[0]!.deviceData(gpu, true)],
      [n, this.g.dim, n], [this.g.dim, this.g.inner]);
  }

  override backwardGpu(top: Blob[], propagateDown: boolean[], bottom: Blob[], gpu: WebGpuDevice): void {
    const dy = top[0]!.deviceDiff(gpu), n = top[0]!.count();
    if (propagateDown[0] && bottom[0] !== top[0]) copyOnDevice(gpu, n, dy, bottom[0]!.deviceDiff(gpu, true));
    const learned = bottom.length === 1;
    if ((learned && this.paramPropagateDown[0]) || (!learned && propagateDown[1])) {
      const db = (learned ? this.blobs[0]! : bottom[1]!).deviceDiff(gpu, true);
      channelSumOnDevice(gpu, broadcastGeometry(this.g), SUM, dy, dy, db, { accumulate: learned });
    }
  }
}

registerLayer('Bias', BiasLayer);
