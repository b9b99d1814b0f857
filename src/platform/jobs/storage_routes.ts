// Storage and dataset routes of the platform API (URLs are storage URLs: s3://b/k, obs://b/k or /b/k):
//
//   GET    /api/storage?url=U&recursive=1     list buckets (url '/'), a folder, or one object
//   GET    /api/storage/object?url=U          download an object
//   PUT    /api/storage/object?url=U          upload an object (application/octet-stream body, size-limited)
//   POST   /api/storage/copy {src, dst, recursive}   copy inside the store (folders with recursive)
//   POST   /api/storage/buckets {url}          create a bucket
//   DELETE /api/storage?url=U&recursive=1     delete an object or (recursive) everything under a folder
//   GET    /api/datasets/market               the built-in catalog
//   POST   /api/datasets {market, name, path, format}   import (202, version status importing)
//   GET    /api/datasets                      my datasets with their versions
//   GET    /api/datasets/:name                one dataset with its versions
//   GET    /api/datasets/:name/versions/:version
import { Transform, type Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { DATASET_FORMATS, type DatasetService } from '../datasets/service.js';
import type { DatasetFormat } from '../datasets/repository.js';
import { copyStoreToStore, copyObject } from '../storage/copy.js';
import { StorageError } from '../storage/errors.js';
import type { StorageContext } from '../storage/open.js';
import { folderPrefix, formatStorageUrl, isFolderKey } from '../storage/url.js';
import { FieldError } from './model.js';
import { ServiceError } from './service.js';

type Query = Record<string, string | undefined>;

function need(v: unknown, field: string): string {
  if (typeof v !== 'string' || v === '') throw new FieldError(field, 'is required');
  return v;
}

const truthy = (v: unknown) => v === true || (typeof v === 'string' && /^(1|true|yes)$/i.test(v));

function urlField(ctx: StorageContext, v: unknown, field: string, allowRoot = false) {
  const url = need(v, field);
  try {
    return ctx.resolve(url, { allowRoot });
  } catch (e) {
    throw new FieldError(field, (e as Error).message);
  }
}

/** Counts bytes through and fails the stream past `limit`. */
function limiter(limit: number): Transform {
  let n = 0;
  return new Transform({
    transform(chunk: Buffer, _e, cb) {
      n += chunk.length;
      if (n > limit) cb(new ServiceError(413, `upload too large: the limit is ${limit} bytes`));
      else cb(null, chunk);
    },
  });
}

export function registerStorageRoutes(app: FastifyInstance, o: { ctx: StorageContext; datasets: DatasetService; uploadLimit: number }): void {
  const { ctx, datasets } = o;
  const store = ctx.store;

  app.get<{ Querystring: Query }>('/api/storage', async (req) => {
    const r = urlField(ctx, req.query.url ?? '/', 'url', true);
    if (r.bucket === '') return { buckets: await store.listBuckets() };
    if (!isFolderKey(r.key) && r.key !== '') {
      const obj = await store.head(r.bucket, r.key);
      if (obj) return { objects: [obj], folders: [] };
    }
    const list = await store.list(r.bucket, folderPrefix(r.key), { recursive: truthy(req.query.recursive) });
    return { url: formatStorageUrl(r.bucket, folderPrefix(r.key), r.parsed.scheme), ...list };
  });

  app.get<{ Querystring: Query }>('/api/storage/object', async (req, reply) => {
    const r = urlField(ctx, req.query.url, 'url');
    const info = await store.head(r.bucket, r.key);
    if (!info) throw new StorageError('NoSuchKey', `${req.query.url}: no such object`);
    const body = await store.getStream(r.bucket, r.key);
    return reply.header('content-type', 'application/octet-stream').header('content-length', String(info.size)).send(body);
  });

  app.put<{ Querystring: Query }>('/api/storage/object', async (req, reply) => {
    const r = urlField(ctx, req.query.url, 'url');
    if (isFolderKey(r.key) || r.key === '') throw new FieldError('url', `${req.query.url} names a folder; give an object URL`);
    const ct = String(req.headers['content-type'] ?? '');
    if (!ct.startsWith('application/octet-stream')) throw new ServiceError(415, 'uploads take Content-Type: application/octet-stream');
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > o.uploadLimit) throw new ServiceError(413, `upload too large: ${declared} bytes, the limit is ${o.uploadLimit} bytes`);
    const body = (req.body as Readable).pipe(limiter(o.uploadLimit));
    const info = await store.putStream(r.bucket, r.key, body, Number.isFinite(declared) ? { size: declared } : {});
    return reply.status(201).send({ url: formatStorageUrl(r.bucket, r.key, r.parsed.scheme), size: info.size });
  });

  app.post('/api/storage/copy', async (req) => {
    const b = (req.body ?? {}) as Record<string, unknown>;
    const src = urlField(ctx, b.src, 'src');
    const dst = urlField(ctx, b.dst, 'dst');
    if (truthy(b.recursive) || isFolderKey(src.key)) {
      const res = await copyStoreToStore(store, src.bucket, folderPrefix(src.key), store, dst.bucket, folderPrefix(dst.key));
      return { files: res.files.length, bytes: res.bytes };
    }
    const key = isFolderKey(dst.key) ? dst.key + src.key.split('/').pop() : dst.key;
    const f = await copyObject(store, src.bucket, src.key, store, dst.bucket, key);
    return { files: 1, bytes: f.size };
  });

  app.post('/api/storage/buckets', async (req, reply) => {
    const b = (req.body ?? {}) as Record<string, unknown>;
    const r = urlField(ctx, b.url, 'url');
    if (r.key) throw new FieldError('url', `${String(b.url)}: expected a bucket URL without a key`);
    await store.createBucket(r.bucket);
    return reply.status(201).send({ bucket: r.bucket, url: formatStorageUrl(r.bucket, '', r.parsed.scheme) });
  });

  app.delete<{ Querystring: Query }>('/api/storage', async (req) => {
    const r = urlField(ctx, req.query.url, 'url');
    if (truthy(req.query.recursive)) return { deleted: await store.deletePrefix(r.bucket, folderPrefix(r.key)) };
    if (isFolderKey(r.key) || r.key === '') throw new FieldError('recursive', 'deleting a folder needs recursive=1');
    if (!(await store.delete(r.bucket, r.key))) throw new StorageError('NoSuchKey', `${req.query.url}: no such object`);
    return { deleted: 1 };
  });

  app.get('/api/datasets/market', async () => ({ market: datasets.listMarket(true) }));

  app.post('/api/datasets', async (req, reply) => {
    const b = (req.body ?? {}) as Record<string, unknown>;
    const market = need(b.market, 'market');
    const p = need(b.path, 'path');
    const format = (b.format ?? 'both') as DatasetFormat;
    if (!DATASET_FORMATS.includes(format)) throw new FieldError('format', `must be idx, lmdb or both, got '${String(format)}'`);
    try {
      urlField(ctx, p, 'path');
      const v = await datasets.importDataset({
        market,
        name: typeof b.name === 'string' && b.name ? b.name : market,
        path: p,
        format,
        ...(typeof b.description === 'string' ? { description: b.description } : {}),
      });
      return reply.status(202).send(v);
    } catch (e) {
      if (e instanceof FieldError) throw e;
      const msg = (e as Error).message;
      const field = /market dataset|unknown dataset/i.test(msg) ? 'market' : /dataset name/.test(msg) ? 'name' : /format/.test(msg) ? 'format' : 'path';
      throw new FieldError(field, msg);
    }
  });

  app.get('/api/datasets', async () => ({ datasets: await datasets.listDatasets() }));

  app.get<{ Params: { name: string } }>('/api/datasets/:name', async (req) => {
    const d = await datasets.getDataset(req.params.name);
    if (!d) throw new ServiceError(404, `no dataset named '${req.params.name}'`);
    return d;
  });

  app.get<{ Params: { name: string; version: string } }>('/api/datasets/:name/versions/:version', async (req) => {
    const d = await datasets.getDataset(req.params.name);
    const n = Number(req.params.version.replace(/^v/, ''));
    const v = d?.versions.find((x) => x.version === n);
    if (!v) throw new ServiceError(404, `no dataset version ${req.params.name} v${req.params.version}`);
    return v;
  });
}
