// `tscaffe storage ls|cp|rm|mb`: the object store from the command line, through the platform service named by
// --server / TSCAFFE_SERVER (token from --token / TSCAFFE_TOKEN / the local data folder's token file); with --local,
// directly on a store without a service (the paths below the remote ones). Storage URLs are s3://bucket/key, obs://bucket/key or /bucket/key; in `cp`, where either side may be local,
// only s3:// and obs:// mean storage (a plain or file:// path is local). The store is the local one in
// <data-dir>/storage unless --storage (or TSCAFFE_STORAGE) names another: s3:, s3+http://host:port, ...
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Command } from '../../cli/command.js';
import { UsageError, type FlagSpec, type ParsedArgs } from '../../cli/flags.js';
import { progressBar, type Progress } from '../../util/progress.js';
import { copyDirToStore, copyObject, listLocalFiles, copyStoreToDir, copyStoreToStore, downloadFile, uploadFile, type CopyOptions, type CopyResult } from './copy.js';
import { StorageError } from './errors.js';
import { ApiError, clientFromEnv, type PlatformClient } from '../jobs/client.js';
import { StorageContext, type ResolvedUrl } from './open.js';
import { folderPrefix, formatStorageUrl, hasStorageScheme, isFolderKey, keyBasename } from './url.js';

/** Where the platform commands print results (stdout; tests swap it). */
export const cliOut = { write: (s: string): void => void process.stdout.write(s) };

/** Flags shared by the platform's client commands: the service, or --local with a data folder / store. */
export const contextFlags: Record<string, FlagSpec> = {
  server: { type: 'string', default: '', help: 'service URL (default: $TSCAFFE_SERVER or http://127.0.0.1:8080)' },
  token: { type: 'string', default: '', help: 'API token (default: $TSCAFFE_TOKEN, or the local data folder\'s token file)' },
  local: { type: 'bool', default: false, help: 'work directly on the data folder / --storage instead of through the service' },
  data_dir: { type: 'string', default: '', help: 'platform data folder (default: $TSCAFFE_DATA_DIR or ~/.tscaffe)' },
  storage: { type: 'string', default: '', help: 'object store: local:<dir>, s3: (AWS env), s3+http://host:port (default: $TSCAFFE_STORAGE or <data-dir>/storage)' },
};

/** The service client of a command's --server / --token flags. */
export function clientOf(args: ParsedArgs): PlatformClient {
  return clientFromEnv({ server: String(args.flags.server || ''), token: String(args.flags.token || '') });
}

