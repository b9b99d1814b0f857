// The embedded object store: a local folder laid out as <root>/<bucket>/<key>, buckets created on first write.
// Keys are validated (url.ts) so they cannot climb out of their bucket, and no path component below the root may be
// a symbolic link: reads, writes, deletes and copies refuse one, listings skip them. Writes go to <root>/.tmp and are
// renamed into place, so a reader never sees half an object. Deleting an object prunes the folders it leaves empty,
// as folders exist in S3 only through the objects below them.
import { constants, createReadStream, createWriteStream } from 'node:fs';
import { copyFile, lstat, mkdir, open, readdir, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StorageError, errorMessage } from './errors.js';
import type { GetOptions, ListOptions, ListResult, ObjectInfo, ObjectStore, PutOptions } from './store.js';
import { formatStorageUrl, validateBucketName, validateKey } from './url.js';

const url = (bucket: string, key: string) => formatStorageUrl(bucket, key, 's3');

/** Map a filesystem error on `target` to a StorageError. */
function fsError(e: unknown, target: string, op: 'read' | 'write'): StorageError {
  if (e instanceof StorageError) return e;
  const code = (e as NodeJS.ErrnoException).code;
  const msg = errorMessage(e);
  switch (code) {
    case 'ENOENT':
      return new StorageError('NoSuchKey', `${target}: no such object`, { cause: e });
    case 'EISDIR':
      return op === 'read'
        ? new StorageError('NoSuchKey', `${target}: no such object (it is a folder)`, { cause: e })
        : new StorageError('Conflict', `${target}: a folder of that name exists in the local store`, { cause: e });
    case 'ENOTDIR':
      return op === 'read'
        ? new StorageError('NoSuchKey', `${target}: no such object`, { cause: e })
        : new StorageError('Conflict', `${target}: a parent folder of this key is an object in the local store`, { cause: e });
    case 'ENOTEMPTY':
    case 'EEXIST':
      return new StorageError('Conflict', `${target}: a folder of that name exists in the local store`, { cause: e });
    case 'ELOOP':
      return new StorageError('Forbidden', `${target}: refusing to follow a symbolic link in the local store`, { cause: e });
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return new StorageError('Forbidden', `${target}: permission denied (${msg})`, { cause: e });
    case 'EMFILE':
    case 'ENFILE':
    case 'EAGAIN':
    case 'EBUSY':
      return new StorageError('Transient', `${target}: ${msg}`, { cause: e });
    default:
      return new StorageError('Failed', `${target}: ${msg}`, { cause: e });
  }
}

function progressCounter(onProgress?: (bytes: number) => void): Transform {
  let n = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      n += chunk.length;
      onProgress?.(n);
      cb(null, chunk);
    },
  });
}

export class LocalObjectStore implements ObjectStore {
  readonly kind = 'local' as const;
  readonly spec: string;
  readonly root: string;
  private readonly tmpDir: string;

  constructor(root: string) {
    this.root = path.resolve(root);
    this.spec = `local:${this.root}`;
    this.tmpDir = path.join(this.root, '.tmp'); // bucket names cannot start with '.'
  }

  /** The file behind an object (validated; existing components are not checked for symlinks here). */
  pathOf(bucket: string, key: string): string {
    validateBucketName(bucket, url(bucket, key));
    validateKey(key, url(bucket, key));
    return path.join(this.root, bucket, ...key.split('/').filter(Boolean));
  }

  private objectPath(bucket: string, key: string): string {
    const p = this.pathOf(bucket, key);
    if (key === '' || key.endsWith('/')) {
      throw new StorageError('InvalidKey', `${url(bucket, key)}: names a folder, not an object`);
    }
    return p;
  }

  /** Refuse symlinks on the way from the bucket folder to `key` (inclusive); 'missing' when a component is absent. */
  private async walk(bucket: string, key: string): Promise<'ok' | 'missing'> {
    const segs = [bucket, ...key.split('/').filter(Boolean)];
    let p = this.root;
    for (let i = 0; i < segs.length; i++) {
      p = path.join(p, segs[i]!);
      try {
        if ((await lstat(p)).isSymbolicLink()) {
          const rel = segs.slice(1, i + 1).join('/');
          throw new StorageError(
            'Forbidden',
            `${url(bucket, key)}: refusing to follow the symbolic link ${i === 0 ? `for bucket '${bucket}'` : `'${rel}'`} in the local store`,
          );
        }
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') return 'missing';
        throw fsError(e, url(bucket, key), 'read');
      }
    }
    return 'ok';
  }

