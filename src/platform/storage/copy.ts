// Copying files and folders between the local disk and object stores, in parallel (ModelArts' mox.file.copy_parallel):
// local folder -> store prefix, store prefix -> local folder, store -> store. Every file is streamed (never held whole
// in memory), retried with backoff on transient errors (each attempt restarts the file from its first byte), and
// optionally hashed (sha256) on the way. Local files are written to a temp file beside the target and renamed into
// place. A folder copy copies the *contents* of the source folder into the destination folder.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdir, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { logger } from '../../util/log.js';
import { StorageError, errorMessage } from './errors.js';
import { withRetry, type RetryOptions } from './retry.js';
import type { ObjectStore } from './store.js';
import { folderPrefix, formatStorageUrl, validateKey } from './url.js';

const log = logger('storage/copy.ts:0');

/** One side of a copy: a local path, or a key/prefix in a store. */
export type Location = { kind: 'local'; path: string } | { kind: 'store'; store: ObjectStore; bucket: string; key: string };

export interface CopyProgress {
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  bytesTotal: number;
  /** The file that just advanced (relative path). */
  file?: string;
}

export interface CopyOptions extends Pick<RetryOptions, 'retries' | 'baseDelayMs' | 'maxDelayMs'> {
  /** Files in flight at once (default 8). */
  concurrency?: number;
  /** Compute each file's sha256 while copying (default false). */
  checksum?: boolean;
  onProgress?: (p: CopyProgress) => void;
  /** Told about each retry of a file. */
  onRetry?: (file: string, error: unknown, attempt: number) => void;
  /** Copy only the files (relative paths, '/'-separated) it accepts. */
  filter?: (rel: string) => boolean;
  signal?: AbortSignal;
}

export interface CopiedFile {
  /** Path relative to the copied folder, '/'-separated (the key's basename for a single file). */
  rel: string;
  size: number;
  sha256?: string;
}

export interface CopyResult {
  files: CopiedFile[];
  bytes: number;
}

interface Meter {
  stream: Transform;
  /** Count bytes that did not flow through `stream` (a server-side copy). */
  add(n: number): void;
  bytes(): number;
  sha256(): string | undefined;
}

function meter(checksum: boolean, onBytes: (n: number) => void): Meter {
  const hash = checksum ? createHash('sha256') : undefined;
  let n = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      n += chunk.length;
      hash?.update(chunk);
      onBytes(chunk.length);
      cb(null, chunk);
    },
  });
  const add = (k: number) => {
    n += k;
    onBytes(k);
  };
  return { stream, add, bytes: () => n, sha256: () => hash?.digest('hex') };
}

/** Stream `src` through the meter into `sink`; when the sink fails, the source is destroyed (no open file left). */
async function pump(src: Readable, m: Meter, sink: (body: Readable) => Promise<unknown>): Promise<void> {
  src.on('error', (e) => m.stream.destroy(e));
  try {
    await sink(src.pipe(m.stream));
  } catch (e) {
    src.destroy();
    m.stream.destroy();
    throw e;
  }
}

