// Node's side of the wasm heap's synchronous reclaiming (see heap.ts, "Freeing"): a FinalizationRegistry with
// cleanupSome where this V8 has it, and a forced full GC, both reached through V8 flags set at run time.
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { HeapGc, Registry } from './heap.js';

/** A FinalizationRegistry, with cleanupSome where available (from a fresh context made after enabling the flag). */
function makeRegistry(onFree: (ptr: number) => void): Registry {
  if (Number(process.versions.v8.split('.')[0]) <= 12) {
    try {
      v8.setFlagsFromString('--harmony-weak-refs-with-cleanup-some');
      const FR = runInNewContext('FinalizationRegistry') as typeof FinalizationRegistry;
      if (typeof (FR.prototype as Registry).cleanupSome === 'function') return new FR<number>(onFree) as Registry;
    } catch { /* fall through */ }
  }
  return new FinalizationRegistry<number>(onFree);
}

let gcFunction: (() => void) | null | undefined;
/** A full, synchronous garbage collection, if it can be had. */
function forceGc(): void {
  if (gcFunction === undefined) {
    gcFunction = (globalThis as { gc?: () => void }).gc ?? null;
    if (!gcFunction) {
      try {
        v8.setFlagsFromString('--expose-gc');
        gcFunction = runInNewContext('gc') as () => void;
      } catch {
        gcFunction = null;
      }
    }
  }
  gcFunction?.();
}

export const nodeHeapGc: HeapGc = { makeRegistry, forceGc };
