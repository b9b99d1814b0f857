// The object-store interface shared by the local folder store (the embedded default) and the S3-compatible store.
// Buckets and keys follow S3's model: a flat key space per bucket, '/' as the conventional folder separator, "folders"
// being the common prefixes of a one-level listing. Every method validates its bucket and key (see url.ts), so no
// key can leave its bucket, and reports problems as StorageError (errors.ts).
import type { Readable } from 'node:stream';

export interface ObjectInfo {
  /** Full key inside the bucket. */
  key: string;
  size: number;
  lastModified: Date;
  /** The store's entity tag when it has one (S3: usually the MD5 of single-part uploads). */
  etag?: string;
}

export interface ListOptions {
  /** true (default): every object under the prefix; false: one level, sub-prefixes reported as folders. */
  recursive?: boolean;
}

export interface ListResult {
  /** Objects, sorted by key. */
  objects: ObjectInfo[];
  /** One-level listings only: the sub-"folders" (common prefixes, each ending in '/'), sorted. */
  folders: string[];
}

export interface PutOptions {
  contentType?: string;
  /** Size of the body in bytes when known (lets S3 skip multipart for small streams). */
  size?: number;
  /** Called with the number of bytes sent so far. */
  onProgress?: (bytes: number) => void;
  signal?: AbortSignal;
}

export interface GetOptions {
  /** First byte (inclusive). */
  start?: number;
  /** Last byte (inclusive). */
  end?: number;
  signal?: AbortSignal;
}

export interface ObjectStore {
  readonly kind: 'local' | 's3';
  /** How to reopen this store: 'local:/path' or 's3+http://host:port' (never includes credentials). */
  readonly spec: string;

  listBuckets(): Promise<string[]>;
  bucketExists(bucket: string): Promise<boolean>;
  /** Create the bucket; a no-op when it exists. */
  createBucket(bucket: string): Promise<void>;

  /** Objects (and, one-level, folders) under `prefix` (a plain string prefix: 'a/b' matches 'a/b.txt' and 'a/b/c'). */
  list(bucket: string, prefix?: string, opts?: ListOptions): Promise<ListResult>;
  /** The object's size and date, or null when there is no such object. */
  head(bucket: string, key: string): Promise<ObjectInfo | null>;

  /** A stream of the object's bytes; rejects with StorageError 'NoSuchKey' when missing. */
  getStream(bucket: string, key: string, opts?: GetOptions): Promise<Readable>;
  getBuffer(bucket: string, key: string, opts?: GetOptions): Promise<Buffer>;

  /** Store a stream (streamed through, never held whole in memory). Not retryable by itself: a stream is consumed. */
  putStream(bucket: string, key: string, body: Readable, opts?: PutOptions): Promise<ObjectInfo>;
  putBuffer(bucket: string, key: string, data: Uint8Array | string, opts?: PutOptions): Promise<ObjectInfo>;
  /** Store a local file (streamed). */
  putFile(bucket: string, key: string, file: string, opts?: PutOptions): Promise<ObjectInfo>;

  /** Delete one object; true when it existed (S3 cannot always tell and answers true). */
  delete(bucket: string, key: string): Promise<boolean>;
  /** Delete every object whose key starts with `prefix`; returns how many. An empty prefix empties the bucket. */
  deletePrefix(bucket: string, prefix: string): Promise<number>;
  /** Server-side copy inside this store. */
  copy(srcBucket: string, srcKey: string, dstBucket: string, dstKey: string): Promise<ObjectInfo>;

  /** Release connections (S3); the store must not be used afterwards. */
  close(): Promise<void>;
}
