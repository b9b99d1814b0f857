// The S3 store against a real S3-protocol server on loopback (s3rver, a pure-JS S3 implementation, devDependency):
// put/get/list/delete/copy, a multipart upload bigger than the part size, folder copies both ways, and retries
// of transient failures injected by a proxy that answers 503 SlowDown.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Readable } from 'node:stream';
import { setQuiet } from '../src/util/log.js';
import { LocalObjectStore, StorageError, copyDirToStore, copyStoreToDir, copyStoreToStore, openStore } from '../src/platform/storage/index.js';
import { S3ObjectStore } from '../src/platform/storage/s3_store.js';
import { removeDir, scratchDir } from './helpers.js';
import { makeTree, readTree } from './storage_helpers.js';

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
type S3rverCtor = new (opts: Record<string, unknown>) => S3rverInstance;
const S3rver = createRequire(import.meta.url)('s3rver') as S3rverCtor;

const MiB = 1024 * 1024;
const code = (c: string) => (e: unknown) => e instanceof StorageError && e.code === c;
const creds = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', region: 'us-east-1' };

/** A loopback proxy to `target` that answers the first `failures` PUTs with 503 SlowDown. */
function flakyProxy(target: number): Promise<{ port: number; failures: number; close: () => Promise<void> }> {
  const state = { port: 0, failures: 0, close: async () => {} };
  const server = http.createServer((req, res) => {
    if (req.method === 'PUT' && state.failures > 0) {
      state.failures--;
      req.resume();
      res.writeHead(503, { 'content-type': 'application/xml' });
      res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>');
      return;
    }
    const up = http.request({ host: '127.0.0.1', port: target, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      state.port = (server.address() as AddressInfo).port;
      state.close = () => new Promise<void>((r) => server.close(() => r()));
      resolve(state);
    });
  });
}