/** Run a client command; an API error becomes one line on stderr and exit status 1. */
export async function viaService(name: string, fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof ApiError) {
      process.stderr.write(`tscaffe ${name}: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

export function openContext(args: ParsedArgs): Promise<StorageContext> {
  const dataDir = (args.flags.data_dir as string) || undefined;
  const storage = (args.flags.storage as string) || undefined;
  return StorageContext.open({ dataDir, storage });
}

const flags: Record<string, FlagSpec> = {
  r: { type: 'bool', default: false, help: 'recursive: whole folders (cp, rm, ls)' },
  recursive: { type: 'bool', default: false, help: 'same as -r' },
  concurrency: { type: 'int', default: 8, help: 'files copied in parallel' },
  retries: { type: 'int', default: 3, help: 'retries per file on transient errors' },
  ...contextFlags,
};

const urlOf = (r: ResolvedUrl, key = r.key) => formatStorageUrl(r.bucket, key, r.parsed.scheme);

function fmtSize(n: number): string {
  return String(n).padStart(12);
}

function fmtDate(d: Date): string {
  return d.toISOString().replace('T', ' ').slice(0, 19);
}

async function ls(ctx: StorageContext, url: string, recursive: boolean): Promise<number> {
  const r = ctx.resolve(url, { allowRoot: true });
  const out: string[] = [];
  if (r.bucket === '') {
    for (const b of await ctx.store.listBuckets()) out.push(`${' '.repeat(31)}BUCKET  ${formatStorageUrl(b, '', r.parsed.scheme)}/`);
  } else {
    let prefix = r.key;
    if (!isFolderKey(prefix)) {
      const obj = await ctx.store.head(r.bucket, prefix);
      if (obj) {
        cliOut.write(`${fmtDate(obj.lastModified)} ${fmtSize(obj.size)}  ${urlOf(r)}\n`);
        return 0;
      }
      prefix = folderPrefix(prefix);
    }
    const res = await ctx.store.list(r.bucket, prefix, { recursive });
    if (prefix && res.objects.length === 0 && res.folders.length === 0) throw new StorageError('NoSuchKey', `${url}: no such object or folder`);
    for (const f of res.folders) out.push(`${' '.repeat(31)}DIR  ${urlOf(r, f)}`);
    for (const o of res.objects) out.push(`${fmtDate(o.lastModified)} ${fmtSize(o.size)}  ${urlOf(r, o.key)}`);
  }
  if (out.length) cliOut.write(out.join('\n') + '\n');
  return 0;
}

function bar(): { opts: CopyOptions; bar: () => Progress | undefined } {
  let b: Progress | undefined;
  return {
    bar: () => b,
    opts: {
      onProgress: (p) => {
        b ??= progressBar(p.bytesTotal, 'copy');
        b.update(p.bytesDone);
      },
    },
  };
}

function summary(res: CopyResult, src: string, dst: string): void {
  cliOut.write(`copied ${res.files.length} file${res.files.length === 1 ? '' : 's'} (${res.bytes} bytes) from ${src} to ${dst}\n`);
}

async function cp(ctx: StorageContext, src: string, dst: string, recursive: boolean, base: CopyOptions): Promise<number> {
  const srcStore = hasStorageScheme(src);
  const dstStore = hasStorageScheme(dst);
  const local = (p: string) => path.resolve(p.replace(/^file:\/\//, ''));
  const pb = bar();
  const opts: CopyOptions = { ...base, ...pb.opts };
  const finish = (res: CopyResult) => {
    pb.bar()?.done(true);
    summary(res, src, dst);
    return 0;
  };
  try {
    if (!srcStore && !dstStore) throw new UsageError('one side must be a storage URL (s3://bucket/key or obs://bucket/key); use cp(1) for local copies');
    if (!srcStore) {
      const file = local(src);
      if (!existsSync(file)) throw new Error(`${src}: no such file or folder`);
      const d = ctx.resolve(dst);
      if (statSync(file).isDirectory()) {
        if (!recursive) throw new UsageError(`${src}: is a folder (use -r to copy a folder's contents)`);
        return finish(await copyDirToStore(file, ctx.store, d.bucket, d.key, opts));
      }
      const key = isFolderKey(d.key) ? d.key + path.basename(file) : d.key;
      const f = await uploadFile(file, ctx.store, d.bucket, key, opts);
      return finish({ files: [f], bytes: f.size });
    }
    const s = ctx.resolve(src);
    if (!dstStore) {
      const dir = local(dst);
      if (recursive) return finish(await copyStoreToDir(ctx.store, s.bucket, s.key, dir, opts));
      if (isFolderKey(s.key)) throw new UsageError(`${src}: is a folder (use -r to copy a folder's contents)`);
      const target = dst.endsWith('/') || (existsSync(dir) && statSync(dir).isDirectory()) ? path.join(dir, keyBasename(s.key)) : dir;
      const f = await downloadFile(ctx.store, s.bucket, s.key, target, opts);
      return finish({ files: [f], bytes: f.size });
    }
    const d = ctx.resolve(dst);
    if (recursive) return finish(await copyStoreToStore(ctx.store, s.bucket, s.key, ctx.store, d.bucket, d.key, opts));
    if (isFolderKey(s.key)) throw new UsageError(`${src}: is a folder (use -r to copy a folder's contents)`);
    const key = isFolderKey(d.key) ? d.key + keyBasename(s.key) : d.key;
    const f = await copyObject(ctx.store, s.bucket, s.key, ctx.store, d.bucket, key, opts);
    return finish({ files: [f], bytes: f.size });
  } finally {
    pb.bar()?.done(true);
  }
}

