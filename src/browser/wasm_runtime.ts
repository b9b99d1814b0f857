// The 'wasm' backend's runtime in a browser: the same kernel modules (src/backend/wasm/*.wasm) and the same thread-free
// runtime as Node (kernel_runtime.ts), on the page's main thread. Worker threads would need a cross-origin isolated page
// (SharedArrayBuffer) and buy little for one image at a time, so every GEMM runs on the calling thread.
//
// Memory: shared where the browser allows a shared WebAssembly.Memory (it then grows like Node's); otherwise an unshared
// memory of fixed size (growing would detach the buffer under every blob: heap.ts), with the modules' memory import
// rewritten from shared to unshared (kernelsForUnsharedMemory): the kernels use no atomics, so nothing else depends on it.
import { KernelRuntime, VARIANTS, type SimdVariant } from '../backend/wasm/kernel_runtime.js';
import { WA, type WasmModule } from '../backend/wasm/wasm_api.js';

/** The kernel modules' bytes: the plain SIMD128 build, and the relaxed-SIMD (FMA) one where it may be used. */
export interface KernelBytes {
  simd: Uint8Array;
  relaxed?: Uint8Array;
}

export type MemoryKind = 'shared' | 'unshared';

export interface BrowserRuntimeOptions {
  /** 'auto' (default): shared where the browser allows it, else unshared. */
  memory?: MemoryKind | 'auto';
  /** Size of an unshared memory (the most the model may use), bytes; a shared one starts there and grows. */
  memoryBytes?: number;
}

export interface BrowserRuntime {
  runtime: KernelRuntime;
  memory: MemoryKind;
  /** The best kernel build this browser compiles. */
  simd: SimdVariant;
}

function leb128(b: Uint8Array, p: number): [number, number] {
  let v = 0, shift = 0, x: number;
  do {
    if (p >= b.length) throw new Error('wasm module: truncated');
    x = b[p++]!;
    v += (x & 0x7f) * 2 ** shift;
    shift += 7;
  } while (x & 0x80);
  return [v, p];
}

/** Skip a limits record (flags, min, max if flag bit 0); returns the position after it. */
function skipLimits(b: Uint8Array, p: number): number {
  const flags = b[p++]!;
  p = leb128(b, p)[1];
  return flags & 1 ? leb128(b, p)[1] : p;
}

/**
 * A copy of a module whose imported memory is declared unshared (the kernels are built with --sharedMemory for Node's
 * threads). Only the limits flag byte of the memory import changes (bit 1, "shared"); sizes stay as they are.
 */
export function kernelsForUnsharedMemory(bytes: Uint8Array): Uint8Array {
  const b = new Uint8Array(bytes); // a copy (Buffer.slice would not be one)
  if (b.length < 8 || b[0] !== 0 || b[1] !== 0x61 || b[2] !== 0x73 || b[3] !== 0x6d) throw new Error('not a wasm module');
  let p = 8;
  while (p < b.length) {
    const id = b[p++]!;
    let size: number;
    [size, p] = leb128(b, p);
    const end = p + size;
    if (id === 2) { // the import section
      let count: number, q = p;
      [count, q] = leb128(b, q);
      for (let i = 0; i < count; i++) {
        for (let name = 0; name < 2; name++) { // module name, field name
          let len: number;
          [len, q] = leb128(b, q);
          q += len;
        }
        const kind = b[q++]!;
        if (kind === 0) q = leb128(b, q)[1]; // function: type index
        else if (kind === 1) q = skipLimits(b, q + 1); // table: reference type, limits
        else if (kind === 2) { // memory: limits
          b[q] = b[q]! & ~2;
          q = skipLimits(b, q);
        } else if (kind === 3) q += 2; // global: value type, mutability
        else if (kind === 4) q = leb128(b, q + 1)[1]; // tag: attribute, type index
        else throw new Error(`wasm module: unknown import kind ${kind}`);
      }
      return b;
    }
    p = end;
  }
  return b; // no imports: nothing to change
}

/** Whether a shared WebAssembly.Memory can be made here (cross-origin isolated pages; Node). */
export function sharedMemoryAvailable(): boolean {
  try {
    new WA.Memory({ initial: 1, maximum: 1, shared: true });
    return true;
  } catch {
    return false;
  }
}

/** Compile the kernels and make their runtime; throws where this browser compiles no SIMD build. */
export function createBrowserRuntime(bytes: KernelBytes, o: BrowserRuntimeOptions = {}): BrowserRuntime {
  const memory: MemoryKind = o.memory === 'shared' || o.memory === 'unshared' ? o.memory : sharedMemoryAvailable() ? 'shared' : 'unshared';
  const byVariant: Record<SimdVariant, Uint8Array | undefined> = { relaxed: bytes.relaxed, simd: bytes.simd };
  const modules = VARIANTS.map((v): WasmModule | undefined => {
    const raw = byVariant[v];
    if (!raw) return undefined;
    const b = memory === 'shared' ? raw : kernelsForUnsharedMemory(raw);
    return WA.validate(b) ? new WA.Module(b) : undefined;
  });
  const simd = VARIANTS.find((_, i) => modules[i]);
  if (!simd) throw new Error('this browser cannot compile WebAssembly SIMD');
  const runtime = new KernelRuntime(modules, {
    shared: memory === 'shared',
    ...(o.memoryBytes !== undefined ? { initialBytes: o.memoryBytes } : {}),
  });
  return { runtime, memory, simd };
}

/** The kernel modules as this bundle ships them (the bundler emits the files these URLs name). */
export async function fetchKernelBytes(): Promise<KernelBytes> {
  const get = async (url: URL): Promise<Uint8Array> => {
    const r = await fetch(url);
    if (!r.ok) throw new Error(`${url.pathname}: HTTP ${r.status}`);
    return new Uint8Array(await r.arrayBuffer());
  };
  const simd = get(new URL('../backend/wasm/kernels-simd.wasm', import.meta.url));
  // The relaxed build is worth its download only where it compiles (Chromium 114+); a failed fetch just means none.
  const relaxed = get(new URL('../backend/wasm/kernels-relaxed.wasm', import.meta.url)).catch(() => undefined);
  const [s, r] = await Promise.all([simd, relaxed]);
  return r ? { simd: s, relaxed: r } : { simd: s };
}