/** Run `fn` over `items`, `concurrency` at a time; stops starting new items after the first failure, rethrows it. */
export async function runPool<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  let error: unknown;
  const worker = async () => {
    while (!failed && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (e) {
        if (!failed) error = e;
        failed = true;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  if (failed) throw error;
}

/** Write a stream to `file` atomically: a temp file beside it, renamed into place when complete. */
export async function writeStreamAtomic(file: string, body: Readable, signal?: AbortSignal): Promise<void> {
  const dir = path.dirname(path.resolve(file));
  await mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Math.random().toString(36).slice(2, 10)}.tmp`);
  try {
    await pipeline(body, createWriteStream(tmp), signal ? { signal } : {});
    await rename(tmp, file);
  } catch (e) {
    body.destroy();
    await rm(tmp, { force: true });
    throw e;
  }
}

interface Job {
  rel: string;
  size: number;
  run: (m: Meter) => Promise<void>;
}

/** The shared engine: run the jobs in parallel with retries, progress and checksums. */
async function runJobs(jobs: Job[], opts: CopyOptions): Promise<CopyResult> {
  const checksum = opts.checksum ?? false;
  const prog: CopyProgress = { filesDone: 0, filesTotal: jobs.length, bytesDone: 0, bytesTotal: jobs.reduce((s, j) => s + j.size, 0) };
  opts.onProgress?.({ ...prog });
  const files: CopiedFile[] = [];
  await runPool(jobs, opts.concurrency ?? 8, async (job) => {
    let sent = 0;
    const m = await withRetry(
      async () => {
        prog.bytesDone -= sent; // a retry starts the file over
        sent = 0;
        const m = meter(checksum, (n) => {
          sent += n;
          prog.bytesDone += n;
          opts.onProgress?.({ ...prog, file: job.rel });
        });
        await job.run(m);
        return m;
      },
      {
        retries: opts.retries ?? 3,
        baseDelayMs: opts.baseDelayMs,
        maxDelayMs: opts.maxDelayMs,
        signal: opts.signal,
        onRetry: (e, attempt, delay) => {
          log.warn(`${job.rel}: ${errorMessage(e)}; retry ${attempt} in ${delay} ms`);
          opts.onRetry?.(job.rel, e, attempt);
        },
      },
    );
    prog.filesDone++;
    files.push({ rel: job.rel, size: m.bytes(), ...(checksum ? { sha256: m.sha256() } : {}) });
    opts.onProgress?.({ ...prog, file: job.rel });
  });
  files.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  return { files, bytes: files.reduce((s, f) => s + f.size, 0) };
}

/** The regular files under `dir` (relative '/'-separated paths, sorted); symbolic links are skipped with a warning. */
export async function listLocalFiles(dir: string): Promise<Array<{ rel: string; file: string; size: number }>> {
  const out: Array<{ rel: string; file: string; size: number }> = [];
  const visit = async (d: string, rel: string) => {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch (e) {
      throw new StorageError('Failed', `${d}: cannot read folder (${errorMessage(e)})`, { cause: e });
    }
    for (const e of entries) {
      const abs = path.join(d, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await visit(abs, r);
      else if (e.isFile()) out.push({ rel: r, file: abs, size: (await lstat(abs)).size });
      else if (e.isSymbolicLink()) log.warn(`${abs}: symbolic link, not copied`);
    }
  };
  await visit(dir, '');
  return out.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}

/** The local path for `rel` (a key below a prefix) under `dir`; refuses any key that would land outside `dir`. */
function localTarget(dir: string, rel: string, source: string): string {
  validateKey(rel, source, false);
  const root = path.resolve(dir);
  const target = path.join(root, ...rel.split('/'));
  if (!target.startsWith(root + path.sep)) throw new StorageError('InvalidKey', `${source}: would be written outside ${root}`);
  return target;
}

/** Upload one local file to bucket/key. */
export async function uploadFile(file: string, store: ObjectStore, bucket: string, key: string, opts: CopyOptions = {}): Promise<CopiedFile> {
  let size: number;
  try {
    size = (await lstat(file)).size;
  } catch (e) {
    throw new StorageError('Failed', `${file}: cannot read (${errorMessage(e)})`, { cause: e });
  }
  const rel = key.slice(key.lastIndexOf('/') + 1);
  const { files } = await runJobs(
    [{ rel, size, run: (m) => pump(createReadStream(file, { highWaterMark: 1 << 20 }), m, (b) => store.putStream(bucket, key, b, { size, signal: opts.signal })) }],
    opts,
  );
  return files[0]!;
}

/** Download bucket/key to a local file (atomically). */
export async function downloadFile(store: ObjectStore, bucket: string, key: string, file: string, opts: CopyOptions = {}): Promise<CopiedFile> {
  const info = await store.head(bucket, key);
  if (!info) throw new StorageError('NoSuchKey', `${formatStorageUrl(bucket, key)}: no such object`);
  const rel = key.slice(key.lastIndexOf('/') + 1);
  const { files } = await runJobs(
    [{ rel, size: info.size, run: async (m) => pump(await store.getStream(bucket, key, { signal: opts.signal }), m, (b) => writeStreamAtomic(file, b, opts.signal)) }],
    opts,
  );
  return files[0]!;
}

/** Copy one object, server-side when both sides are the same store and no checksum is wanted. */
export async function copyObject(src: ObjectStore, srcBucket: string, srcKey: string, dst: ObjectStore, dstBucket: string, dstKey: string, opts: CopyOptions = {}): Promise<CopiedFile> {
  const info = await src.head(srcBucket, srcKey);
  if (!info) throw new StorageError('NoSuchKey', `${formatStorageUrl(srcBucket, srcKey)}: no such object`);
  const rel = srcKey.slice(srcKey.lastIndexOf('/') + 1);
  const { files } = await runJobs([objectJob(src, srcBucket, srcKey, dst, dstBucket, dstKey, rel, info.size, opts)], opts);
  return files[0]!;
}

function objectJob(src: ObjectStore, sb: string, sk: string, dst: ObjectStore, db: string, dk: string, rel: string, size: number, opts: CopyOptions): Job {
  return {
    rel,
    size,
    run: async (m) => {
      if (src === dst && !opts.checksum) {
        m.add((await dst.copy(sb, sk, db, dk)).size);
        return;
      }
      await pump(await src.getStream(sb, sk, { signal: opts.signal }), m, (b) => dst.putStream(db, dk, b, { size, signal: opts.signal }));
    },
  };
}

/** Copy the files under local `dir` to `bucket/prefix/...` (prefix taken as a folder). */
export async function copyDirToStore(dir: string, store: ObjectStore, bucket: string, prefix: string, opts: CopyOptions = {}): Promise<CopyResult> {
  const base = folderPrefix(prefix);
  validateKey(base, formatStorageUrl(bucket, base));
  const files = (await listLocalFiles(dir)).filter((f) => !opts.filter || opts.filter(f.rel));
  for (const f of files) validateKey(base + f.rel, f.file, false);
  return runJobs(
    files.map((f) => ({
      rel: f.rel,
      size: f.size,
      run: (m) => pump(createReadStream(f.file, { highWaterMark: 1 << 20 }), m, (b) => store.putStream(bucket, base + f.rel, b, { size: f.size, signal: opts.signal })),
    })),
    opts,
  );
}

/** Copy every object under `bucket/prefix/` into local `dir` (keys below the prefix become relative paths). */
export async function copyStoreToDir(store: ObjectStore, bucket: string, prefix: string, dir: string, opts: CopyOptions = {}): Promise<CopyResult> {
  const base = folderPrefix(prefix);
  const { objects } = await store.list(bucket, base, { recursive: true });
  const jobs: Job[] = [];
  for (const o of objects) {
    const rel = o.key.slice(base.length);
    if (rel === '' || rel.endsWith('/')) {
      if (rel) await mkdir(localTarget(dir, rel, formatStorageUrl(bucket, o.key)), { recursive: true }); // folder marker
      continue;
    }
    if (opts.filter && !opts.filter(rel)) continue;
    const target = localTarget(dir, rel, formatStorageUrl(bucket, o.key));
    jobs.push({
      rel,
      size: o.size,
      run: async (m) => pump(await store.getStream(bucket, o.key, { signal: opts.signal }), m, (b) => writeStreamAtomic(target, b, opts.signal)),
    });
  }
  await mkdir(dir, { recursive: true });
  return runJobs(jobs, opts);
}

/** Copy every object under `srcBucket/srcPrefix/` to `dstBucket/dstPrefix/` (stores may differ). */
export async function copyStoreToStore(
  src: ObjectStore,
  srcBucket: string,
  srcPrefix: string,
  dst: ObjectStore,
  dstBucket: string,
  dstPrefix: string,
  opts: CopyOptions = {},
): Promise<CopyResult> {
  const sbase = folderPrefix(srcPrefix);
  const dbase = folderPrefix(dstPrefix);
  validateKey(dbase, formatStorageUrl(dstBucket, dbase));
  const { objects } = await src.list(srcBucket, sbase, { recursive: true });
  const jobs: Job[] = [];
  for (const o of objects) {
    const rel = o.key.slice(sbase.length);
    if (rel === '' || rel.endsWith('/') || (opts.filter && !opts.filter(rel))) continue;
    validateKey(dbase + rel, formatStorageUrl(srcBucket, o.key), false);
    jobs.push(objectJob(src, srcBucket, o.key, dst, dstBucket, dbase + rel, rel, o.size, opts));
  }
  return runJobs(jobs, opts);
}

/**
 * mox.file.copy_parallel: copy a folder's contents from `src` to `dst`, each a local folder or a store prefix.
 * (local -> local is left to the filesystem and refused.)
 */
export async function copyParallel(src: Location, dst: Location, opts: CopyOptions = {}): Promise<CopyResult> {
  if (src.kind === 'local' && dst.kind === 'store') return copyDirToStore(src.path, dst.store, dst.bucket, dst.key, opts);
  if (src.kind === 'store' && dst.kind === 'local') return copyStoreToDir(src.store, src.bucket, src.key, dst.path, opts);
  if (src.kind === 'store' && dst.kind === 'store') return copyStoreToStore(src.store, src.bucket, src.key, dst.store, dst.bucket, dst.key, opts);
  throw new StorageError('InvalidUrl', `copyParallel: local -> local copies are not supported (${(src as { path: string }).path})`);
}
