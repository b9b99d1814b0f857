// SyncedMemory: one float array held on the host and, once a device kernel touches it, on a device (Caffe's
// SyncedMemory). The head says which copy is newer; copies move lazily: host to device when a device kernel asks for it
// (an upload is a synchronous queue write), device to host only through syncToHost(), which is asynchronous (WebGPU
// reads back by mapping). A host access while the device copy is newer is an error, not a silent stale read.
import { allocFloat32 } from '../backend/backend.js';

/** What a device offers blobs: buffers of floats, uploads and asynchronous downloads. */
export interface BlobDevice<Buffer = unknown> {
  /** Name for messages (e.g. the adapter's). */
  readonly name: string;
  /** A zeroed device buffer of n floats; `what` names it in errors (e.g. a buffer over the adapter's limits). */
  alloc(n: number, what: string): Buffer;
  upload(host: Float32Array, dst: Buffer): void;
  /** The first n floats of the buffer, once everything recorded before has run. */
  download(src: Buffer, n: number): Promise<Float32Array>;
  free(buffer: Buffer): void;
}

type Head = 'host' | 'device' | 'synced';

export class SyncedMemory {
  readonly host: Float32Array;
  private dev: BlobDevice | undefined;
  private buffer: unknown;
  private head: Head = 'host';

  constructor(readonly size: number) {
    this.host = allocFloat32(size);
  }

  /** Whether the device copy is newer than the host's. */
  get onDevice(): boolean {
    return this.head === 'device';
  }

  /** The host copy, for reading and writing: the device copy becomes stale. */
  mutableHost(what: string): Float32Array {
    if (this.head === 'device') throw this.staleError(what);
    if (this.dev) this.head = 'host';
    return this.host;
  }

  /** The host copy, for reading only. */
  hostRead(what: string): Float32Array {
    if (this.head === 'device') throw this.staleError(what);
    return this.host;
  }

  private staleError(what: string): Error {
    return new Error(`${what} is newer on the device (${this.dev!.name}) than on the host: await syncToHost() before reading it`);
  }

  /** The device copy, uploaded first when the host's is newer; `write`: the host copy becomes stale. */
  device<B>(dev: BlobDevice<B>, write: boolean, what: string): B {
    if (!this.dev) {
      this.buffer = dev.alloc(this.size, what);
      this.dev = dev;
      this.head = 'host';
    } else if (this.dev !== dev) {
      throw new Error(`${what} lives on ${this.dev.name}; it cannot be used on ${dev.name} as well`);
    }
    if (this.head === 'host') {
      dev.upload(this.host, this.buffer as B);
      this.head = 'synced';
    }
    if (write) this.head = 'device';
    return this.buffer as B;
  }

  /** Bring the host copy up to date (a no-op unless the device copy is newer). */
  async syncToHost(): Promise<void> {
    if (this.head !== 'device') return;
    const data = await this.dev!.download(this.buffer, this.size);
    if (this.head !== 'device') return; // synced meanwhile by a concurrent call
    this.host.set(data);
    this.head = 'synced';
  }

  /** Drop the device copy (after syncing it): the memory is host-only again. */
  async detach(): Promise<void> {
    await this.syncToHost();
    if (this.dev) this.dev.free(this.buffer);
    this.dev = undefined;
    this.buffer = undefined;
    this.head = 'host';
  }
}