async function rm(ctx: StorageContext, url: string, recursive: boolean): Promise<number> {
  const r = ctx.resolve(url);
  if (recursive) {
    const n = await ctx.store.deletePrefix(r.bucket, folderPrefix(r.key));
    cliOut.write(`deleted ${n} object${n === 1 ? '' : 's'} under ${urlOf(r, folderPrefix(r.key))}\n`);
    return 0;
  }
  if (isFolderKey(r.key)) throw new UsageError(`${url}: is a folder (use -r to delete everything under it)`);
  if (!(await ctx.store.delete(r.bucket, r.key))) {
    const under = await ctx.store.list(r.bucket, folderPrefix(r.key), { recursive: false });
    const hint = under.objects.length || under.folders.length ? ' (it is a folder: use -r)' : '';
    throw new StorageError('NoSuchKey', `${url}: no such object${hint}`);
  }
  cliOut.write(`deleted ${url}\n`);
  return 0;
}

// ---- through the service ----

const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;

async function remoteLs(c: PlatformClient, url: string, recursive: boolean): Promise<number> {
  const r = await c.ls(url, recursive);
  const out: string[] = [];
  const scheme = /^([a-z][a-z0-9]*):\/\//.exec(url)?.[1];
  if (r.buckets) {
    for (const b of r.buckets) out.push(`${' '.repeat(31)}BUCKET  ${scheme ? `${scheme}://${b}` : `/${b}`}/`);
  } else {
    // an object answer has no url; its key is the whole path
    const bucket = (scheme ? url.slice(scheme.length + 3) : url.replace(/^\/+/, '')).split('/')[0]!;
    const u = (k: string) => (scheme ? `${scheme}://${bucket}/${k}` : `/${bucket}/${k}`);
    const objects = r.objects ?? [];
    const folders = r.folders ?? [];
    if (!r.url && objects.length === 1) {
      const o = objects[0]!;
      cliOut.write(`${fmtDate(new Date(o.lastModified ?? 0))} ${fmtSize(o.size)}  ${u(o.key)}\n`);
      return 0;
    }
    const prefix = r.url ? r.url.replace(/^[a-z][a-z0-9]*:\/\/[^/]+\/?|^\/[^/]+\/?/, '') : '';
    if (prefix && objects.length === 0 && folders.length === 0) throw new StorageError('NoSuchKey', `${url}: no such object or folder`);
    for (const f of folders) out.push(`${' '.repeat(31)}DIR  ${u(f)}`);
    for (const o of objects) out.push(`${fmtDate(new Date(o.lastModified ?? 0))} ${fmtSize(o.size)}  ${u(o.key)}`);
  }
  if (out.length) cliOut.write(out.join('\n') + '\n');
  return 0;
}

async function remoteCp(c: PlatformClient, src: string, dst: string, recursive: boolean): Promise<number> {
  const srcStore = hasStorageScheme(src);
  const dstStore = hasStorageScheme(dst);
  const local = (p: string) => path.resolve(p.replace(/^file:\/\//, ''));
  const done = (files: number, bytes: number) => {
    cliOut.write(`copied ${plural(files, 'file')} (${bytes} bytes) from ${src} to ${dst}\n`);
    return 0;
  };
  if (!srcStore && !dstStore) throw new UsageError('one side must be a storage URL (s3://bucket/key or obs://bucket/key); use cp(1) for local copies');
  if (!srcStore) {
    const file = local(src);
    if (!existsSync(file)) throw new Error(`${src}: no such file or folder`);
    if (statSync(file).isDirectory()) {
      if (!recursive) throw new UsageError(`${src}: is a folder (use -r to copy a folder's contents)`);
      const files = await listLocalFiles(file);
      const base = dst.endsWith('/') ? dst : dst + '/';
      let bytes = 0;
      for (const f of files) {
        await c.uploadFile(f.file, base + f.rel, f.size);
        bytes += f.size;
      }
      return done(files.length, bytes);
    }
    const size = statSync(file).size;
    await c.uploadFile(file, dst.endsWith('/') ? dst + path.basename(file) : dst, size);
    return done(1, size);
  }
  if (!dstStore) {
    const dir = local(dst);
    if (recursive) {
      const r = await c.downloadDir(src, dir);
      return done(r.files, r.bytes);
    }
    if (src.endsWith('/')) throw new UsageError(`${src}: is a folder (use -r to copy a folder's contents)`);
    const base = src.split('/').pop()!;
    const target = dst.endsWith('/') || (existsSync(dir) && statSync(dir).isDirectory()) ? path.join(dir, base) : dir;
    return done(1, await c.downloadFile(src, target));
  }
  if (!recursive && src.endsWith('/')) throw new UsageError(`${src}: is a folder (use -r to copy a folder's contents)`);
  const r = await c.copy(src, dst, recursive);
  return done(r.files, r.bytes);
}

async function remote(c: PlatformClient, sub: string, pos: string[], recursive: boolean): Promise<number> {
  switch (sub) {
    case 'ls':
      return remoteLs(c, pos[0]!, recursive);
    case 'cp':
      return remoteCp(c, pos[0]!, pos[1]!, recursive);
    case 'rm': {
      if (!recursive && pos[0]!.endsWith('/')) throw new UsageError(`${pos[0]}: is a folder (use -r to delete everything under it)`);
      const r = await c.rm(pos[0]!, recursive);
      cliOut.write(recursive ? `deleted ${plural(r.deleted, 'object')} under ${pos[0]}\n` : `deleted ${pos[0]}\n`);
      return 0;
    }
    default: {
      await c.makeBucket(pos[0]!);
      cliOut.write(`created ${pos[0]}\n`);
      return 0;
    }
  }
}

export const storageCommand: Command = {
  summary: 'Object storage: `storage ls|cp|rm|mb` on s3://, obs:// or /bucket/key URLs (local store or S3)',
  usage:
    'ls [-r] <url> | cp [-r] <src> <dst> | rm [-r] <url> | mb <url>\n' +
    '  URLs: s3://bucket/key, obs://bucket/key, /bucket/key (cp: only s3:// and obs:// are storage; other paths are local)',
  flags,
  async run(args: ParsedArgs): Promise<number> {
    const [sub, ...pos] = args.positional;
    const recursive = Boolean(args.flags.r || args.flags.recursive);
    const need = (n: number, form: string) => {
      if (pos.length !== n) throw new UsageError(`expected: storage ${form}`);
    };
    if (!sub) throw new UsageError('expected a subcommand: ls, cp, rm or mb');
    if (!['ls', 'cp', 'rm', 'mb'].includes(sub)) throw new UsageError(`unknown subcommand '${sub}' (expected ls, cp, rm or mb)`);
    if (sub === 'ls' && pos.length === 0) pos.push('/');
    need(sub === 'cp' ? 2 : 1, { ls: 'ls [-r] <url>', cp: 'cp [-r] <src> <dst>', rm: 'rm [-r] <url>', mb: 'mb <url>' }[sub]!);
    const concurrency = args.flags.concurrency as number;
    const retries = args.flags.retries as number;
    if (concurrency < 1) throw new UsageError(`-concurrency must be at least 1, got ${concurrency}`);
    if (retries < 0) throw new UsageError(`-retries must not be negative, got ${retries}`);
    if (!args.flags.local) return viaService(`storage ${sub}`, () => remote(clientOf(args), sub, pos, recursive));
    const ctx = await openContext(args);
    try {
      switch (sub) {
        case 'ls':
          return await ls(ctx, pos[0]!, recursive);
        case 'cp':
          return await cp(ctx, pos[0]!, pos[1]!, recursive, { concurrency, retries });
        case 'rm':
          return await rm(ctx, pos[0]!, recursive);
        default: {
          const r = ctx.resolve(pos[0]!);
          if (r.key) throw new UsageError(`${pos[0]}: expected a bucket URL without a key`);
          await ctx.store.createBucket(r.bucket);
          cliOut.write(`created ${urlOf(r)}\n`);
          return 0;
        }
      }
    } finally {
      await ctx.close();
    }
  },
};
