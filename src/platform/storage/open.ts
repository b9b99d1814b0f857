// Opening a store from a spec string or options, the platform's data folder, and resolving storage URLs to
// (store, bucket, key).
//
//   local:<dir>                        the local store with buckets under <dir>
//   s3:  (or s3://)                    S3 configured from the AWS environment (AWS_ENDPOINT_URL, AWS_REGION, keys...)
//   s3+http://host:9000                an S3-compatible endpoint (path-style); s3+https://... likewise;
//     ?region=R&path_style=0|1&create_buckets=0|1     options; user:secret@ before the host gives credentials
import { homedir } from 'node:os';
import path from 'node:path';
import { StorageError } from './errors.js';
import { LocalObjectStore } from './local_store.js';
import type { S3StoreOptions } from './s3_store.js';
import type { ObjectStore } from './store.js';
import { parseStorageUrl, type ParseOptions, type StorageUrl } from './url.js';

export type StoreOptions = { kind: 'local'; root: string } | ({ kind: 's3' } & S3StoreOptions);

/** The platform's data folder: TSCAFFE_DATA_DIR, else ~/.tscaffe. */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(expandHome(env.TSCAFFE_DATA_DIR || path.join(homedir(), '.tscaffe')));
}

/** The store spec to use: TSCAFFE_STORAGE, else the local store in <dataDir>/storage. */
export function defaultStoreSpec(dataDir: string, env: NodeJS.ProcessEnv = process.env): string {
  return env.TSCAFFE_STORAGE || `local:${path.join(dataDir, 'storage')}`;
}

function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? path.join(homedir(), p.slice(1)) : p;
}

const boolParam = (v: string | null, name: string, spec: string): boolean | undefined => {
  if (v === null) return undefined;
  if (/^(1|true|yes)$/i.test(v)) return true;
  if (/^(0|false|no)$/i.test(v)) return false;
  throw new StorageError('InvalidUrl', `${spec}: ${name} must be 0 or 1, got '${v}'`);
};

/** Parse a store spec string into options (no connection is made). */
export function parseStoreSpec(spec: string): StoreOptions {
  if (spec.startsWith('local:')) {
    const root = spec.slice('local:'.length);
    if (!root) throw new StorageError('InvalidUrl', `${spec}: missing folder after 'local:'`);
    return { kind: 'local', root: path.resolve(expandHome(root)) };
  }
  if (spec === 's3:' || spec === 's3://') return { kind: 's3' };
  const m = /^(?:s3\+)?(https?:\/\/.*)$/i.exec(spec);
  if (!m) {
    throw new StorageError('InvalidUrl', `${spec}: unknown storage spec (expected local:<dir>, s3: or s3+http(s)://host:port)`);
  }
  let u: URL;
  try {
    u = new URL(m[1]!);
  } catch {
    throw new StorageError('InvalidUrl', `${spec}: invalid endpoint URL`);
  }
  const opts: { kind: 's3' } & S3StoreOptions = { kind: 's3', endpoint: `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}` };
  if (u.username) {
    opts.accessKeyId = decodeURIComponent(u.username);
    opts.secretAccessKey = decodeURIComponent(u.password);
  }
  for (const k of u.searchParams.keys()) {
    if (!['region', 'path_style', 'create_buckets'].includes(k)) {
      throw new StorageError('InvalidUrl', `${spec}: unknown option '${k}' (known: region, path_style, create_buckets)`);
    }
  }
  const region = u.searchParams.get('region');
  if (region) opts.region = region;
  const ps = boolParam(u.searchParams.get('path_style'), 'path_style', spec);
  if (ps !== undefined) opts.forcePathStyle = ps;
  const cb = boolParam(u.searchParams.get('create_buckets'), 'create_buckets', spec);
  if (cb !== undefined) opts.createBuckets = cb;
  return opts;
}

/** Open a store. The S3 SDK is loaded only when an S3 store is opened. */
export async function openStore(spec: string | StoreOptions): Promise<ObjectStore> {
  const opts = typeof spec === 'string' ? parseStoreSpec(spec) : spec;
  if (opts.kind === 'local') return new LocalObjectStore(opts.root);
  const { S3ObjectStore } = await import('./s3_store.js');
  const { kind: _kind, ...s3 } = opts;
  return new S3ObjectStore(s3);
}

export interface ResolvedUrl {
  store: ObjectStore;
  bucket: string;
  key: string;
  parsed: StorageUrl;
}

/** Resolve a storage URL (s3://, obs://, /bucket/key) against `store`. */
export function resolveUrl(url: string, store: ObjectStore, opts: ParseOptions = {}): ResolvedUrl {
  const parsed = parseStorageUrl(url, opts);
  return { store, bucket: parsed.bucket, key: parsed.key, parsed };
}

export interface StorageContextOptions {
  /** Default: defaultDataDir(). */
  dataDir?: string;
  /** A store spec (default: defaultStoreSpec(dataDir)) or an open store. */
  storage?: string | StoreOptions | ObjectStore;
  env?: NodeJS.ProcessEnv;
}

/** The data folder plus the store its URLs resolve against (what the CLI and the services share). */
export class StorageContext {
  private constructor(
    readonly dataDir: string,
    readonly store: ObjectStore,
  ) {}

  static async open(opts: StorageContextOptions = {}): Promise<StorageContext> {
    const env = opts.env ?? process.env;
    const dataDir = path.resolve(expandHome(opts.dataDir ?? defaultDataDir(env)));
    const s = opts.storage ?? defaultStoreSpec(dataDir, env);
    const store = typeof s === 'object' && 'getStream' in s ? s : await openStore(s);
    return new StorageContext(dataDir, store);
  }

  resolve(url: string, opts: ParseOptions = {}): ResolvedUrl {
    return resolveUrl(url, this.store, opts);
  }

  async close(): Promise<void> {
    await this.store.close();
  }
}
