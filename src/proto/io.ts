// Binary protobuf files (.caffemodel NetParameter, .solverstate SolverState, .binaryproto BlobProto) and BlobProto
// helpers with Caffe's semantics.
import protobuf from 'protobufjs';
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../util/atomic.js';
import { decodeMessage, encodeMessage, has, messageType } from './caffe.js';
import type { BlobProto, CaffeMessageName, CaffeMessageTypes } from './types.generated.js';

export interface ReadProtoOptions {
  /** Accept a zero-byte file as an empty message (default false: an empty file is an error). */
  allowEmpty?: boolean;
}

/** True when the bytes look like text (e.g. a prototxt given where a binary file is expected). */
function looksLikeText(bytes: Uint8Array): boolean {
  const n = Math.min(bytes.length, 512);
  if (n === 0) return false;
  let printable = 0;
  for (let i = 0; i < n; i++) {
    const b = bytes[i]!;
    if (b === 9 || b === 10 || b === 13 || (b >= 32 && b < 127)) printable++;
  }
  return printable / n > 0.95;
}

/**
 * Decode binary protobuf bytes as caffe.<typeName>, with errors that start with `what` (the file name):
 * truncated or corrupt bytes, text given as binary, and bytes in which no field of the type was found.
 * Note: bytes cut exactly between two top-level fields are a valid (shorter) message on the wire, for Caffe too;
 * any other cut (inside a layer, a blob, a name) is reported.
 */
export function decodeProtoBinary<K extends CaffeMessageName>(
  bytes: Uint8Array,
  typeName: K,
  what?: string,
  opts?: ReadProtoOptions,
): CaffeMessageTypes[K];
export function decodeProtoBinary<T>(bytes: Uint8Array, typeName: string, what?: string, opts?: ReadProtoOptions): T;
export function decodeProtoBinary(
  bytes: Uint8Array,
  typeName: string,
  what: string = typeName,
  opts: ReadProtoOptions = {},
): unknown {
  const hint = looksLikeText(bytes) ? '; this looks like a text file, a binary protobuf is expected' : '';
  if (bytes.length === 0) {
    if (opts.allowEmpty) return messageType(typeName).create();
    throw new Error(`${what}: not a valid caffe.${typeName} (empty file)`);
  }
  let msg: object;
  try {
    msg = decodeMessage<object>(typeName, bytes, what);
  } catch (e) {
    throw new Error((e as Error).message.replace(/\)$/, `${hint})`));
  }
  if (!messageType(typeName).fieldsArray.some((f) => has(msg, f.name))) {
    throw new Error(`${what}: not a valid caffe.${typeName} (no ${typeName} field found in ${bytes.length} bytes${hint})`);
  }
  return msg;
}

/** Read a binary protobuf file as caffe.<typeName>; errors name the file (missing, empty, truncated, not protobuf). */
export function readProtoBinary<K extends CaffeMessageName>(file: string, typeName: K, opts?: ReadProtoOptions): CaffeMessageTypes[K];
export function readProtoBinary<T>(file: string, typeName: string, opts?: ReadProtoOptions): T;
export function readProtoBinary(file: string, typeName: string, opts: ReadProtoOptions = {}): unknown {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
    throw new Error(`${file}: cannot read caffe.${typeName} (${why})`);
  }
  return decodeProtoBinary(bytes, typeName, file, opts);
}

/** Serialize `msg` as caffe.<typeName> and write it atomically (temp file + rename) to `file`. */
export function writeProtoBinaryAtomic<K extends CaffeMessageName>(file: string, typeName: K, msg: CaffeMessageTypes[K]): void;
export function writeProtoBinaryAtomic(file: string, typeName: string, msg: object): void;
export function writeProtoBinaryAtomic(file: string, typeName: string, msg: object): void {
  writeFileAtomic(file, encodeMessage(typeName, msg));
}

/**
 * Where decoded fields unknown to Caffe's schema were kept (they are written back on encode), e.g.
 * ['layer[3]: unknown field 200']. Empty for files written by BVLC Caffe.
 */
export function findUnknownFields(msg: object, typeName: string): string[] {
  const out: string[] = [];
  walkUnknown(messageType(typeName), msg as Record<string, unknown>, '', out);
  return out;
}

function walkUnknown(t: protobuf.Type, m: Record<string, unknown>, at: string, out: string[]): void {
  const unknowns = m['$unknowns'] as Uint8Array[] | undefined;
  if (unknowns?.length) {
    const ids = unknowns.map((raw) => {
      try {
        return String(protobuf.Reader.create(raw).uint32() >>> 3);
      } catch {
        return '?';
      }
    });
    out.push(`${at || t.name}: unknown field${ids.length > 1 ? 's' : ''} ${[...new Set(ids)].join(', ')}`);
  }
  for (const f of t.fieldsArray) {
    const sub = f.resolve().resolvedType;
    if (!(sub instanceof protobuf.Type) || !Object.prototype.hasOwnProperty.call(m, f.name)) continue;
    const v = m[f.name];
    const name = at ? `${at}.${f.name}` : f.name;
    if (Array.isArray(v)) v.forEach((x, i) => walkUnknown(sub, x as Record<string, unknown>, `${name}[${i}]`, out));
    else if (v && typeof v === 'object') walkUnknown(sub, v as Record<string, unknown>, name, out);
  }
}

/**
 * A BlobProto's shape as Caffe's Blob::FromProto reads it: the legacy (num, channels, height, width) when any of
 * those four is set, else shape.dim (empty: a scalar).
 */
export function blobProtoShape(b: BlobProto): number[] {
  if (has(b, 'num') || has(b, 'channels') || has(b, 'height') || has(b, 'width')) {
    return [b.num ?? 0, b.channels ?? 0, b.height ?? 0, b.width ?? 0];
  }
  return (b.shape?.dim ?? []).map(Number);
}

/** Number of elements of a shape (1 for the empty shape, as in Caffe). */
export function shapeCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function floatValues(b: BlobProto, single: 'data' | 'diff', dbl: 'double_data' | 'double_diff', what: string): Float32Array {
  const d = b[dbl];
  const values = d && d.length > 0 ? d : (b[single] ?? []);
  const shape = blobProtoShape(b);
  const count = shapeCount(shape);
  if (values.length !== count) {
    const field = d && d.length > 0 ? dbl : single;
    throw new Error(`${what}: BlobProto ${field} has ${values.length} values but shape [${shape.join(', ')}] needs ${count}`);
  }
  return Float32Array.from(values);
}

/**
 * A BlobProto's values as Caffe's Blob::FromProto reads them: double_data (converted to float32) when present, else
 * data. Throws when their number doesn't match the shape (Caffe's CHECK_EQ).
 */
export function blobProtoData(b: BlobProto, what = 'blob'): Float32Array {
  return floatValues(b, 'data', 'double_data', what);
}

/** Like blobProtoData for the diff (double_diff or diff); null when the BlobProto carries no diff. */
export function blobProtoDiff(b: BlobProto, what = 'blob'): Float32Array | null {
  if (!(b.double_diff?.length || b.diff?.length)) return null;
  return floatValues(b, 'diff', 'double_diff', what);
}
