// Storage URLs as the API takes them: s3://bucket/key, obs://bucket/key or /bucket/key; a key ending in '/' (or an
// empty one) is a folder. Only splitting and joining here: the service validates bucket names and keys.
export interface StorageUrl {
  /** 's3://', 'obs://' or '/' */
  prefix: string;
  bucket: string;
  key: string;
}

export function parseUrl(url: string): StorageUrl | undefined {
  const m = /^(s3:\/\/|obs:\/\/|\/)([^/]*)(?:\/(.*))?$/.exec(url);
  return m ? { prefix: m[1]!, bucket: m[2]!, key: m[3] ?? '' } : undefined;
}

export const formatUrl = (u: StorageUrl, key = u.key): string => (u.bucket ? `${u.prefix}${u.bucket}/${key}` : u.prefix);

/** The folder URL itself (ends in '/'), or the folder holding an object. */
export function folderOf(url: string): string {
  const u = parseUrl(url);
  if (!u) return url;
  return formatUrl(u, u.key === '' || u.key.endsWith('/') ? u.key : u.key.slice(0, u.key.lastIndexOf('/') + 1));
}

/** Last path segment of a key ('codes/' -> 'codes', 'a/b.txt' -> 'b.txt'). */
export const baseName = (key: string): string => key.replace(/\/$/, '').split('/').pop() ?? key;

/** Breadcrumbs of a folder URL: [label, folder URL] from the bucket down. */
export function crumbs(url: string): [string, string][] {
  const u = parseUrl(url);
  if (!u || !u.bucket) return [];
  const out: [string, string][] = [[u.bucket, formatUrl(u, '')]];
  let key = '';
  for (const seg of u.key.split('/').filter(Boolean)) {
    key += `${seg}/`;
    out.push([seg, formatUrl(u, key)]);
  }
  return out;
}

export const storageHref = (url: string): string => `#/storage?url=${encodeURIComponent(url)}`;
