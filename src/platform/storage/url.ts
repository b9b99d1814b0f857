// Storage URLs as the platform (and the ModelArts-style tutorials it follows) writes them:
//   s3://bucket/key     obs://bucket/key (the same thing under Huawei OBS's name)     /bucket/key
// A key ending in '/' (or an empty key) names a "folder": the prefix of the objects below it. Keys are taken
// literally (no percent-decoding), like the AWS CLI. Every problem is a StorageError whose message names the URL.
import { StorageError } from './errors.js';

export type StorageScheme = 's3' | 'obs' | 'path';

export interface StorageUrl {
  scheme: StorageScheme;
  /** Empty only for a root URL (`s3://`, `/`) parsed with allowRoot. */
  bucket: string;
  /** The object key or folder prefix ('' for the whole bucket). */
  key: string;
  /** The URL as given. */
  url: string;
}

export interface ParseOptions {
  /** Accept `s3://`, `obs://` and `/` (no bucket), e.g. to list buckets. */
  allowRoot?: boolean;
}

const MAX_KEY_BYTES = 1024;

/**
 * S3's bucket rules (OBS has the same): 3-63 characters of lowercase letters, digits, '.' and '-', starting and
 * ending with a letter or digit, no '..', not shaped like an IP address. Throws a StorageError naming `context`.
 */
export function validateBucketName(bucket: string, context = bucket): string {
  const bad = (why: string) => new StorageError('InvalidBucket', `${context}: invalid bucket name '${bucket}' (${why})`);
  if (bucket.length < 3 || bucket.length > 63) throw bad('must be 3 to 63 characters long');
  if (!/^[a-z0-9.-]+$/.test(bucket)) throw bad("only lowercase letters, digits, '.' and '-' are allowed");
  if (!/^[a-z0-9]/.test(bucket) || !/[a-z0-9]$/.test(bucket)) throw bad('must start and end with a letter or digit');
  if (bucket.includes('..') || bucket.includes('.-') || bucket.includes('-.')) throw bad("no '..', '.-' or '-.'");
  if (/^\d+\.\d+\.\d+\.\d+$/.test(bucket)) throw bad('must not look like an IP address');
  return bucket;
}

/**
 * Check that `key` stays inside its bucket: no leading '/', no '.' or '..' or empty segments, no backslash, no NUL or
 * other control characters, at most 1024 UTF-8 bytes. A trailing '/' (a folder) is allowed; so is '' when
 * `allowEmpty`. Returns the key unchanged.
 */
export function validateKey(key: string, context = key, allowEmpty = true): string {
  const bad = (why: string) => new StorageError('InvalidKey', `${context}: invalid object key '${printable(key)}' (${why})`);
  if (key === '') {
    if (allowEmpty) return key;
    throw bad('empty');
  }
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) throw bad(`longer than ${MAX_KEY_BYTES} bytes`);
  if (/[\x00-\x1f\x7f]/.test(key)) throw bad('control characters (NUL, newline, ...) are not allowed');
  if (key.includes('\\')) throw bad("backslashes are not allowed; use '/'");
  if (key.startsWith('/')) throw bad("must not start with '/'");
  const segs = key.split('/');
  if (segs[segs.length - 1] === '') segs.pop();
  for (const s of segs) {
    if (s === '') throw bad("empty path segment ('//')");
    if (s === '.' || s === '..') throw bad(`'${s}' segments are not allowed`);
  }
  return key;
}

function printable(s: string): string {
  return s.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** Whether `s` is written as a storage URL with a scheme (s3:// or obs://). `/bucket/key` is not checked here. */
export function hasStorageScheme(s: string): boolean {
  return /^(s3|obs):\/\//i.test(s);
}

/** Parse `s3://bucket/key`, `obs://bucket/key` or `/bucket/key`. */
export function parseStorageUrl(url: string, opts: ParseOptions = {}): StorageUrl {
  if (typeof url !== 'string' || url === '') {
    throw new StorageError('InvalidUrl', `invalid storage URL '': expected s3://bucket/key, obs://bucket/key or /bucket/key`);
  }
  let scheme: StorageScheme;
  let rest: string;
  const m = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/is.exec(url);
  if (m) {
    const s = m[1]!.toLowerCase();
    if (s !== 's3' && s !== 'obs') {
      throw new StorageError('InvalidUrl', `${url}: unsupported scheme '${m[1]}://' (expected s3://bucket/key, obs://bucket/key or /bucket/key)`);
    }
    scheme = s;
    rest = m[2]!;
  } else if (url.startsWith('/')) {
    scheme = 'path';
    rest = url.slice(1);
  } else {
    throw new StorageError('InvalidUrl', `${url}: not a storage URL (expected s3://bucket/key, obs://bucket/key or /bucket/key)`);
  }
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const key = slash < 0 ? '' : rest.slice(slash + 1);
  if (bucket === '') {
    if (key === '' && opts.allowRoot) return { scheme, bucket: '', key: '', url };
    throw new StorageError('InvalidUrl', `${url}: missing bucket name (expected ${scheme === 'path' ? '/bucket/key' : `${scheme}://bucket/key`})`);
  }
  validateBucketName(bucket, url);
  validateKey(key, url);
  return { scheme, bucket, key, url };
}

/** Write a URL back: `s3://bucket/key` (or obs://, or /bucket/key for scheme 'path'). */
export function formatStorageUrl(bucket: string, key = '', scheme: StorageScheme = 's3'): string {
  if (scheme === 'path') return `/${bucket}${bucket && key ? '/' : ''}${key}`;
  return `${scheme}://${bucket}${bucket && key ? '/' : ''}${key}`;
}

/** Whether a key names a folder (prefix): '' or ending in '/'. */
export function isFolderKey(key: string): boolean {
  return key === '' || key.endsWith('/');
}

/** The folder form of a key: '' stays '', otherwise a trailing '/' is added when missing. */
export function folderPrefix(key: string): string {
  return key === '' || key.endsWith('/') ? key : key + '/';
}

/** `prefix` (as a folder) joined with a relative key. */
export function joinKey(prefix: string, rel: string): string {
  return folderPrefix(prefix) + rel.replace(/^\/+/, '');
}

/** The last segment of a key ('a/b/c' -> 'c', 'a/b/' -> 'b'). */
export function keyBasename(key: string): string {
  const k = key.endsWith('/') ? key.slice(0, -1) : key;
  return k.slice(k.lastIndexOf('/') + 1);
}