describe('S3 object store (s3rver on loopback)', () => {
  let root: string;
  let server: S3rverInstance;
  let endpoint: string;
  let port: number;
  let store: S3ObjectStore;
  const commands: string[] = [];

  before(async () => {
    setQuiet(true);
    root = scratchDir('tscaffe-s3-');
    server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: path.join(root, 's3rver'), configureBuckets: [{ name: 'bucket-a' }] });
    port = (await server.run()).port;
    endpoint = `http://127.0.0.1:${port}`;
    store = new S3ObjectStore({ endpoint, ...creds, partSize: 5 * MiB, createBuckets: true });
    store.client.middlewareStack.add(
      (next, context) => async (args) => {
        commands.push(context.commandName ?? '?');
        return next(args);
      },
      { step: 'initialize' },
    );
  });
  after(async () => {
    await store?.close();
    await server?.close();
    removeDir(root);
  });

  test('openStore builds it from a spec; environment variables configure it', async () => {
    const s = await openStore(`s3+http://S3RVER:S3RVER@127.0.0.1:${port}`);
    assert.equal(s.kind, 's3');
    assert.equal(s.spec, `s3+http://127.0.0.1:${port}`, 'no credentials in the spec');
    assert.deepEqual(await s.listBuckets(), ['bucket-a']);
    await s.close();
    const env = { AWS_ENDPOINT_URL: endpoint, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'eu-west-1' };
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      const e = new S3ObjectStore();
      assert.equal(e.endpoint, endpoint);
      assert.equal(e.region, 'eu-west-1');
      assert.equal(await e.bucketExists('bucket-a'), true);
      await e.close();
    } finally {
      for (const k of Object.keys(env)) if (saved[k] === undefined) delete process.env[k];
      Object.assign(process.env, saved);
    }
    assert.throws(() => new S3ObjectStore({ endpoint: 'ftp://x' }), /invalid S3 endpoint/);
  });

  test('put, head, get, list, copy, delete', async () => {
    assert.equal(await store.bucketExists('bucket-b'), false);
    await store.putBuffer('bucket-b', 'dir/a.txt', 'hello'); // createBuckets: made on first write
    assert.equal(await store.bucketExists('bucket-b'), true);
    await store.putStream('bucket-b', 'dir/sub/b.bin', Readable.from([Buffer.from('ab'), Buffer.from('cd')]));
    await store.putBuffer('bucket-b', 'dirx', 'x');
    assert.equal((await store.head('bucket-b', 'dir/a.txt'))?.size, 5);
    assert.equal(await store.head('bucket-b', 'dir/none'), null);
    assert.equal((await store.getBuffer('bucket-b', 'dir/sub/b.bin')).toString(), 'abcd');
    assert.equal((await store.getBuffer('bucket-b', 'dir/sub/b.bin', { start: 1, end: 2 })).toString(), 'bc');
    await assert.rejects(store.getBuffer('bucket-b', 'dir/none'), (e) => code('NoSuchKey')(e) && /s3:\/\/bucket-b\/dir\/none: no such object/.test((e as Error).message));
    await assert.rejects(store.list('no-such-bucket'), code('NoSuchBucket'));
    await assert.rejects(store.getBuffer('bucket-b', '../x'), code('InvalidKey'));

    assert.deepEqual((await store.list('bucket-b')).objects.map((o) => o.key), ['dir/a.txt', 'dir/sub/b.bin', 'dirx']);
    const top = await store.list('bucket-b', '', { recursive: false });
    assert.deepEqual([top.objects.map((o) => o.key), top.folders], [['dirx'], ['dir/']]);
    const one = await store.list('bucket-b', 'dir/', { recursive: false });
    assert.deepEqual([one.objects.map((o) => o.key), one.folders], [['dir/a.txt'], ['dir/sub/']]);

    await store.copy('bucket-b', 'dir/a.txt', 'bucket-a', 'odd name+ü/a b.txt');
    assert.equal((await store.getBuffer('bucket-a', 'odd name+ü/a b.txt')).toString(), 'hello');
    await assert.rejects(store.copy('bucket-b', 'dir/none', 'bucket-a', 'x'), code('NoSuchKey'));

    assert.equal(await store.delete('bucket-b', 'dirx'), true);
    assert.equal(await store.delete('bucket-b', 'dirx'), false);
    assert.equal(await store.deletePrefix('bucket-b', 'dir/'), 2);
    assert.deepEqual((await store.list('bucket-b')).objects, []);
    assert.deepEqual(await store.listBuckets(), ['bucket-a', 'bucket-b']);
  });

  test('a file larger than the part size goes up in parts and comes back intact', async () => {
    const big = randomBytes(6 * MiB + 123);
    const file = path.join(root, 'big.bin');
    writeFileSync(file, big);
    commands.length = 0;
    const progress: number[] = [];
    const info = await store.putFile('bucket-a', 'big/big.bin', file, { onProgress: (n) => progress.push(n) });
    assert.equal(info.size, big.length);
    assert.equal(commands.filter((c) => c === 'CreateMultipartUploadCommand').length, 1);
    assert.equal(commands.filter((c) => c === 'UploadPartCommand').length, 2);
    assert.equal(commands.filter((c) => c === 'CompleteMultipartUploadCommand').length, 1);
    assert.equal(progress.at(-1), big.length);
    assert.equal((await store.head('bucket-a', 'big/big.bin'))?.size, big.length);
    const back = await store.getBuffer('bucket-a', 'big/big.bin');
    assert.equal(createHash('sha256').update(back).digest('hex'), createHash('sha256').update(big).digest('hex'));
    // putBuffer above the part size takes the multipart path too
    commands.length = 0;
    await store.putBuffer('bucket-a', 'big/buf.bin', big);
    assert.equal(commands.filter((c) => c === 'UploadPartCommand').length, 2);
    assert.ok((await store.getBuffer('bucket-a', 'big/buf.bin')).equals(big));
  });

  test('folder copies both ways, and between S3 and the local store, are byte-equal', async () => {
    // s3rver decodes x-amz-copy-source with decodeURI, which leaves %2B and %3D encoded, so its server-side copy
    // misses keys with '+' or '='; real S3 and MinIO decode them. Spaces and non-ASCII work.
    const tree = makeTree(path.join(root, 'tree'), 'd e ü.txt');
    const up = await copyDirToStore(path.join(root, 'tree'), store, 'bucket-a', 'trees/one', { concurrency: 4, checksum: true });
    assert.equal(up.files.length, tree.size);
    for (const f of up.files) assert.equal(f.sha256, createHash('sha256').update(tree.get(f.rel)!).digest('hex'));
    await copyStoreToDir(store, 'bucket-a', 'trees/one/', path.join(root, 'back'), { concurrency: 4 });
    assert.deepEqual(readTree(path.join(root, 'back')), tree);

    await copyStoreToStore(store, 'bucket-a', 'trees/one', store, 'bucket-a', 'trees/two'); // server-side CopyObject
    const local = new LocalObjectStore(path.join(root, 'local'));
    await copyStoreToStore(store, 'bucket-a', 'trees/two', local, 'mirror', 'x'); // S3 -> local store
    await copyStoreToStore(local, 'mirror', 'x', store, 'bucket-a', 'trees/three'); // local store -> S3
    await copyStoreToDir(store, 'bucket-a', 'trees/three', path.join(root, 'back3'));
    assert.deepEqual(readTree(path.join(root, 'back3')), tree);
  });

  test('transient server errors (503 SlowDown) are retried; the copy completes', async () => {
    const proxy = await flakyProxy(port);
    const flaky = new S3ObjectStore({ endpoint: `http://127.0.0.1:${proxy.port}`, ...creds, maxAttempts: 1 });
    try {
      proxy.failures = 1;
      await assert.rejects(flaky.putBuffer('bucket-a', 'r/x', 'x'), (e) => e instanceof StorageError && e.code === 'Transient' && /SlowDown/.test(e.message));

      const src = path.join(root, 'retry-src');
      for (const [n, d] of [['a.txt', 'aaa'], ['b/c.txt', 'ccc']] as const) {
        const p = path.join(src, n);
        mkdirSync(path.dirname(p), { recursive: true });
        writeFileSync(p, d);
      }
      proxy.failures = 3;
      const retried: string[] = [];
      const res = await copyDirToStore(src, flaky, 'bucket-a', 'retried/', {
        concurrency: 1,
        retries: 4,
        baseDelayMs: 1,
        onRetry: (file, _e, attempt) => retried.push(`${file}#${attempt}`),
      });
      assert.equal(res.files.length, 2);
      assert.deepEqual(retried, ['a.txt#1', 'a.txt#2', 'a.txt#3']);
      assert.equal(proxy.failures, 0);
      assert.equal((await store.getBuffer('bucket-a', 'retried/b/c.txt')).toString(), 'ccc');
      assert.equal(readFileSync(path.join(src, 'a.txt'), 'utf8'), (await store.getBuffer('bucket-a', 'retried/a.txt')).toString());
    } finally {
      await flaky.close();
      await proxy.close();
    }
  });
});
