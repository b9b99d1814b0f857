// "My datasets": importing a market dataset into object storage as a new dataset version.
//
//   const v = await svc.importDataset({ market: 'mnist', name: 'mnist', path: 's3://bucket/mnist/' }); // status importing
//   const done = await svc.waitForVersion(v.id);                                                       // normal | failed
//
// An import copies the IDX files to the storage folder and, for format 'lmdb' or 'both' (the default), converts them
// to Caffe LMDBs (e.g. mnist_train_lmdb/, mnist_test_lmdb/) in a scratch folder and uploads those beside them. Each
// file's size and sha256 are recorded (hashed from the bytes as they are sent, then the stored size is checked). The
// work runs in the background; everything it needs is in the version record, so another process can run it
// (runImport) and anyone can wait for it through the repository.
import { mkdtemp, rm, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { convertMnistData } from '../../tools/convert_mnist_data.js';
import { logger } from '../../util/log.js';
import { copyDirToStore, runPool, uploadFile, type CopyOptions } from '../storage/copy.js';
import { errorMessage, StorageError } from '../storage/errors.js';
import type { ObjectStore } from '../storage/store.js';
import { folderPrefix, formatStorageUrl, parseStorageUrl } from '../storage/url.js';
import { getMarketDataset, idxFilesOf, listMarket, type MarketDataset, type MarketOptions } from './market.js';
import type { Dataset, DatasetFile, DatasetFormat, DatasetRepository, DatasetVersion } from './repository.js';

const log = logger('datasets/service.ts:0');

export const DATASET_FORMATS: readonly DatasetFormat[] = ['idx', 'lmdb', 'both'];

export interface ImportProgress {
  phase: 'idx' | 'convert' | 'lmdb' | 'verify';
  bytesDone: number;
  bytesTotal: number;
}

export interface ImportRequest {
  /** Market dataset name, e.g. 'mnist'. */
  market: string;
  /** Name in "my datasets"; an existing dataset of that name gets a new version. */
  name: string;
  /** Storage folder URL: s3://bucket/dir/, obs://bucket/dir/ or /bucket/dir/. */
  path: string;
  format?: DatasetFormat;
  description?: string;
  /** Start the import in this process (default true); false only records the version (another process runs it). */
  start?: boolean;
  onProgress?: (p: ImportProgress) => void;
}

export interface DatasetServiceOptions {
  repo: DatasetRepository;
  /** The store the storage URLs refer to. */
  store: ObjectStore;
  /** Scratch folder for LMDB conversion (a subfolder per import, removed afterwards). */
  workDir: string;
  market?: MarketOptions;
  /** Parallelism and retries of the uploads. */
  copy?: Pick<CopyOptions, 'concurrency' | 'retries' | 'baseDelayMs' | 'maxDelayMs'>;
}

export interface DatasetWithVersions {
  dataset: Dataset;
  versions: DatasetVersion[];
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export class DatasetService {
  readonly repo: DatasetRepository;
  readonly store: ObjectStore;
  private readonly running = new Map<string, Promise<DatasetVersion>>();

  constructor(private readonly opts: DatasetServiceOptions) {
    this.repo = opts.repo;
    this.store = opts.store;
  }

  listMarket(all = false): MarketDataset[] {
    return listMarket({ ...this.opts.market, all });
  }

  /** Validate the request, record the dataset (when new) and a version in status 'importing', start the import. */
  async importDataset(req: ImportRequest): Promise<DatasetVersion> {
    const format = req.format ?? 'both';
    if (!DATASET_FORMATS.includes(format)) throw new Error(`invalid format '${format}' (expected idx, lmdb or both)`);
    if (!NAME_RE.test(req.name)) {
      throw new Error(`invalid dataset name '${req.name}' (1-64 letters, digits, '_', '.', '-', starting with a letter or digit)`);
    }
    const ds = getMarketDataset(req.market, this.opts.market);
    if (!ds.available) throw new Error(`market dataset '${ds.name}' is not available: ${ds.unavailableReason}`);
    const u = parseStorageUrl(req.path);
    const storageUrl = formatStorageUrl(u.bucket, folderPrefix(u.key), u.scheme).replace(/([^/])$/, '$1/');

    let dataset = await this.repo.getDatasetByName(req.name);
    if (!dataset) {
      try {
        dataset = await this.repo.createDataset({ name: req.name, description: req.description ?? ds.title, source: `market:${ds.name}` });
      } catch (e) {
        dataset = await this.repo.getDatasetByName(req.name); // created meanwhile by a concurrent import
        if (!dataset) throw e;
      }
    }
    const version = await this.repo.createVersion({
      datasetId: dataset.id,
      storageUrl,
      store: this.store.spec,
      format,
      source: `market:${ds.name}`,
      stats: { trainCount: ds.trainCount, testCount: ds.testCount, classes: ds.classes, imageShape: ds.imageShape },
    });
    log.info(`Importing market dataset ${ds.name} into ${req.name} v${version.version} at ${storageUrl} (format ${format})`);
    if (req.start !== false) this.start(version.id, req.onProgress);
    return version;
  }

  /** Run an import in the background; its promise never rejects. */
  private start(id: string, onProgress?: (p: ImportProgress) => void): Promise<DatasetVersion> {
    const task = this.runImport(id, onProgress).finally(() => this.running.delete(id));
    this.running.set(id, task);
    return task;
  }

  /**
   * Do the import of version `id` (status 'importing') and record the outcome: 'normal' with the files, or 'failed'
   * with the reason. Resolves with the final version; rejects only when the repository itself fails.
   */
  async runImport(id: string, onProgress?: (p: ImportProgress) => void): Promise<DatasetVersion> {
    const v = await this.repo.getVersion(id);
    if (!v) throw new Error(`no dataset version with id '${id}'`);
    if (v.status !== 'importing') return v;
    let work: string | undefined;
    try {
      const files: DatasetFile[] = [];
      const ds = getMarketDataset(v.source.replace(/^market:/, ''), this.opts.market);
      const idx = idxFilesOf(ds);
      const { bucket, key } = parseStorageUrl(v.storageUrl);
      const prefix = folderPrefix(key);
      const copyOpts: CopyOptions = { ...this.opts.copy, checksum: true };
      const fileUrl = (rel: string) => v.storageUrl + rel;

      if (v.format !== 'lmdb') {
        const total = ds.totalBytes;
        const done = new Map<string, number>();
        await runPool(ds.files, 4, async (f) => {
          const r = await uploadFile(f.path, this.store, bucket, prefix + f.name, {
            ...copyOpts,
            onProgress: (p) => {
              done.set(f.name, p.bytesDone);
              onProgress?.({ phase: 'idx', bytesDone: [...done.values()].reduce((a, b) => a + b, 0), bytesTotal: total });
            },
          });
          files.push({ path: f.name, url: fileUrl(f.name), size: r.size, sha256: r.sha256!, kind: 'idx', role: f.role });
        });
      }

      if (v.format !== 'idx') {
        await mkdir(this.opts.workDir, { recursive: true });
        work = await mkdtemp(path.join(this.opts.workDir, `import-${v.version}-`));
        onProgress?.({ phase: 'convert', bytesDone: 0, bytesTotal: 0 });
        await convertMnistData(idx.trainImages, idx.trainLabels, path.join(work, ds.lmdb.train), { backend: 'lmdb', progress: false });
        await convertMnistData(idx.testImages, idx.testLabels, path.join(work, ds.lmdb.test), { backend: 'lmdb', progress: false });
        const res = await copyDirToStore(work, this.store, bucket, prefix, {
          ...copyOpts,
          onProgress: (p) => onProgress?.({ phase: 'lmdb', bytesDone: p.bytesDone, bytesTotal: p.bytesTotal }),
        });
        for (const f of res.files) {
          const role = f.rel.startsWith(ds.lmdb.train + '/') ? 'train' : 'test';
          files.push({ path: f.rel, url: fileUrl(f.rel), size: f.size, sha256: f.sha256!, kind: 'lmdb', role });
        }
      }

      onProgress?.({ phase: 'verify', bytesDone: 0, bytesTotal: files.length });
      for (const f of files) {
        const info = await this.store.head(bucket, prefix + f.path);
        if (!info) throw new StorageError('NoSuchKey', `${f.url}: missing right after upload`);
        if (info.size !== f.size) throw new StorageError('Failed', `${f.url}: stored size ${info.size} differs from the ${f.size} bytes sent`);
      }
      files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
      const totalBytes = files.reduce((s, f) => s + f.size, 0);
      log.info(`Imported ${v.datasetName} v${v.version}: ${files.length} files, ${totalBytes} bytes at ${v.storageUrl}`);
      return await this.repo.updateVersion(id, { status: 'normal', files, totalBytes, finishedAt: new Date().toISOString() });
    } catch (e) {
      const reason = errorMessage(e);
      log.error(`Import of ${v.datasetName} v${v.version} failed: ${reason}`);
      return await this.repo.updateVersion(id, { status: 'failed', reason, finishedAt: new Date().toISOString() });
    } finally {
      if (work) await rm(work, { recursive: true, force: true });
    }
  }

  /**
   * Resolves with the version once it is 'normal' or 'failed': at once for imports running in this process, else by
   * polling the repository (imports run by another process). Rejects on an unknown id or after `timeoutMs`.
   */
  async waitForVersion(id: string, opts: { timeoutMs?: number; pollMs?: number } = {}): Promise<DatasetVersion> {
    const deadline = opts.timeoutMs === undefined ? Infinity : Date.now() + opts.timeoutMs;
    for (;;) {
      const task = this.running.get(id);
      if (task) {
        if (deadline === Infinity) return task;
        const left = deadline - Date.now();
        const timer = sleep(Math.max(0, left), 'timeout' as const, { ref: false });
        const r = await Promise.race([task, timer]);
        if (r !== 'timeout') return r;
      } else {
        const v = await this.repo.getVersion(id);
        if (!v) throw new Error(`no dataset version with id '${id}'`);
        if (v.status !== 'importing') return v;
      }
      if (Date.now() >= deadline) throw new Error(`dataset version ${id}: still importing after ${opts.timeoutMs} ms`);
      if (!this.running.has(id)) await sleep(opts.pollMs ?? 200);
    }
  }

  /** Every dataset with its versions. */
  async listDatasets(): Promise<DatasetWithVersions[]> {
    const [datasets, versions] = await Promise.all([this.repo.listDatasets(), this.repo.listVersions()]);
    return datasets.map((dataset) => ({ dataset, versions: versions.filter((v) => v.datasetId === dataset.id) }));
  }

  async getDataset(name: string): Promise<DatasetWithVersions | undefined> {
    const dataset = await this.repo.getDatasetByName(name);
    return dataset && { dataset, versions: await this.repo.listVersions(dataset.id) };
  }

  /** Wait for every import started by this service. */
  async idle(): Promise<void> {
    await Promise.all([...this.running.values()]);
  }
}
