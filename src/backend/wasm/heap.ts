// The 'wasm' backend's linear memory: one shared WebAssembly.Memory (shared: true, so every worker thread's instance
// sees the same bytes) and a first-fit free-list allocator over it, managed from JavaScript on the main thread.
//
// Growth and views. A shared memory never moves: V8 reserves the address space of its `maximum` up front and grow()
// only commits more of it. After grow(), `memory.buffer` returns a NEW SharedArrayBuffer covering the new length, while
// every SharedArrayBuffer handed out before stays valid (never detached) over the same bytes, just with its old
// length. So a Float32Array view made at any time keeps working forever; only the question "is this array inside our
// memory?" must accept all of those buffers, which `owns()` does by remembering each buffer object it has seen
// (growth is geometric, so a handful). Byte offsets in any of them are wasm pointers.
//
// Freeing. Views returned by allocFloat32() are registered with a FinalizationRegistry; their block returns to the free
// list once the view itself is garbage-collected. A subarray() does not keep its parent view alive: keep the parent
// (Blob does) for as long as any subarray of it is used. Finalizers only run when the event loop turns, and V8 does not
// count the wasm memory as memory pressure, so a program that drops many views within one long synchronous or
// microtask-only stretch (a test file building net after net) could fill the heap with garbage. So before growing a
// large heap, and before giving up at its maximum, the allocator forces a full GC (--expose-gc, set at runtime) and
// runs the due finalizers synchronously with FinalizationRegistry.prototype.cleanupSome, where this V8 has it (behind
// --harmony-weak-refs-with-cleanup-some up to V8 12 = Node 22; removed in V8 13): then retries. Without it, memory is
// reclaimed at the next turn of the event loop. (WeakRefs cannot replace this: a WeakRef pins its target until the
// current job ends.) Those V8 specifics are Node's (node_gc.ts), handed in as HeapGc; a browser has neither.
//
// Unshared memory (a browser without cross-origin isolation, src/browser/wasm_runtime.ts): grow() would detach the
// buffer under every view handed out, so such a heap has a fixed size (`initialBytes`) and never grows.

import { WA, type WasmMemory } from './wasm_api.js';

const PAGE = 65536;
const ALIGN = 64;
/** 65536 pages = 4 GiB, the most a 32-bit wasm memory can address (address space is only reserved, not committed). */
const MAX_PAGES = 65536;
const MIN_GROW_PAGES = 256; // 16 MiB
/** Heap size from which growing is preceded by a forced collection (when enough was allocated since the last one). */
const COLLECT_FROM_BYTES = 256 << 20;

/** A FinalizationRegistry, possibly with cleanupSome (run due finalizers now). */
export interface Registry {
  register(target: object, held: number): void;
  cleanupSome?(): void;
}

/** Platform hooks for reclaiming dropped views synchronously (Node: node_gc.ts). */
export interface HeapGc {
  makeRegistry(onFree: (ptr: number) => void): Registry;
  /** A full, synchronous garbage collection, if it can be had. */
  forceGc(): void;
}

export interface HeapOptions {
  /** Bytes available from the start (default 64 MiB); the whole heap when unshared. */
  initialBytes?: number;
  /** A shared memory that grows (default true), or an unshared one of fixed size. */
  shared?: boolean;
  gc?: HeapGc;
}

export class WasmHeap {
  readonly memory: WasmMemory;
  readonly maxBytes: number;
  private readonly buffers = new Set<ArrayBufferLike>();
  private top: number;
  private readonly sizes = new Map<number, number>();
  /** Free blocks [ptr, size], sorted by ptr, coalesced; none touches `top`. */
  private readonly freeList: Array<[number, number]> = [];
  private readonly registry: Registry;
  private readonly gc: HeapGc | undefined;
  private bytesInUse = 0;
  private allocatedSinceCollect = 0;
  /** Bytes from here on have never been handed out, so they are still zero (fresh wasm memory is zeroed). */
  private highWater: number;
  /** Zeroes a byte range (the kernels' bulk memory.fill); TypedArray.fill until set. */
  zeroBytes: (ptr: number, bytes: number) => void = (ptr, bytes) => new Uint8Array(this.memory.buffer, ptr, bytes).fill(0);

  constructor(base: number, opts: HeapOptions = {}) {
    const initial = Math.max(1, Math.ceil((base + (opts.initialBytes ?? 64 << 20)) / PAGE));
    this.gc = opts.gc;
    this.registry = opts.gc ? opts.gc.makeRegistry((ptr) => this.release(ptr)) : new FinalizationRegistry<number>((ptr) => this.release(ptr));
    let memory: WasmMemory | undefined;
    let max = MAX_PAGES;
    if (opts.shared === false) {
      max = Math.min(initial, MAX_PAGES);
      memory = new WA.Memory({ initial: max, maximum: max });
    }
    // Try the full 4 GiB reservation first, smaller ones where address space is limited (ulimit -v).
    for (; !memory; max >>= 1) {
      try {
        memory = new WA.Memory({ initial: Math.min(initial, max), maximum: max, shared: true });
        break;
      } catch (e) {
        if (max <= 1024) throw e;
      }
    }
    this.memory = memory;
    this.maxBytes = max * PAGE;
    this.buffers.add(memory.buffer);
    this.top = roundUp(base, ALIGN);
    this.highWater = this.top;
  }

