// The object store on any S3-compatible endpoint (AWS S3, MinIO, Ceph RGW, Huawei OBS, s3rver...) through the AWS SDK
// v3. Configuration falls back to the usual AWS environment: AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, AWS_REGION /
// AWS_DEFAULT_REGION, and the SDK's credential chain (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
// profiles...). A custom endpoint gets path-style addressing (http://host/bucket/key) and checksums only where S3
// requires them, which third-party servers understand. Streams and files go through lib-storage's Upload: multipart
// above the part size, at most partSize * queueSize bytes in memory per upload.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { PassThrough, Readable } from 'node:stream';
import {
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { StorageError, errorMessage, isTransientError } from './errors.js';
import type { GetOptions, ListOptions, ListResult, ObjectInfo, ObjectStore, PutOptions } from './store.js';
import { formatStorageUrl, validateBucketName, validateKey } from './url.js';

export interface S3StoreOptions {
  /** e.g. http://127.0.0.1:9000 (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, else AWS itself). */
  endpoint?: string;
  /** Default: AWS_REGION, AWS_DEFAULT_REGION, else us-east-1. */
  region?: string;
  /** Explicit credentials (default: the SDK's chain, starting with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY). */
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  /** http://host/bucket/key instead of http://bucket.host/key (default: true with a custom endpoint). */
  forcePathStyle?: boolean;
  /** Multipart part size in bytes (default 8 MiB; S3's minimum is 5 MiB). */
  partSize?: number;
  /** Parts uploaded in parallel per object (default 4). */
  queueSize?: number;
  /** Attempts per request inside the SDK (default 3; the copy helpers retry whole files on top). */
  maxAttempts?: number;
  /** Create a missing bucket on the first write to it (default false: buckets are usually made by an admin). */
  createBuckets?: boolean;
  /** Use this client instead of building one (tests, custom middleware). */
  client?: S3Client;
  /** Environment to read defaults from (default process.env). */
  env?: NodeJS.ProcessEnv;
}

const MiB = 1024 * 1024;
const MAX_COPY_OBJECT = 5 * 1024 * MiB;

const url = (bucket: string, key: string) => formatStorageUrl(bucket, key, 's3');

function s3Code(e: unknown): string {
  const x = e as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  return x.Code ?? x.name ?? '';
}

/** Map an SDK error to a StorageError naming `target`. */
function s3Error(e: unknown, target: string): StorageError {
  if (e instanceof StorageError) return e;
  const code = s3Code(e);
  const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  const msg = errorMessage(e);
  const detail = msg && msg !== code && msg !== 'UnknownError' ? `${code}: ${msg}` : code || `HTTP ${status ?? '?'}`;
  if (code === 'NoSuchKey' || (code === 'NotFound' && status === 404)) return new StorageError('NoSuchKey', `${target}: no such object`, { cause: e });
  if (code === 'NoSuchBucket') return new StorageError('NoSuchBucket', `${target}: no such bucket`, { cause: e });
  if (code === 'InvalidBucketName') return new StorageError('InvalidBucket', `${target}: ${detail}`, { cause: e });
  if (code === 'AbortError' || code === 'RequestAbortedError') return new StorageError('Aborted', `${target}: aborted`, { cause: e });
  if (['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'Forbidden'].includes(code) || status === 403) {
    return new StorageError('Forbidden', `${target}: access denied (${detail})`, { cause: e });
  }
  if (isTransientError(e)) return new StorageError('Transient', `${target}: ${detail}`, { cause: e });
  return new StorageError('Failed', `${target}: ${detail}`, { cause: e });
}

function encodeKey(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

export class S3ObjectStore implements ObjectStore {
  readonly kind = 's3' as const;
  readonly spec: string;
  readonly client: S3Client;
  readonly endpoint: string | undefined;
  readonly region: string;
  private readonly partSize: number;
  private readonly queueSize: number;
  private readonly createBuckets: boolean;
  private readonly ensured = new Set<string>();

  constructor(opts: S3StoreOptions = {}) {
    const env = opts.env ?? process.env;
    // The SDK warns on every Node < 22 process; this project supports Node 20.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    this.endpoint = opts.endpoint ?? (env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined);
    this.region = opts.region ?? (env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1');
    this.partSize = Math.max(5 * MiB, opts.partSize ?? 8 * MiB);
    this.queueSize = Math.max(1, opts.queueSize ?? 4);
    this.createBuckets = opts.createBuckets ?? false;
    if (this.endpoint) {
      let u: URL;
      try {
        u = new URL(this.endpoint);
      } catch {
        throw new StorageError('InvalidUrl', `${this.endpoint}: invalid S3 endpoint URL (expected e.g. http://127.0.0.1:9000)`);
      }
      if (u.protocol !== 'http:' && u.protocol !== 'https:') {
        throw new StorageError('InvalidUrl', `${this.endpoint}: invalid S3 endpoint URL (expected http:// or https://)`);
      }
      this.endpoint = `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
    }
    this.spec = this.endpoint ? `s3+${this.endpoint}` : 's3:';
    if (opts.client) {
      this.client = opts.client;
      return;
    }
    const cfg: S3ClientConfig = { region: this.region, maxAttempts: opts.maxAttempts ?? 3 };
    if (this.endpoint) {
      cfg.endpoint = this.endpoint;
      cfg.forcePathStyle = opts.forcePathStyle ?? true;
      if (!env.AWS_REQUEST_CHECKSUM_CALCULATION) cfg.requestChecksumCalculation = 'WHEN_REQUIRED';
      if (!env.AWS_RESPONSE_CHECKSUM_VALIDATION) cfg.responseChecksumValidation = 'WHEN_REQUIRED';
    } else if (opts.forcePathStyle !== undefined) cfg.forcePathStyle = opts.forcePathStyle;
    if (opts.accessKeyId && opts.secretAccessKey) {
      cfg.credentials = { accessKeyId: opts.accessKeyId, secretAccessKey: opts.secretAccessKey, sessionToken: opts.sessionToken };
    }
    this.client = new S3Client(cfg);
  }

  private check(bucket: string, key: string, object: boolean): void {
    validateBucketName(bucket, url(bucket, key));
    validateKey(key, url(bucket, key), !object);
    if (object && key.endsWith('/')) throw new StorageError('InvalidKey', `${url(bucket, key)}: names a folder, not an object`);
  }

  private async ensureBucket(bucket: string): Promise<void> {
    if (!this.createBuckets || this.ensured.has(bucket)) return;
    if (!(await this.bucketExists(bucket))) await this.createBucket(bucket);
    this.ensured.add(bucket);
  }

  async listBuckets(): Promise<string[]> {
    try {
      const out = await this.client.send(new ListBucketsCommand({}));
      return (out.Buckets ?? []).map((b) => b.Name ?? '').filter(Boolean).sort();
    } catch (e) {
      throw s3Error(e, this.spec);
    }
  }

  async bucketExists(bucket: string): Promise<boolean> {
    validateBucketName(bucket);
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: bucket }));
      return true;
    } catch (e) {
      const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 404 || s3Code(e) === 'NotFound' || s3Code(e) === 'NoSuchBucket') return false;
      throw s3Error(e, url(bucket, ''));
    }
  }

  async createBucket(bucket: string): Promise<void> {
    validateBucketName(bucket);
    try {
      await this.client.send(
        new CreateBucketCommand({
          Bucket: bucket,
          ...(this.region !== 'us-east-1' ? { CreateBucketConfiguration: { LocationConstraint: this.region as never } } : {}),
        }),
      );
    } catch (e) {
      const code = s3Code(e);
      if (code === 'BucketAlreadyOwnedByYou' || code === 'BucketAlreadyExists') return;
      throw s3Error(e, url(bucket, ''));
    }
  }

  async list(bucket: string, prefix = '', opts: ListOptions = {}): Promise<ListResult> {
    this.check(bucket, prefix, false);
    const recursive = opts.recursive !== false;
    const result: ListResult = { objects: [], folders: [] };
    let token: string | undefined;
    try {
      do {
        const out = await this.client.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix || undefined, Delimiter: recursive ? undefined : '/', ContinuationToken: token }),
        );
        for (const o of out.Contents ?? []) {
          if (o.Key === undefined) continue;
          result.objects.push({ key: o.Key, size: o.Size ?? 0, lastModified: o.LastModified ?? new Date(0), etag: o.ETag });
        }
        for (const p of out.CommonPrefixes ?? []) if (p.Prefix) result.folders.push(p.Prefix);
        token = out.IsTruncated ? out.NextContinuationToken : undefined;
      } while (token);
    } catch (e) {
      throw s3Error(e, url(bucket, prefix));
    }
    return result;
  }

  async head(bucket: string, key: string): Promise<ObjectInfo | null> {
    this.check(bucket, key, true);
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return { key, size: out.ContentLength ?? 0, lastModified: out.LastModified ?? new Date(0), etag: out.ETag };
    } catch (e) {
      const status = (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 404) return null;
      throw s3Error(e, url(bucket, key));
    }
  }

  async getStream(bucket: string, key: string, opts: GetOptions = {}): Promise<Readable> {
    this.check(bucket, key, true);
    const range = opts.start !== undefined || opts.end !== undefined ? `bytes=${opts.start ?? 0}-${opts.end ?? ''}` : undefined;
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: range }), { abortSignal: opts.signal });
      if (!out.Body) throw new StorageError('Failed', `${url(bucket, key)}: the server sent no body`);
      return out.Body as Readable;
    } catch (e) {
      throw s3Error(e, url(bucket, key));
    }
  }

  async getBuffer(bucket: string, key: string, opts: GetOptions = {}): Promise<Buffer> {
    const chunks: Buffer[] = [];
    try {
      for await (const c of await this.getStream(bucket, key, opts)) chunks.push(c as Buffer);
    } catch (e) {
      throw s3Error(e, url(bucket, key));
    }
    return Buffer.concat(chunks);
  }

  async putStream(bucket: string, key: string, body: Readable, opts: PutOptions = {}): Promise<ObjectInfo> {
    this.check(bucket, key, true);
    await this.ensureBucket(bucket);
    let size = 0;
    const counted = new PassThrough();
    counted.on('data', (c: Buffer) => (size += c.length));
    body.on('error', (e) => counted.destroy(e));
    body.pipe(counted);
    const upload = new Upload({
      client: this.client,
      params: { Bucket: bucket, Key: key, Body: counted, ContentType: opts.contentType },
      partSize: this.partSize,
      queueSize: this.queueSize,
      leavePartsOnError: false,
    });
    if (opts.onProgress) upload.on('httpUploadProgress', (p) => p.loaded !== undefined && opts.onProgress!(p.loaded));
    const onAbort = () => void upload.abort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const out = (await upload.done()) as { ETag?: string };
      return { key, size, lastModified: new Date(), etag: out.ETag };
    } catch (e) {
      body.destroy();
      if (opts.signal?.aborted) throw new StorageError('Aborted', `${url(bucket, key)}: upload aborted`, { cause: e });
      throw s3Error(e, url(bucket, key));
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }

  async putBuffer(bucket: string, key: string, data: Uint8Array | string, opts: PutOptions = {}): Promise<ObjectInfo> {
    this.check(bucket, key, true);
    const buf = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (buf.length > this.partSize) return this.putStream(bucket, key, Readable.from([buf]), opts);
    await this.ensureBucket(bucket);
    try {
      const out = await this.client.send(
        new PutObjectCommand({ Bucket: bucket, Key: key, Body: buf, ContentLength: buf.length, ContentType: opts.contentType }),
        { abortSignal: opts.signal },
      );
      opts.onProgress?.(buf.length);
      return { key, size: buf.length, lastModified: new Date(), etag: out.ETag };
    } catch (e) {
      throw s3Error(e, url(bucket, key));
    }
  }

  async putFile(bucket: string, key: string, file: string, opts: PutOptions = {}): Promise<ObjectInfo> {
    this.check(bucket, key, true);
    let size: number;
    try {
      size = (await stat(file)).size;
    } catch (e) {
      throw new StorageError('Failed', `${file}: cannot read (${errorMessage(e)})`, { cause: e });
    }
    return this.putStream(bucket, key, createReadStream(file), { ...opts, size });
  }

  async delete(bucket: string, key: string): Promise<boolean> {
    if (!(await this.head(bucket, key))) return false;
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
      return true;
    } catch (e) {
      throw s3Error(e, url(bucket, key));
    }
  }

  async deletePrefix(bucket: string, prefix: string): Promise<number> {
    const { objects } = await this.list(bucket, prefix, { recursive: true });
    let n = 0;
    for (let i = 0; i < objects.length; i += 1000) {
      const batch = objects.slice(i, i + 1000);
      try {
        const out = await this.client.send(
          new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch.map((o) => ({ Key: o.key })), Quiet: true } }),
        );
        const err = out.Errors?.[0];
        if (err) throw new StorageError('Failed', `${url(bucket, err.Key ?? prefix)}: cannot delete (${err.Code}: ${err.Message})`);
        n += batch.length;
      } catch (e) {
        throw s3Error(e, url(bucket, prefix));
      }
    }
    return n;
  }

  async copy(srcBucket: string, srcKey: string, dstBucket: string, dstKey: string): Promise<ObjectInfo> {
    this.check(dstBucket, dstKey, true);
    const src = await this.head(srcBucket, srcKey);
    if (!src) throw new StorageError('NoSuchKey', `${url(srcBucket, srcKey)}: no such object`);
    if (src.size > MAX_COPY_OBJECT) {
      // CopyObject stops at 5 GiB: stream it through instead.
      return this.putStream(dstBucket, dstKey, await this.getStream(srcBucket, srcKey), { size: src.size });
    }
    await this.ensureBucket(dstBucket);
    try {
      const out = await this.client.send(
        new CopyObjectCommand({ Bucket: dstBucket, Key: dstKey, CopySource: `${srcBucket}/${encodeKey(srcKey)}` }),
      );
      return { key: dstKey, size: src.size, lastModified: out.CopyObjectResult?.LastModified ?? new Date(), etag: out.CopyObjectResult?.ETag };
    } catch (e) {
      throw s3Error(e, `${url(srcBucket, srcKey)} -> ${url(dstBucket, dstKey)}`);
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
