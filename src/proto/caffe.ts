// Caffe's schema loaded into protobufjs reflection. Messages are protobufjs instances: unset proto2 fields read their
// default through the prototype, and `has(msg, field)` tells whether a field was set (Caffe's has_xxx()).
// Fields Caffe's schema doesn't know (files from Caffe forks) are kept in `$unknowns` and written back on encode.
// The TS shapes of the messages and the enums are in types.generated.ts (npm run gen:proto).
import protobuf from 'protobufjs';
import type { CaffeMessageName, CaffeMessageTypes } from './types.generated.js';
import { caffeSchema } from './caffe_proto.generated.js';

// int64 fields (BlobShape.dim, SolverParameter.random_seed) as plain JS numbers: Caffe's values never exceed 2^53.
protobuf.util.Long = undefined as unknown as typeof protobuf.util.Long;
protobuf.configure();

// The schema is embedded as reflection JSON generated from caffe.proto (caffe_proto.generated.ts, npm run gen:proto), so
// no file is read: this module also loads in a browser bundle.
export const caffeRoot: protobuf.Root = protobuf.Root.fromJSON(caffeSchema);
caffeRoot.resolveAll();

// Caffe reads an unset `float` field as the float nearest its [default = ...] (e.g. momentum2 0.999 ->
// 0.99900001287...); make the prototype defaults those float32 values too, so arithmetic matches Caffe's.
(function froundFloatDefaults(ns: protobuf.NamespaceBase): void {
  for (const child of ns.nestedArray) {
    if (child instanceof protobuf.Type) {
      for (const f of child.fieldsArray) {
        if (f.type !== 'float' || f.repeated || typeof f.defaultValue !== 'number') continue;
        const v = Math.fround(f.defaultValue);
        f.typeDefault = f.defaultValue = v;
        (child.ctor.prototype as Record<string, unknown>)[f.name] = v;
      }
    }
    if (child instanceof protobuf.Namespace) froundFloatDefaults(child);
  }
})(caffeRoot);

/** The reflected type `caffe.<name>`, e.g. messageType('NetParameter'). */
export function messageType(name: string): protobuf.Type {
  return caffeRoot.lookupType('caffe.' + name);
}

/** The reflected enum `caffe.<name>`, e.g. enumType('Phase') or enumType('PoolingParameter.PoolMethod'). */
export function enumType(name: string): protobuf.Enum {
  return caffeRoot.lookupEnum('caffe.' + name);
}

/** Why protobufjs refused some bytes, in words (truncation is by far the usual cause of a RangeError). */
export function describeDecodeError(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  if (e instanceof RangeError || /index out of range/.test(msg)) return `truncated or corrupt data: ${msg}`;
  if (/invalid wire type|illegal tag|invalid varint|max depth/i.test(msg)) return `corrupt data: ${msg}`;
  return msg;
}

/** Decode Caffe binary protobuf bytes; `what` (e.g. the file name) starts the error message. */
export function decodeMessage<K extends CaffeMessageName>(name: K, bytes: Uint8Array, what?: string): CaffeMessageTypes[K];
export function decodeMessage<T>(name: string, bytes: Uint8Array, what?: string): T;
export function decodeMessage(name: string, bytes: Uint8Array, what = name): unknown {
  const t = messageType(name);
  try {
    // Keep fields this schema doesn't know in `$unknowns` (as C++ protobuf does); encode writes them back.
    const reader = protobuf.Reader.create(bytes);
    reader.discardUnknown = false;
    return t.decode(reader);
  } catch (e) {
    throw new Error(`${what}: not a valid caffe.${name} (${describeDecodeError(e)})`);
  }
}

/** Serialize to Caffe's binary wire format (fields in number order, like C++ protobuf's SerializeToString). */
export function encodeMessage(name: string, msg: object): Uint8Array {
  const t = messageType(name);
  const inst = msg instanceof protobuf.Message ? msg : t.fromObject(msg);
  return t.encode(inst).finish();
}

/** Create a message instance of caffe.<name> from plain properties (nested plain objects become messages). */
export function createMessage<K extends CaffeMessageName>(name: K, props?: CaffeMessageTypes[K]): CaffeMessageTypes[K];
export function createMessage<T>(name: string, props?: object): T;
export function createMessage(name: string, props: object = {}): unknown {
  return messageType(name).fromObject(props as Record<string, unknown>);
}

/** Caffe's has_<field>(): true when the field was set (repeated: non-empty). */
export function has(msg: object, field: string): boolean {
  if (!Object.prototype.hasOwnProperty.call(msg, field)) return false;
  const v = (msg as Record<string, unknown>)[field];
  if (Array.isArray(v)) return v.length > 0;
  return v !== undefined && v !== null;
}

/**
 * Caffe's layer_param.xxx_param(): the sub-message when it is set, else a fresh instance of caffe.<name> whose fields
 * all read their proto2 defaults. A plain object is turned into a message instance (so its unset fields read defaults).
 */
export function paramOf<K extends CaffeMessageName>(name: K, value: CaffeMessageTypes[K] | null | undefined): CaffeMessageTypes[K];
export function paramOf<T>(name: string, value: T | null | undefined): T;
export function paramOf(name: string, value: object | null | undefined): unknown {
  const t = messageType(name);
  if (value === null || value === undefined) return t.create();
  return value instanceof t.ctor ? value : t.fromObject(value as Record<string, unknown>);
}
