// Object storage: URL parsing, the local store (every operation, keys that try to leave their bucket, symlinks that
// lead out of it), and the parallel folder copies with retries. The S3 store is in storage_s3.test.ts.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { setQuiet } from '../src/util/log.js';
import {
  LocalObjectStore,
  StorageError,
  copyDirToStore,
  copyParallel,
  copyStoreToDir,
  copyStoreToStore,
  downloadFile,
  formatStorageUrl,
  openStore,
  parseStorageUrl,
  parseStoreSpec,
  resolveUrl,
  uploadFile,
  withRetry,
  type ObjectStore,
} from '../src/platform/storage/index.js';
import { removeDir, scratchDir } from './helpers.js';
import { makeTree, readTree } from './storage_helpers.js';

const code = (c: string) => (e: unknown) => e instanceof StorageError && e.code === c;

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

before(() => setQuiet(true));

describe('storage URLs', () => {
  test('s3://, obs:// and /bucket/key parse to bucket and key', () => {
    assert.deepEqual(parseStorageUrl('s3://my-bucket/a/b.txt'), { scheme: 's3', bucket: 'my-bucket', key: 'a/b.txt', url: 's3://my-bucket/a/b.txt' });
    assert.deepEqual(parseStorageUrl('obs://my.bucket/dir/'), { scheme: 'obs', bucket: 'my.bucket', key: 'dir/', url: 'obs://my.bucket/dir/' });
    assert.deepEqual(parseStorageUrl('/bkt/x'), { scheme: 'path', bucket: 'bkt', key: 'x', url: '/bkt/x' });
    assert.equal(parseStorageUrl('S3://bkt').key, '');
    assert.equal(parseStorageUrl('s3://bkt/').key, '');
    assert.equal(parseStorageUrl('s3://', { allowRoot: true }).bucket, '');
    assert.equal(parseStorageUrl('/', { allowRoot: true }).bucket, '');
    assert.equal(formatStorageUrl('bkt', 'a/b'), 's3://bkt/a/b');
    assert.equal(formatStorageUrl('bkt', 'a/b', 'path'), '/bkt/a/b');
    assert.equal(formatStorageUrl('bkt', '', 'obs'), 'obs://bkt');
  });

  test('bad URLs are rejected with a message naming them', () => {
    const bad: Array<[string, string, RegExp]> = [
      ['', 'InvalidUrl', /expected s3:\/\/bucket\/key/],
      ['gs://b/k', 'InvalidUrl', /gs:\/\/b\/k: unsupported scheme/],
      ['relative/path', 'InvalidUrl', /not a storage URL/],
      ['s3://', 'InvalidUrl', /missing bucket/],
      ['s3:///key', 'InvalidUrl', /missing bucket/],
      ['s3://ab/k', 'InvalidBucket', /3 to 63/],
      ['s3://My_Bucket/k', 'InvalidBucket', /lowercase/],
      ['s3://-bucket/k', 'InvalidBucket', /start and end/],
      ['s3://a..b/k', 'InvalidBucket', /'\.\.'/],
      ['s3://192.168.1.1/k', 'InvalidBucket', /IP address/],
      ['s3://bkt/../other/k', 'InvalidKey', /'\.\.' segments/],
      ['s3://bkt/a/../../k', 'InvalidKey', /'\.\.' segments/],
      ['s3://bkt/a/./k', 'InvalidKey', /'\.' segments/],
      ['s3://bkt//etc/passwd', 'InvalidKey', /must not start with '\/'/],
      ['s3://bkt/a//b', 'InvalidKey', /empty path segment/],
      ['s3://bkt/a\\..\\..\\x', 'InvalidKey', /backslashes/],
      ['s3://bkt/a\0b', 'InvalidKey', /control characters/],
      ['/bkt/' + 'x'.repeat(1025), 'InvalidKey', /1024 bytes/],
    ];
    for (const [url, c, msg] of bad) {
      assert.throws(() => parseStorageUrl(url), (e: unknown) => code(c)(e) && msg.test((e as Error).message) && (e as Error).message.includes(url.slice(0, 20)), url);
    }
  });

  test('store specs', () => {
    assert.deepEqual(parseStoreSpec('local:/data/storage'), { kind: 'local', root: '/data/storage' });
    assert.deepEqual(parseStoreSpec('s3:'), { kind: 's3' });
    assert.deepEqual(parseStoreSpec('s3+http://ak:sk@127.0.0.1:9000?region=eu-west-1&create_buckets=1'), {
      kind: 's3',
      endpoint: 'http://127.0.0.1:9000',
      accessKeyId: 'ak',
      secretAccessKey: 'sk',
      region: 'eu-west-1',
      createBuckets: true,
    });
    assert.throws(() => parseStoreSpec('ftp://x'), /unknown storage spec/);
    assert.throws(() => parseStoreSpec('s3+http://h:1?colour=red'), /unknown option 'colour'/);
  });
});

