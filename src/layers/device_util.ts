// Helpers of the layers' device paths (Layer.forwardGpu/backwardGpu): the routing kernels (wgsl/routing.ts) over
// device buffers, with their operand extents worked out once here.
import type { Operand } from '../backend/webgpu/dispatcher.js';
import type { KernelDef } from '../backend/webgpu/wgsl/shader.js';
import type { Blob } from '../blob/blob.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import { neuronKernels } from '../backend/webgpu/wgsl/neuron.js';
import { normKernels } from '../backend/webgpu/wgsl/norm.js';
import { routingKernels } from '../backend/webgpu/wgsl/routing.js';
import { lossOpsKernels } from '../backend/webgpu/wgsl/loss_ops.js';

export const neuronOf = (gpu: WebGpuDevice) => neuronKernels(gpu.kernels.wg);
export const routingOf = (gpu: WebGpuDevice) => routingKernels(gpu.kernels.wg);

/**
 * The first label outside [0, classes) (ignore_label aside), read from the host copy while the host still holds the
 * labels (they came from a data layer: the usual case); the device kernels would index past the class axis instead.
 * Labels computed on the device are not read back (the host reads only what it logs): undefined then.
 */
export function badHostLabel(label: Blob, classes: number, ignoreLabel?: number): number | undefined {
  if (label.dataOnDevice) return undefined;
  for (const v of label.cpuData) {
    const l = Math.trunc(v);
    if (l !== ignoreLabel && (l < 0 || l >= classes)) return l;
  }
  return undefined;
}

/** y = x over n floats. */
export function copyOnDevice(gpu: WebGpuDevice, n: number, x: Operand, y: Operand): void {
  gpu.kernels.run1d(routingOf(gpu).copy, n, [x, y], [n, n], []);
}

/** y = alpha * x over n floats (y's old values, NaN included, do not matter). */
export function scaledCopyOnDevice(gpu: WebGpuDevice, n: number, alpha: number, x: Operand, y: Operand): void {
  gpu.kernels.run1d(routingOf(gpu).scaledCopy, n, [x, y], [n, n], [alpha]);
}

/** `blocks` blocks of `len` floats, block j from x + j * srcStride to y + j * dstStride (offsets in the operands). */
export function blockCopyOnDevice(gpu: WebGpuDevice, blocks: number, len: number, x: Operand, srcStride: number,
  y: Operand, dstStride: number): void {
  if (blocks <= 0 || len <= 0) return;
  const extent = (stride: number) => (blocks - 1) * stride + len;
  gpu.kernels.run1d(routingOf(gpu).blockCopy, blocks * len, [x, y], [extent(srcStride), extent(dstStride)], [len, srcStride, dstStride]);
}

/**
 * Concat's and Slice's copies between a whole blob and its parts along an axis: part k holds `axis` entries of `inner`
 * floats in each of `outer` blocks, at its offset in the whole's `wholeAxis`. `intoWhole`: parts to the whole, else the
 * whole to the parts; a part without a buffer (no gradient wanted) is skipped, its place kept.
 */
export function axisPartsOnDevice(gpu: WebGpuDevice, outer: number, inner: number, whole: GPUBuffer, wholeAxis: number,
  parts: Array<{ axis: number; buffer?: GPUBuffer }>, intoWhole: boolean): void {
  let offset = 0;
  for (const p of parts) {
    const len = p.axis * inner, at = { buffer: whole, offset: offset * inner };
    if (p.buffer && intoWhole) blockCopyOnDevice(gpu, outer, len, p.buffer, len, at, wholeAxis * inner);
    else if (p.buffer) blockCopyOnDevice(gpu, outer, len, at, wholeAxis * inner, p.buffer, len);
    offset += p.axis;
  }
}

/** Channel-sum modes (wgsl/routing.ts channelSum): u; u * v; u * v where v <= 0; (u - v[c])^2. */
export const SUM = 0, SUM_PRODUCT = 1, SUM_PRODUCT_NONPOS = 2, SUM_SQDEV = 3;

/**
 * out[c] = (the sum over the (num, channels, spatial) array's channel c of the mode's term) / div (+ out[c] when
 * accumulate); `pair`: as a double-float pair, hi in out[c], lo in out[channels + c].
 */
export function channelSumOnDevice(gpu: WebGpuDevice, g: { num: number; channels: number; spatial: number }, mode: number,
  u: Operand, v: Operand, out: Operand, o: { div?: number; accumulate?: boolean; pair?: boolean } = {}): void {
  const total = g.num * g.channels * g.spatial;
  gpu.kernels.run1d(routingOf(gpu).channelSum, g.channels * gpu.kernels.wg, [u, v, out],
    [total, mode === SUM_SQDEV ? g.channels : total, (o.pair ? 2 : 1) * g.channels],
    [g.num, g.channels, g.spatial, mode, o.div ?? 1, o.accumulate ? 1 : 0, o.pair ? 1 : 0]);
}

export const normOf = (gpu: WebGpuDevice) => normKernels(gpu.kernels.wg);

/** A neuron layer's device forward: kernel k (operands x, y; fields after n: `values`) over the bottom into the top. */
export function neuronForwardOnDevice(gpu: WebGpuDevice, k: KernelDef, bottom: Blob, top: Blob, values: number[] = []): void {
  const n = bottom.count();
  gpu.kernels.run1d(k, n, [bottom.deviceData(gpu), top.deviceData(gpu, true)], [n, n], values);
}

/** A neuron layer's device backward: kernel k (operands input, dy, dx), where input is the bottom's or the top's data. */
export function neuronBackwardOnDevice(gpu: WebGpuDevice, k: KernelDef, input: Blob, top: Blob, bottom: Blob, values: number[] = []): void {
  const n = bottom.count();
  gpu.kernels.run1d(k, n, [input.deviceData(gpu), top.deviceDiff(gpu), bottom.deviceDiff(gpu, true)], [n, n, n], values);
}

export const lossOpsOf = (gpu: WebGpuDevice) => lossOpsKernels(gpu.kernels.wg);

