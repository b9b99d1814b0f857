// The slice of the WebAssembly JS API the 'wasm' backend uses, typed locally: @types/node 20 does not declare the
// WebAssembly global, and a global declaration here could clash with future typings.

export interface WasmMemory {
  readonly buffer: ArrayBufferLike;
  grow(deltaPages: number): number;
}

/** A compiled module (opaque; structured-clonable to worker threads). */
export interface WasmModule {
  readonly __wasmModule?: never;
}

interface WasmInstance {
  readonly exports: Record<string, unknown>;
}

interface WasmApi {
  Memory: new (descriptor: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory;
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: Record<string, Record<string, unknown>>) => WasmInstance;
  validate(bytes: Uint8Array): boolean;
}

export const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
