// Caffe's schema loaded into protobufjs reflection. Messages are protobufjs instances: unset proto2 fields read their
// default through the prototype, and `has(msg, field)` tells whether a field was set (Caffe's has_xxx()).
import protobuf from 'protobufjs';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

// int64 fields (BlobShape.dim) as plain JS numbers: Caffe's dims never exceed 2^53.
protobuf.util.Long = undefined as unknown as typeof protobuf.util.Long;
protobuf.configure();

function loadSchemaText(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  // src/proto (tsx) or dist/src/proto (compiled): the .proto file lives in src/proto.
  for (const rel of ['caffe.proto', '../../../src/proto/caffe.proto']) {
    try {
      return readFileSync(path.join(here, rel), 'utf8');
    } catch {
      /* try next */
    }
  }
  throw new Error('tscaffe: caffe.proto not found beside ' + here);
}

export const caffeRoot: protobuf.Root = protobuf.parse(loadSchemaText(), { keepCase: true }).root;

/** The reflected type `caffe.<name>`, e.g. messageType('NetParameter'). */
export function messageType(name: string): protobuf.Type {
  return caffeRoot.lookupType('caffe.' + name);
}

/** Decode Caffe binary protobuf bytes; `what` names the file in the error. */
export function decodeMessage<T>(name: string, bytes: Uint8Array, what = name): T {
  try {
    return messageType(name).decode(bytes) as unknown as T;
  } catch (e) {
    throw new Error(`${what}: not a valid caffe.${name} protobuf (${(e as Error).message})`);
  }
}

export function encodeMessage(name: string, msg: object): Uint8Array {
  const t = messageType(name);
  const inst = msg instanceof protobuf.Message ? msg : t.fromObject(msg);
  return t.encode(inst).finish();
}

/** Create a message instance of caffe.<name> from plain properties (nested plain objects become messages). */
export function createMessage<T>(name: string, props: object = {}): T {
  return messageType(name).fromObject(props) as unknown as T;
}

/** Caffe's has_<field>(): true when the field was set (repeated: non-empty). */
export function has(msg: object, field: string): boolean {
  if (!Object.prototype.hasOwnProperty.call(msg, field)) return false;
  const v = (msg as Record<string, unknown>)[field];
  if (Array.isArray(v)) return v.length > 0;
  return v !== undefined && v !== null;
}