describe('local object store', () => {
  let root: string;
  let store: LocalObjectStore;
  before(async () => {
    root = scratchDir('tscaffe-storage-');
    store = (await openStore(`local:${root}/storage`)) as LocalObjectStore;
  });
  after(() => removeDir(root));

  test('put, head, get, list, copy, delete', async () => {
    assert.deepEqual(await store.listBuckets(), []);
    assert.equal(await store.bucketExists('bkt-one'), false);
    await assert.rejects(store.list('bkt-one'), code('NoSuchBucket'));
    const info = await store.putBuffer('bkt-one', 'dir/a.txt', 'hello'); // the bucket is created on first write
    assert.equal(info.size, 5);
    assert.equal(await store.bucketExists('bkt-one'), true);
    assert.equal(readFileSync(path.join(root, 'storage/bkt-one/dir/a.txt'), 'utf8'), 'hello');
    await store.putStream('bkt-one', 'dir/sub/b.bin', Readable.from([Buffer.from('ab'), Buffer.from('cd')]));
    writeFileSync(path.join(root, 'f.txt'), 'from a file');
    await store.putFile('bkt-one', 'dir2/f.txt', path.join(root, 'f.txt'));
    await store.putBuffer('bkt-one', 'dirx', 'x');

    assert.equal((await store.head('bkt-one', 'dir/a.txt'))?.size, 5);
    assert.equal(await store.head('bkt-one', 'dir/nope'), null);
    assert.equal(await store.head('bkt-one', 'dir/sub'), null); // a folder is not an object
    assert.equal((await store.getBuffer('bkt-one', 'dir/sub/b.bin')).toString(), 'abcd');
    assert.equal((await store.getBuffer('bkt-one', 'dir/sub/b.bin', { start: 1, end: 2 })).toString(), 'bc');
    const chunks: Buffer[] = [];
    for await (const c of await store.getStream('bkt-one', 'dir2/f.txt')) chunks.push(c as Buffer);
    assert.equal(Buffer.concat(chunks).toString(), 'from a file');
    await assert.rejects(store.getBuffer('bkt-one', 'dir/none'), (e) => code('NoSuchKey')(e) && /s3:\/\/bkt-one\/dir\/none: no such object/.test((e as Error).message));
    await assert.rejects(store.getBuffer('bkt-one', 'dir/sub'), code('NoSuchKey'));
    await assert.rejects(store.getBuffer('bkt-one', 'dir/'), code('InvalidKey'));

    const all = await store.list('bkt-one');
    assert.deepEqual(all.objects.map((o) => o.key), ['dir/a.txt', 'dir/sub/b.bin', 'dir2/f.txt', 'dirx']);
    assert.deepEqual(all.folders, []);
    const top = await store.list('bkt-one', '', { recursive: false });
    assert.deepEqual(top.objects.map((o) => o.key), ['dirx']);
    assert.deepEqual(top.folders, ['dir/', 'dir2/']);
    const one = await store.list('bkt-one', 'dir/', { recursive: false });
    assert.deepEqual([one.objects.map((o) => o.key), one.folders], [['dir/a.txt'], ['dir/sub/']]);
    assert.deepEqual((await store.list('bkt-one', 'dir')).objects.map((o) => o.key), ['dir/a.txt', 'dir/sub/b.bin', 'dir2/f.txt', 'dirx']);
    assert.deepEqual((await store.list('bkt-one', 'dir/a')).objects.map((o) => o.key), ['dir/a.txt']);
    assert.deepEqual((await store.list('bkt-one', 'nothing/')).objects, []);

    await store.copy('bkt-one', 'dir/a.txt', 'bkt-two', 'copied/a.txt');
    assert.equal((await store.getBuffer('bkt-two', 'copied/a.txt')).toString(), 'hello');
    await assert.rejects(store.copy('bkt-one', 'dir/none', 'bkt-two', 'x'), code('NoSuchKey'));
    assert.deepEqual(await store.listBuckets(), ['bkt-one', 'bkt-two']);

    await store.putBuffer('bkt-one', 'dir/a.txt', 'replaced');
    assert.equal((await store.getBuffer('bkt-one', 'dir/a.txt')).toString(), 'replaced');
    await assert.rejects(store.putBuffer('bkt-one', 'dirx/under', 'x'), code('Conflict')); // 'dirx' is an object
    await assert.rejects(store.putBuffer('bkt-one', 'dir', 'x'), code('Conflict')); // 'dir' is a folder

    assert.equal(await store.delete('bkt-one', 'dir/sub/b.bin'), true);
    assert.equal(await store.delete('bkt-one', 'dir/sub/b.bin'), false);
    assert.equal(existsSync(path.join(root, 'storage/bkt-one/dir/sub')), false, 'empty folders are pruned');
    assert.equal(await store.deletePrefix('bkt-one', 'dir'), 3);
    assert.deepEqual((await store.list('bkt-one')).objects, []);
    assert.deepEqual(readdirSync(path.join(root, 'storage/.tmp')), [], 'no temp files left');
  });

  test('keys and buckets that try to leave their bucket are rejected by every operation', async () => {
    mkdirSync(path.join(root, 'storage/victim'), { recursive: true });
    writeFileSync(path.join(root, 'secret.txt'), 'secret');
    const keys = ['../secret.txt', 'a/../../secret.txt', '/secret.txt', '..\\secret.txt', 'a\0b', '.', 'a//b', ''];
    for (const k of keys) {
      const isKey = (e: unknown) => code('InvalidKey')(e);
      await assert.rejects(store.getBuffer('victim', k), isKey, JSON.stringify(k));
      await assert.rejects(store.putBuffer('victim', k, 'x'), isKey, JSON.stringify(k));
      await assert.rejects(store.head('victim', k), isKey);
      await assert.rejects(store.delete('victim', k), isKey);
      await assert.rejects(store.copy('victim', 'x', 'victim', k), isKey);
    }
    for (const b of ['..', '.tmp', 'a/b', 'UPPER', 'x']) {
      await assert.rejects(store.putBuffer(b, 'k', 'x'), code('InvalidBucket'), b);
      await assert.rejects(store.list(b), code('InvalidBucket'), b);
    }
    assert.equal(readFileSync(path.join(root, 'secret.txt'), 'utf8'), 'secret');
  });

  test('symbolic links out of the bucket are never followed', async () => {
    const outside = path.join(root, 'outside');
    mkdirSync(outside);
    writeFileSync(path.join(outside, 'secret.txt'), 'secret');
    await store.putBuffer('links', 'ok.txt', 'fine');
    const b = path.join(root, 'storage/links');
    symlinkSync(outside, path.join(b, 'dirlink'));
    symlinkSync(path.join(outside, 'secret.txt'), path.join(b, 'filelink'));
    symlinkSync(outside, path.join(root, 'storage/linked-bucket'));
    const forbidden = code('Forbidden');
    await assert.rejects(store.getBuffer('links', 'dirlink/secret.txt'), forbidden);
    await assert.rejects(store.getBuffer('links', 'filelink'), forbidden);
    await assert.rejects(store.head('links', 'dirlink/secret.txt'), forbidden);
    await assert.rejects(store.putBuffer('links', 'dirlink/new.txt', 'x'), forbidden);
    await assert.rejects(store.putBuffer('links', 'dirlink/deep/new.txt', 'x'), forbidden);
    await assert.rejects(store.delete('links', 'dirlink/secret.txt'), forbidden);
    await assert.rejects(store.copy('links', 'filelink', 'links', 'stolen.txt'), forbidden);
    await assert.rejects(store.copy('links', 'ok.txt', 'links', 'dirlink/ok.txt'), forbidden);
    await assert.rejects(store.getBuffer('linked-bucket', 'secret.txt'), forbidden);
    await assert.rejects(store.putBuffer('linked-bucket', 'x.txt', 'x'), forbidden);
    await assert.rejects(store.list('linked-bucket'), forbidden);
    assert.deepEqual((await store.list('links')).objects.map((o) => o.key), ['ok.txt'], 'links are invisible to listings');
    assert.deepEqual((await store.list('links', 'dirlink/')).objects, []);
    assert.equal(await store.deletePrefix('links', ''), 1);
    assert.deepEqual(readdirSync(outside), ['secret.txt']);
    assert.equal(readFileSync(path.join(outside, 'secret.txt'), 'utf8'), 'secret');
  });

  test('resolveUrl maps URLs onto the store', () => {
    const r = resolveUrl('obs://bkt-one/data/x', store);
    assert.equal(r.store, store);
    assert.deepEqual([r.bucket, r.key, r.parsed.scheme], ['bkt-one', 'data/x', 'obs']);
    assert.throws(() => resolveUrl('s3://bkt-one/../x', store), code('InvalidKey'));
  });
});

