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
// (Blob does) for as long as any subarray of it is used.

import { WA, type WasmMemory } from './wasm_api.js';

const PAGE = 65536;
const ALIGN = 64;
/** 65536 pages = 4 GiB, the most a 32-bit wasm memory can address (address space is only reserved, not committed). */
const MAX_PAGES = 65536;
const MIN_GROW_PAGES = 256; // 16 MiB

export class WasmHeap {
  readonly memory: WasmMemory;
  readonly maxBytes: number;
  private readonly buffers = new Set<ArrayBufferLike>();
  private top: number;
  private readonly sizes = new Map<number, number>();
  /** Free blocks [ptr, size], sorted by ptr, coalesced; none touches `top`. */
  private readonly freeList: Array<[number, number]> = [];
  private readonly registry = new FinalizationRegistry<number>((ptr) => this.release(ptr));
  private bytesInUse = 0;

  constructor(base: number, initialBytes = 64 << 20) {
    const initial = Math.max(1, Math.ceil((base + initialBytes) / PAGE));
    let memory: WasmMemory | undefined;
    let max = MAX_PAGES;
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
    const fl = this.freeList;
    for (let i = 0; i < fl.length; i++) {
      const blk = fl[i]!;
      if (blk[1] >= size) {
        const ptr = blk[0];
        if (blk[1] === size) fl.splice(i, 1);
        else { blk[0] += size; blk[1] -= size; }
        this.sizes.set(ptr, size);
        this.bytesInUse += size;
        return ptr;
      }
    }
    const ptr = this.top;
    this.ensure(ptr + size);
    this.top = ptr + size;
    this.sizes.set(ptr, size);
    this.bytesInUse += size;
    return ptr;
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
    const ptr = this.alloc(n * 4);
    const view = this.f32(ptr, n);
    view.fill(0);
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