  private async requireBucket(bucket: string, key = ''): Promise<string> {
    validateBucketName(bucket, url(bucket, key));
    const dir = path.join(this.root, bucket);
    let st;
    try {
      st = await lstat(dir);
    } catch {
      throw new StorageError('NoSuchBucket', `${url(bucket, key)}: no such bucket '${bucket}'`);
    }
    if (st.isSymbolicLink()) throw new StorageError('Forbidden', `${url(bucket, key)}: refusing to follow the symbolic link for bucket '${bucket}'`);
    if (!st.isDirectory()) throw new StorageError('NoSuchBucket', `${url(bucket, key)}: no such bucket '${bucket}'`);
    return dir;
  }

  private async tempFile(): Promise<string> {
    await mkdir(this.tmpDir, { recursive: true });
    return path.join(this.tmpDir, `${process.pid}-${randomUUID()}`);
  }

  /** Rename a finished temp file into place as the object, creating the bucket and folders. */
  private async commit(tmp: string, bucket: string, key: string): Promise<ObjectInfo> {
    const dest = this.objectPath(bucket, key);
    try {
      await this.walk(bucket, key);
      try {
        await mkdir(path.dirname(dest), { recursive: true });
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'EEXIST' && code !== 'ENOTDIR') throw e;
        throw new StorageError('Conflict', `${url(bucket, key)}: a parent folder of this key is an object in the local store`, { cause: e });
      }
      await rename(tmp, dest);
      const st = await stat(dest);
      return { key, size: st.size, lastModified: st.mtime };
    } catch (e) {
      await rm(tmp, { force: true });
      throw fsError(e, url(bucket, key), 'write');
    }
  }

  async listBuckets(): Promise<string[]> {
    let entries;
    try {
      entries = await readdir(this.root, { withFileTypes: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw fsError(e, this.root, 'read');
    }
    return entries
      .filter((d) => d.isDirectory() && /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(d.name))
      .map((d) => d.name)
      .sort();
  }

  async bucketExists(bucket: string): Promise<boolean> {
    try {
      await this.requireBucket(bucket);
      return true;
    } catch (e) {
      if (e instanceof StorageError && e.code === 'NoSuchBucket') return false;
      throw e;
    }
  }

  async createBucket(bucket: string): Promise<void> {
    validateBucketName(bucket);
    if (await this.bucketExists(bucket)) return;
    try {
      await mkdir(path.join(this.root, bucket), { recursive: true });
    } catch (e) {
      throw fsError(e, url(bucket, ''), 'write');
    }
  }

  async list(bucket: string, prefix = '', opts: ListOptions = {}): Promise<ListResult> {
    const recursive = opts.recursive !== false;
    const bucketDir = await this.requireBucket(bucket, prefix);
    validateKey(prefix, url(bucket, prefix));
    const cut = prefix.lastIndexOf('/') + 1;
    const dirPart = prefix.slice(0, cut);
    const namePart = prefix.slice(cut);
    const result: ListResult = { objects: [], folders: [] };
    if (dirPart && (await this.walk(bucket, dirPart).catch(() => 'missing' as const)) === 'missing') return result;

    const visit = async (dir: string, keyPrefix: string, filter: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') return;
        throw fsError(e, url(bucket, keyPrefix), 'read');
      }
      const subdirs: Array<Promise<void>> = [];
      const files: Array<Promise<ObjectInfo | null>> = [];
      for (const d of entries) {
        if (!d.name.startsWith(filter)) continue;
        const key = keyPrefix + d.name;
        try {
          validateKey(key);
        } catch {
          continue; // a name written outside the store that no key can address
        }
        if (d.isDirectory()) {
          if (recursive) subdirs.push(visit(path.join(dir, d.name), key + '/', ''));
          else result.folders.push(key + '/');
        } else if (d.isFile()) {
          files.push(
            lstat(path.join(dir, d.name)).then(
              (st) => ({ key, size: st.size, lastModified: st.mtime }),
              () => null, // deleted meanwhile
            ),
          );
        } // symbolic links and special files are invisible
      }
      for (const f of await Promise.all(files)) if (f) result.objects.push(f);
      await Promise.all(subdirs);
    };
    await visit(path.join(bucketDir, ...dirPart.split('/').filter(Boolean)), dirPart, namePart);
    result.objects.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    result.folders.sort();
    return result;
  }

  async head(bucket: string, key: string): Promise<ObjectInfo | null> {
    const p = this.objectPath(bucket, key);
    if ((await this.walk(bucket, key)) === 'missing') return null;
    try {
      const st = await lstat(p);
      return st.isFile() ? { key, size: st.size, lastModified: st.mtime } : null;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return null;
      throw fsError(e, url(bucket, key), 'read');
    }
  }

  async getStream(bucket: string, key: string, opts: GetOptions = {}): Promise<Readable> {
    const p = this.objectPath(bucket, key);
    if ((await this.walk(bucket, key)) === 'missing') {
      await this.requireBucket(bucket, key);
      throw new StorageError('NoSuchKey', `${url(bucket, key)}: no such object`);
    }
    let fh;
    try {
      fh = await open(p, constants.O_RDONLY | constants.O_NOFOLLOW);
      if (!(await fh.stat()).isFile()) throw Object.assign(new Error('is a folder'), { code: 'EISDIR' });
    } catch (e) {
      await fh?.close();
      throw fsError(e, url(bucket, key), 'read');
    }
    return fh.createReadStream({ start: opts.start, end: opts.end, signal: opts.signal, highWaterMark: 1 << 20 });
  }

  async getBuffer(bucket: string, key: string, opts: GetOptions = {}): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of await this.getStream(bucket, key, opts)) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  async putStream(bucket: string, key: string, body: Readable, opts: PutOptions = {}): Promise<ObjectInfo> {
    this.objectPath(bucket, key);
    await this.walk(bucket, key);
    const tmp = await this.tempFile().catch((e) => {
      throw fsError(e, url(bucket, key), 'write');
    });
    try {
      await pipeline(body, progressCounter(opts.onProgress), createWriteStream(tmp), { signal: opts.signal });
    } catch (e) {
      await rm(tmp, { force: true });
      if ((e as Error).name === 'AbortError') throw new StorageError('Aborted', `${url(bucket, key)}: upload aborted`, { cause: e });
      throw fsError(e, url(bucket, key), 'write');
    }
    return this.commit(tmp, bucket, key);
  }

  async putBuffer(bucket: string, key: string, data: Uint8Array | string, opts: PutOptions = {}): Promise<ObjectInfo> {
    this.objectPath(bucket, key);
    await this.walk(bucket, key);
    const tmp = await this.tempFile().catch((e) => {
      throw fsError(e, url(bucket, key), 'write');
    });
    try {
      await writeFile(tmp, data);
    } catch (e) {
      await rm(tmp, { force: true });
      throw fsError(e, url(bucket, key), 'write');
    }
    opts.onProgress?.(typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength);
    return this.commit(tmp, bucket, key);
  }

  async putFile(bucket: string, key: string, file: string, opts: PutOptions = {}): Promise<ObjectInfo> {
    if (opts.onProgress || opts.signal) return this.putStream(bucket, key, createReadStream(file), opts);
    this.objectPath(bucket, key);
    await this.walk(bucket, key);
    const tmp = await this.tempFile().catch((e) => {
      throw fsError(e, url(bucket, key), 'write');
    });
    try {
      await copyFile(file, tmp);
    } catch (e) {
      await rm(tmp, { force: true });
      throw (e as NodeJS.ErrnoException).code === 'ENOENT' ? new StorageError('Failed', `${file}: no such file`, { cause: e }) : fsError(e, url(bucket, key), 'write');
    }
    return this.commit(tmp, bucket, key);
  }

  async delete(bucket: string, key: string): Promise<boolean> {
    const p = this.objectPath(bucket, key);
    if ((await this.walk(bucket, key)) === 'missing') return false;
    try {
      if (!(await lstat(p)).isFile()) return false;
      await rm(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw fsError(e, url(bucket, key), 'write');
    }
    await this.prune(bucket, path.dirname(p));
    return true;
  }

  /** Remove `dir` and its parents while they are empty, stopping at the bucket folder. */
  private async prune(bucket: string, dir: string): Promise<void> {
    const stop = path.join(this.root, bucket);
    for (let d = dir; d.startsWith(stop + path.sep); d = path.dirname(d)) {
      try {
        await rmdir(d);
      } catch {
        return;
      }
    }
  }

  async deletePrefix(bucket: string, prefix: string): Promise<number> {
    const { objects } = await this.list(bucket, prefix, { recursive: true });
    let n = 0;
    for (const o of objects) if (await this.delete(bucket, o.key)) n++;
    return n;
  }

  async copy(srcBucket: string, srcKey: string, dstBucket: string, dstKey: string): Promise<ObjectInfo> {
    const src = this.objectPath(srcBucket, srcKey);
    this.objectPath(dstBucket, dstKey);
    if ((await this.walk(srcBucket, srcKey)) === 'missing' || !(await this.head(srcBucket, srcKey))) {
      throw new StorageError('NoSuchKey', `${url(srcBucket, srcKey)}: no such object`);
    }
    await this.walk(dstBucket, dstKey);
    const tmp = await this.tempFile().catch((e) => {
      throw fsError(e, url(dstBucket, dstKey), 'write');
    });
    try {
      await copyFile(src, tmp);
    } catch (e) {
      await rm(tmp, { force: true });
      throw fsError(e, url(srcBucket, srcKey), 'read');
    }
    return this.commit(tmp, dstBucket, dstKey);
  }

  async close(): Promise<void> {}
}