/** Wrap a store so chosen methods fail transiently the first `n` times. */
function flaky(store: ObjectStore, method: 'putStream' | 'getStream', n: number, transient = true): ObjectStore & { calls: number } {
  let left = n;
  const w = Object.create(store) as ObjectStore & { calls: number };
  w.calls = 0;
  (w as unknown as Record<string, unknown>)[method] = async (...args: unknown[]) => {
    w.calls++;
    if (left-- > 0) throw new StorageError(transient ? 'Transient' : 'Forbidden', `injected failure ${w.calls}`);
    return (store[method] as (...a: unknown[]) => unknown).apply(store, args);
  };
  return w;
}

describe('parallel folder copies', () => {
  let root: string;
  let store: LocalObjectStore;
  let tree: Map<string, Buffer>;
  before(() => {
    root = scratchDir('tscaffe-copy-');
    store = new LocalObjectStore(path.join(root, 'storage'));
    tree = makeTree(path.join(root, 'src'));
  });
  after(() => removeDir(root));

  test('local folder -> store -> local folder is byte-equal, with checksums and progress', async () => {
    const seen: number[] = [];
    const up = await copyDirToStore(path.join(root, 'src'), store, 'data', 'in/tree', {
      concurrency: 3,
      checksum: true,
      onProgress: (p) => seen.push(p.bytesDone),
    });
    assert.deepEqual(up.files.map((f) => f.rel), [...tree.keys()].sort());
    for (const f of up.files) assert.equal(f.sha256, sha(tree.get(f.rel)!), f.rel);
    assert.equal(up.bytes, [...tree.values()].reduce((s, b) => s + b.length, 0));
    assert.equal(seen.at(-1), up.bytes);
    assert.ok(seen.every((v, i) => i === 0 || v >= seen[i - 1]!), 'progress never goes back');
    for (const [rel, data] of tree) assert.deepEqual(await store.getBuffer('data', `in/tree/${rel}`), data);

    const down = await copyStoreToDir(store, 'data', 'in/tree/', path.join(root, 'down'), { concurrency: 2 });
    assert.equal(down.files.length, tree.size);
    assert.deepEqual(readTree(path.join(root, 'down')), tree);
    assert.deepEqual(
      readdirSync(path.join(root, 'down'), { recursive: true }).filter((f) => String(f).endsWith('.tmp')),
      [],
      'no temp files left',
    );
  });

  test('store -> store, same store (server-side) and across stores; copyParallel dispatches', async () => {
    await copyStoreToStore(store, 'data', 'in/tree', store, 'data', 'copy1', { concurrency: 4 });
    const other = new LocalObjectStore(path.join(root, 'other'));
    const res = await copyParallel({ kind: 'store', store, bucket: 'data', key: 'copy1/' }, { kind: 'store', store: other, bucket: 'elsewhere', key: 'x' }, { checksum: true });
    for (const f of res.files) assert.equal(f.sha256, sha(tree.get(f.rel)!));
    await copyParallel({ kind: 'store', store: other, bucket: 'elsewhere', key: 'x' }, { kind: 'local', path: path.join(root, 'down2') });
    assert.deepEqual(readTree(path.join(root, 'down2')), tree);
    await copyParallel({ kind: 'local', path: path.join(root, 'down2') }, { kind: 'store', store: other, bucket: 'elsewhere', key: 'y/' });
    assert.equal((await other.list('elsewhere', 'y/')).objects.length, tree.size);
    await assert.rejects(copyParallel({ kind: 'local', path: root }, { kind: 'local', path: root }), /local -> local/);
  });

  test('single files both ways', async () => {
    const f = await uploadFile(path.join(root, 'src/sub/b.bin'), store, 'data', 'single/b.bin', { checksum: true });
    assert.equal(f.sha256, sha(tree.get('sub/b.bin')!));
    await downloadFile(store, 'data', 'single/b.bin', path.join(root, 'single/b.bin'));
    assert.deepEqual(readFileSync(path.join(root, 'single/b.bin')), tree.get('sub/b.bin'));
    await assert.rejects(downloadFile(store, 'data', 'single/none', path.join(root, 'x')), code('NoSuchKey'));
  });

  test('transient failures are retried with backoff; others are not', async () => {
    const retried: string[] = [];
    const up = flaky(store, 'putStream', 2);
    const res = await copyDirToStore(path.join(root, 'src'), up, 'data', 'retry', {
      concurrency: 1,
      baseDelayMs: 1,
      onRetry: (file, _e, attempt) => retried.push(`${file}#${attempt}`),
    });
    assert.equal(res.files.length, tree.size);
    assert.deepEqual(retried, ['a.txt#1', 'a.txt#2']);
    assert.equal(up.calls, tree.size + 2);

    const down = flaky(store, 'getStream', 1);
    await copyStoreToDir(down, 'data', 'retry', path.join(root, 'retry-down'), { baseDelayMs: 1 });
    assert.deepEqual(readTree(path.join(root, 'retry-down')), tree);

    const denied = flaky(store, 'putStream', 1, false);
    await assert.rejects(copyDirToStore(path.join(root, 'src'), denied, 'data', 'denied', { concurrency: 1, baseDelayMs: 1 }), /injected failure 1/);
    assert.equal(denied.calls, 1, 'the first failure stops the copy');

    const always = flaky(store, 'putStream', 100);
    await assert.rejects(uploadFile(path.join(root, 'src/a.txt'), always, 'data', 'x', { retries: 2, baseDelayMs: 1 }), /injected failure 3/);

    let n = 0;
    assert.equal(await withRetry(async () => (++n < 3 ? Promise.reject(Object.assign(new Error('reset'), { code: 'ECONNRESET' })) : 'ok'), { baseDelayMs: 1 }), 'ok');
  });

  test('a download never writes outside the target folder, whatever the listed keys', async () => {
    const evil = Object.create(store) as ObjectStore;
    evil.list = async () => ({ objects: [{ key: 'p/../../escaped.txt', size: 1, lastModified: new Date() }], folders: [] });
    await assert.rejects(copyStoreToDir(evil, 'data', 'p/', path.join(root, 'evil')), code('InvalidKey'));
    assert.equal(existsSync(path.join(root, 'escaped.txt')), false);
  });
});