  get buffer(): SharedArrayBuffer {
    return this.memory.buffer as unknown as SharedArrayBuffer;
  }

  /** Whether `arr` is a view into this memory (its byteOffset is then a wasm pointer). */
  owns(arr: ArrayBufferView): boolean {
    return this.buffers.has(arr.buffer);
  }

  get used(): number {
    return this.bytesInUse;
  }

  get size(): number {
    return this.buffer.byteLength;
  }

  /** Allocate `bytes` (64-byte aligned, contents undefined); returns the pointer. */
  alloc(bytes: number): number {
    const size = roundUp(Math.max(bytes, 1), ALIGN);
    let ptr = this.takeFree(size);
    if (ptr < 0 && this.top + size > this.buffer.byteLength) {
      // About to grow: first reclaim what is garbage, if the heap is large and much was allocated since last time.
      const len = this.buffer.byteLength;
      const full = this.top + size > this.maxBytes;
      if (full || (len >= COLLECT_FROM_BYTES && this.allocatedSinceCollect >= len / 4)) {
        this.collect();
        ptr = this.takeFree(size);
      }
    }
    if (ptr < 0) {
      ptr = this.top;
      this.ensure(ptr + size);
      this.top = ptr + size;
    }
    if (ptr + size > this.highWater) this.highWater = ptr + size;
    this.sizes.set(ptr, size);
    this.bytesInUse += size;
    this.allocatedSinceCollect += size;
    return ptr;
  }

  private takeFree(size: number): number {
    const fl = this.freeList;
    for (let i = 0; i < fl.length; i++) {
      const blk = fl[i]!;
      if (blk[1] >= size) {
        const ptr = blk[0];
        if (blk[1] === size) fl.splice(i, 1);
        else { blk[0] += size; blk[1] -= size; }
        return ptr;
      }
    }
    return -1;
  }

  /** Force a full GC and free the blocks of the allocFloat32 views that are gone (see above). Returns the bytes freed. */
  collect(): number {
    const before = this.bytesInUse;
    this.gc?.forceGc();
    this.registry.cleanupSome?.();
    this.allocatedSinceCollect = 0;
    return before - this.bytesInUse;
  }

  /** Return a block from alloc() to the free list (unknown pointers are ignored). */
  release(ptr: number): void {
    const size = this.sizes.get(ptr);
    if (size === undefined) return;
    this.sizes.delete(ptr);
    this.bytesInUse -= size;
    const fl = this.freeList;
    let lo = 0, hi = fl.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (fl[mid]![0] < ptr) lo = mid + 1; else hi = mid;
    }
    let start = ptr, end = ptr + size;
    // merge with the previous and next free blocks
    if (lo > 0 && fl[lo - 1]![0] + fl[lo - 1]![1] === start) { lo--; start = fl[lo]![0]; fl.splice(lo, 1); }
    if (lo < fl.length && fl[lo]![0] === end) { end = fl[lo]![0] + fl[lo]![1]; fl.splice(lo, 1); }
    if (end === this.top) this.top = start;
    else fl.splice(lo, 0, [start, end - start]);
  }

  /** A Float32Array view of n floats at ptr. */
  f32(ptr: number, n: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, n);
  }

  /** n zeroed floats in this memory, freed when the returned view is garbage-collected. */
  allocFloat32(n: number): Float32Array {
    const fresh = this.highWater;
    const ptr = this.alloc(n * 4);
    const view = this.f32(ptr, n);
    if (ptr < fresh) this.zeroBytes(ptr, Math.min(ptr + n * 4, fresh) - ptr);
    this.registry.register(view, ptr);
    return view;
  }

  private ensure(end: number): void {
    const len = this.buffer.byteLength;
    if (end <= len) return;
    const curPages = len / PAGE;
    const maxPages = this.maxBytes / PAGE;
    const need = Math.ceil((end - len) / PAGE);
    if (curPages + need > maxPages) {
      throw new RangeError(`wasm backend: out of memory (${end} bytes needed, at most ${this.maxBytes})`);
    }
    const delta = Math.min(maxPages - curPages, Math.max(need, MIN_GROW_PAGES, curPages >> 1));
    this.memory.grow(delta);
    this.buffers.add(this.memory.buffer);
  }
}

function roundUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}
