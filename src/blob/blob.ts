// Blob: Caffe's N-D array of float32 data and gradient (diff), row-major, shape as Caffe's BlobShape.
import type { BlobProto } from '../proto/types.generated.js';
import { has } from '../proto/caffe.js';
import { SyncedMemory, type BlobDevice } from './synced_memory.js';
import '../backend/all.js'; // blobs allocate in the active backend's memory: make sure the backends are registered

export class Blob {
  private _shape: number[] = [];
  private _count = 0;
  private _capacity = 0;
  private _data = new SyncedMemory(0);
  private _diff = new SyncedMemory(0);
  /** For messages: the net names its blobs (and a layer's parameters). */
  name = 'blob';

  constructor(shape: number[] = []) {
    if (shape.length) this.reshape(shape);
  }

  /** Change the shape; storage grows when needed and is kept otherwise (Caffe's Reshape). */
  reshape(shape: readonly number[]): void {
    let count = 1;
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new Error(`Blob: bad dimension ${d} in shape [${shape.join(', ')}]`);
      count *= d;
    }
    if (count > 0x7fffffff) throw new Error(`Blob: shape [${shape.join(', ')}] has too many elements`);
    this._shape = [...shape];
    this._count = count;
    if (count > this._capacity) {
      this._capacity = count;
      this._data = new SyncedMemory(count);
      this._diff = new SyncedMemory(count);
    }
  }

  reshapeLike(other: Blob): void {
    this.reshape(other.shape);
  }

  get shape(): readonly number[] {
    return this._shape;
  }

  /** Dimension at `axis` (negative counts from the end). */
  dim(axis: number): number {
    return this._shape[this.canonicalAxis(axis)]!;
  }

  get numAxes(): number {
    return this._shape.length;
  }

  /** Number of elements, or the product of dims in [start, end). */
  count(start?: number, end?: number): number {
    if (start === undefined) return this._count;
    const e = end ?? this._shape.length;
    let c = 1;
    for (let i = start; i < e; i++) c *= this._shape[i]!;
    return c;
  }

  canonicalAxis(axis: number): number {
    const n = this._shape.length;
    if (axis < -n || axis >= Math.max(n, 1)) throw new Error(`axis ${axis} out of range for a ${n}-D blob`);
    return axis < 0 ? axis + n : axis;
  }

  /** Legacy 4-D accessors (missing axes read 1). */
  legacyDim(i: number): number {
    if (this._shape.length > 4) throw new Error('legacy accessors need a blob of at most 4 axes');
    return i < this._shape.length ? this._shape[i]! : 1;
  }
  get num(): number { return this.legacyDim(0); }
  get channels(): number { return this.legacyDim(1); }
  get height(): number { return this.legacyDim(2); }
  get width(): number { return this.legacyDim(3); }

  offset(n: number, c = 0, h = 0, w = 0): number {
    return ((n * this.channels + c) * this.height + h) * this.width + w;
  }

  private view(a: Float32Array): Float32Array {
    return a.length === this._count ? a : a.subarray(0, this._count);
  }

  /** The data on the host, exactly `count` elements long, to read and write (a device copy becomes stale). */
  get data(): Float32Array {
    return this.view(this._data.mutableHost(`${this.name} data`));
  }

  get diff(): Float32Array {
    return this.view(this._diff.mutableHost(`${this.name} diff`));
  }

  /** The data on the host, to read only (Caffe's cpu_data): a device copy stays valid. */
  get cpuData(): Float32Array {
    return this.view(this._data.hostRead(`${this.name} data`));
  }

  get cpuDiff(): Float32Array {
    return this.view(this._diff.hostRead(`${this.name} diff`));
  }

  /** The data's device buffer (Caffe's gpu_data / mutable_gpu_data): uploaded when the host copy is newer. */
  deviceData<B>(dev: BlobDevice<B>, write = false): B {
    return this._data.device(dev, write, `${this.name} data`);
  }

  deviceDiff<B>(dev: BlobDevice<B>, write = false): B {
    return this._diff.device(dev, write, `${this.name} diff`);
  }

  /** Whether the data is newer on a device than on the host (cpuData would throw). */
  get dataOnDevice(): boolean {
    return this._data.onDevice;
  }

  /** Whether the data or diff is newer on a device than on the host. */
  get onDevice(): boolean {
    return this._data.onDevice || this._diff.onDevice;
  }

  /** Bring the host's data and diff up to date with the device's (a no-op for host-only blobs). */
  async syncToHost(): Promise<void> {
    await Promise.all([this._data.syncToHost(), this._diff.syncToHost()]);
  }

  /** The diff alone (gradient averaging reads gradients back, not the weights the device keeps). */
  async syncDiffToHost(): Promise<void> {
    await this._diff.syncToHost();
  }

  /** Share another blob's data storage (Caffe's ShareData), e.g. for in-place views. */
  shareData(other: Blob): void {
    if (other._count !== this._count) throw new Error('shareData: count mismatch');
    this._data = other._data;
    this._capacity = Math.min(this._capacity, other._data.size);
  }

  shareDiff(other: Blob): void {
    if (other._count !== this._count) throw new Error('shareDiff: count mismatch');
    this._diff = other._diff;
    this._capacity = Math.min(this._capacity, other._diff.size);
  }

  /** Whether this blob's data is `other`'s (shared storage, e.g. a parameter shared by name). */
  sharesDataWith(other: Blob): boolean {
    return this._data === other._data;
  }

  shapeString(): string {
    return `${this._shape.join(' ')} (${this._count})`;
  }

  sameShape(shape: readonly number[]): boolean {
    return shape.length === this._shape.length && shape.every((d, i) => d === this._shape[i]);
  }

  /** Sum of absolute values / squares (asum, sumsq), used by clip_gradients and debug info. */
  sumsqDiff(): number {
    let s = 0;
    const d = this.cpuDiff;
    for (let i = 0; i < d.length; i++) s += d[i]! * d[i]!;
    return s;
  }

  /** Load from a BlobProto; `reshape` adopts its shape, otherwise shapes must match. */
  fromProto(proto: BlobProto, reshape = true, what = 'blob'): void {
    const shape = protoShape(proto);
    if (reshape) this.reshape(shape);
    else if (!this.sameShape(shape)) {
      throw new Error(`${what}: shape mismatch: the file has [${shape.join(' ')}], the net needs [${this._shape.join(' ')}]`);
    }
    const n = this._count;
    const src = proto.double_data && proto.double_data.length ? proto.double_data : proto.data ?? [];
    if (src.length !== n) throw new Error(`${what}: ${src.length} values for shape [${shape.join(' ')}] (${n})`);
    const d = this.data;
    for (let i = 0; i < n; i++) d[i] = src[i]!;
    const dsrc = proto.double_diff && proto.double_diff.length ? proto.double_diff : proto.diff ?? [];
    if (dsrc.length === n) {
      const g = this.diff;
      for (let i = 0; i < n; i++) g[i] = dsrc[i]!;
    }
  }

  /** To a BlobProto (plain object), data and optionally diff, with `shape` as Caffe 1.0 writes it. */
  toProto(writeDiff = false): BlobProto {
    const p: BlobProto = { shape: { dim: [...this._shape] }, data: Array.from(this.cpuData) };
    if (writeDiff) p.diff = Array.from(this.cpuDiff);
    return p;
  }
}

/** Shape of a BlobProto: `shape.dim`, or the legacy num/channels/height/width. */
export function protoShape(proto: BlobProto): number[] {
  if (has(proto, 'num') || has(proto, 'channels') || has(proto, 'height') || has(proto, 'width')) {
    return [proto.num ?? 0, proto.channels ?? 0, proto.height ?? 0, proto.width ?? 0];
  }
  return (proto.shape?.dim ?? []).map(Number);
}
