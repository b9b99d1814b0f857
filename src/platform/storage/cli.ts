// `tscaffe storage ls|cp|rm|mb`: the object store from the command line (local-only until the platform service
// exists). Storage URLs are s3://bucket/key, obs://bucket/key or /bucket/key; in `cp`, where either side may be local,
// only s3:// and obs:// mean storage (a plain or file:// path is local). The store is the local one in
// <data-dir>/storage unless --storage (or TSCAFFE_STORAGE) names another: s3:, s3+http://host:port, ...
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Command } from '../../cli/command.js';
import { UsageError, type FlagSpec, type ParsedArgs } from '../../cli/flags.js';
import { progressBar, type Progress } from '../../util/progress.js';
import { copyDirToStore, copyObject, copyStoreToDir, copyStoreToStore, downloadFile, uploadFile, type CopyOptions, type CopyResult } from './copy.js';
import { StorageError } from './errors.js';
import { StorageContext, type ResolvedUrl } from './open.js';
import { folderPrefix, formatStorageUrl, hasStorageScheme, isFolderKey, keyBasename } from './url.js';

/** Where the platform commands print results (stdout; tests swap it). */
export const cliOut = { write: (s: string): void => void process.stdout.write(s) };

/** Flags shared by the platform's local commands. */
export const contextFlags: Record<string, FlagSpec> = {
  data_dir: { type: 'string', default: '', help: 'platform data folder (default: $TSCAFFE_DATA_DIR or ~/.tscaffe)' },
  storage: { type: 'string', default: '', help: 'object store: local:<dir>, s3: (AWS env), s3+http://host:port (default: $TSCAFFE_STORAGE or <data-dir>/storage)' },
};

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
