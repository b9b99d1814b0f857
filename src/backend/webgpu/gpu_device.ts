/// <reference types="@webgpu/types" />
// WebGpuDevice: one WebGPU device as the blobs' device (see blob/synced_memory.ts) and the layers' kernels. Layers'
// device paths (Layer.forwardGpu/backwardGpu) record kernels on `kernels`; the net submits them in order, and the host
// waits only where it reads a number back (the loss it logs, the blobs it snapshots).
import type { BlobDevice } from '../../blob/synced_memory.js';
import { type GpuAdapterDescription, type OpenedGpu, isSoftwareAdapter, openGpu } from './device.js';
import { GpuKernels } from './kernels.js';

export class WebGpuDevice implements BlobDevice<GPUBuffer> {
  readonly kernels: GpuKernels;
  readonly name: string;
  /** Why the device was lost (driver reset, destroyed...); undefined while it works. */
  lostReason: string | undefined;

  constructor(readonly device: GPUDevice, readonly description: GpuAdapterDescription) {
    this.kernels = new GpuKernels(device, { software: isSoftwareAdapter(description) });
    this.name = `WebGPU adapter ${description.index} (${description.name})`;
    void device.lost.then((info) => { this.lostReason = info.message || info.reason || 'unknown reason'; });
  }

  static async open(index = 0): Promise<WebGpuDevice | null> {
    const g: OpenedGpu | null = await openGpu(index);
    return g ? new WebGpuDevice(g.device, g.description) : null;
  }

  alloc(n: number, what: string): GPUBuffer {
    // Kernels bind a blob whole: one over the binding limit could be created but never used.
    const limit = this.device.limits.maxStorageBufferBindingSize;
    if (n * 4 > limit) {
      throw new RangeError(`${what}: ${n} floats (${n * 4} bytes) exceed ${this.name}'s maxStorageBufferBindingSize of ${limit} bytes; use a smaller batch_size or the CPU`);
    }
    try {
      return this.kernels.createBuffer(n);
    } catch (e) {
      throw new RangeError(`${what}: ${(e as Error).message} on ${this.name}`);
    }
  }

  upload(host: Float32Array, dst: GPUBuffer): void {
    // Recorded kernels may still read this buffer's old contents: a queue write lands before unsubmitted work.
    this.kernels.submit();
    // Dawn's writeBuffer takes no SharedArrayBuffer (the wasm backend's memory is one): copy those first.
    const src = host.buffer instanceof ArrayBuffer ? host : host.slice();
    this.device.queue.writeBuffer(dst, 0, src.buffer, src.byteOffset, src.byteLength);
  }

  async download(src: GPUBuffer, n: number): Promise<Float32Array> {
    try {
      return await this.kernels.download(src, n);
    } catch (e) {
      throw this.lostReason !== undefined ? new Error(`${this.name} was lost: ${this.lostReason}`) : e;
    }
  }

  free(buffer: GPUBuffer): void {
    this.kernels.submit();
    void this.device.queue.onSubmittedWorkDone().then(() => buffer.destroy(), () => undefined);
  }

  /** Runs everything recorded and waits for it (timing, and before the process exits). */
  async finish(): Promise<void> {
    await this.kernels.finish();
  }

  destroy(): void {
    this.device.destroy();
  }
}
