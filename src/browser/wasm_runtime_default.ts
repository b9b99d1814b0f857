// Browser bundles import this module in place of src/backend/wasm/runtime.ts (package.json "browser" field): the same
// names, without Node's worker threads and file reads. There is no process-wide runtime to make on first use (the
// kernels must be fetched first), so a browser makes one explicitly: src/browser/index.ts passes it to
// createWasmBackend({ runtime }).
import { VARIANTS, type SimdVariant, type KernelRuntime } from '../backend/wasm/kernel_runtime.js';

export { VARIANTS, type SimdVariant };

export const ADAPTIVE_DEFAULT = false;

export function defaultThreads(): number {
  return 1;
}

export function wasmRuntime(): KernelRuntime {
  throw new Error('the wasm backend needs its kernels fetched first in a browser: use loadModel() (src/browser/index.ts)');
}

export async function shutdownWasmWorkers(): Promise<void> {}
