// Dataset metadata ("my datasets"): datasets, their versions (v1, v2, ...) and each version's files, behind a small
// async repository interface. Two implementations for now: in memory, and a JSON file (read-modify-write under a
// lock file, written atomically, so a CLI process and a background import worker can share it). The records are
// plain JSON values with string ids and ISO dates, so a SQLite implementation maps them onto tables one to one
// (datasets; dataset_versions with files/stats as JSON columns or a dataset_files table).
import { randomUUID } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFileAtomic } from '../../util/atomic.js';
import type { IdxRole } from './market.js';

export type DatasetFormat = 'idx' | 'lmdb' | 'both';
export type VersionStatus = 'importing' | 'normal' | 'failed';

export interface Dataset {
  id: string;
  name: string;
  description: string;
  /** Where it came from, e.g. 'market:mnist'. */
  source?: string;
  createdAt: string;
  updatedAt: string;
}

export interface DatasetFile {
  /** Path relative to the version's storage URL ('/'-separated). */
  path: string;
  url: string;
  size: number;
  sha256: string;
  kind: 'idx' | 'lmdb';
  /** For IDX files: which one; for LMDB files: 'train' or 'test'. */
  role?: IdxRole | 'train' | 'test';
}

export interface DatasetStats {
  trainCount: number;
  testCount: number;
  classes: string[];
  imageShape: { channels: number; height: number; width: number };
}

export interface DatasetVersion {
  id: string;
  datasetId: string;
  datasetName: string;
  /** 1, 2, ... per dataset. */
  version: number;
  status: VersionStatus;
  /** Why it failed. */
  reason?: string;
  /** The folder URL the files were written under (ends in '/'). */
  storageUrl: string;
  /** The store the URL refers to (openStore spec, no credentials). */
  store: string;
  format: DatasetFormat;
  source: string;
  files: DatasetFile[];
  totalBytes: number;
  stats?: DatasetStats;
  createdAt: string;
  updatedAt: string;
  finishedAt?: string;
}

export interface NewDataset {
  name: string;
  description?: string;
  source?: string;
}

export interface NewVersion {
  datasetId: string;
  storageUrl: string;
  store: string;
  format: DatasetFormat;
  source: string;
  stats?: DatasetStats;
}

export type VersionPatch = Partial<Pick<DatasetVersion, 'status' | 'reason' | 'files' | 'totalBytes' | 'stats' | 'finishedAt'>>;

/** A new version record in status `importing` (shared by every repository implementation). */
export function newVersionRecord(ds: Pick<Dataset, 'id' | 'name'>, version: number, input: NewVersion, now: string): DatasetVersion {
  return {
    id: `dsv-${randomUUID()}`,
    datasetId: ds.id,
    datasetName: ds.name,
    version,
    status: 'importing',
    storageUrl: input.storageUrl,
    store: input.store,
    format: input.format,
    source: input.source,
    files: [],
    totalBytes: 0,
    ...(input.stats ? { stats: input.stats } : {}),
    createdAt: now,
    updatedAt: now,
  };
}

export interface DatasetRepository {
  /** Throws when a dataset of that name exists. */
  createDataset(input: NewDataset): Promise<Dataset>;
  getDataset(id: string): Promise<Dataset | undefined>;
  getDatasetByName(name: string): Promise<Dataset | undefined>;
  listDatasets(): Promise<Dataset[]>;
  /** Adds the next version number of the dataset, status 'importing'. */
  createVersion(input: NewVersion): Promise<DatasetVersion>;
  /** Change a version (status, reason, files...); throws for an unknown id. */
  updateVersion(id: string, patch: VersionPatch): Promise<DatasetVersion>;
  getVersion(id: string): Promise<DatasetVersion | undefined>;
  /** Versions of one dataset (or all), oldest first. */
  listVersions(datasetId?: string): Promise<DatasetVersion[]>;
}

interface State {
  datasets: Dataset[];
  versions: DatasetVersion[];
}

const clone = <T>(v: T): T => structuredClone(v);

export class MemoryDatasetRepository implements DatasetRepository {
  protected state: State = { datasets: [], versions: [] };

  /** Run a change on the state (the JSON subclass wraps it in load, lock and save). */
  protected async mutate<T>(fn: (s: State) => T): Promise<T> {
    return clone(fn(this.state));
  }
  protected async read<T>(fn: (s: State) => T): Promise<T> {
    return clone(fn(this.state));
  }

  createDataset(input: NewDataset): Promise<Dataset> {
    return this.mutate((s) => {
      if (s.datasets.some((d) => d.name === input.name)) throw new Error(`dataset '${input.name}' already exists`);
      const now = new Date().toISOString();
      const d: Dataset = { id: `ds-${randomUUID()}`, name: input.name, description: input.description ?? '', createdAt: now, updatedAt: now };
      if (input.source) d.source = input.source;
      s.datasets.push(d);
      return d;
    });
  }

  getDataset(id: string): Promise<Dataset | undefined> {
    return this.read((s) => s.datasets.find((d) => d.id === id));
  }

  getDatasetByName(name: string): Promise<Dataset | undefined> {
    return this.read((s) => s.datasets.find((d) => d.name === name));
  }

  listDatasets(): Promise<Dataset[]> {
    return this.read((s) => [...s.datasets].sort((a, b) => a.name.localeCompare(b.name)));
  }

  createVersion(input: NewVersion): Promise<DatasetVersion> {
    return this.mutate((s) => {
      const ds = s.datasets.find((d) => d.id === input.datasetId);
      if (!ds) throw new Error(`no dataset with id '${input.datasetId}'`);
      const now = new Date().toISOString();
      const version = 1 + Math.max(0, ...s.versions.filter((v) => v.datasetId === ds.id).map((v) => v.version));
      const v = newVersionRecord(ds, version, input, now);
      s.versions.push(v);
      ds.updatedAt = now;
      return v;
    });
  }

  updateVersion(id: string, patch: VersionPatch): Promise<DatasetVersion> {
    return this.mutate((s) => {
      const v = s.versions.find((x) => x.id === id);
      if (!v) throw new Error(`no dataset version with id '${id}'`);
      Object.assign(v, clone(patch), { updatedAt: new Date().toISOString() });
      return v;
    });
  }

  getVersion(id: string): Promise<DatasetVersion | undefined> {
    return this.read((s) => s.versions.find((v) => v.id === id));
  }

  listVersions(datasetId?: string): Promise<DatasetVersion[]> {
    return this.read((s) => s.versions.filter((v) => datasetId === undefined || v.datasetId === datasetId).sort((a, b) => a.version - b.version));
  }
}

/** The repository in one JSON file; every change re-reads the file under `<file>.lock` and rewrites it atomically. */
export class JsonFileDatasetRepository extends MemoryDatasetRepository {
  constructor(
    readonly file: string,
    private readonly lockTimeoutMs = 10_000,
  ) {
    super();
  }

  private load(): void {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        this.state = { datasets: [], versions: [] };
        return;
      }
      throw new Error(`${this.file}: cannot read the dataset metadata (${(e as Error).message})`);
    }
    try {
      const s = JSON.parse(text) as Partial<State>;
      this.state = { datasets: s.datasets ?? [], versions: s.versions ?? [] };
    } catch (e) {
      throw new Error(`${this.file}: corrupt dataset metadata (${(e as Error).message})`);
    }
  }

  private async lock(): Promise<() => void> {
    const lockFile = `${this.file}.lock`;
    const deadline = Date.now() + this.lockTimeoutMs;
    for (;;) {
      try {
        closeSync(openSync(lockFile, 'wx'));
        return () => rmSync(lockFile, { force: true });
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') {
          mkdirSync(path.dirname(path.resolve(this.file)), { recursive: true });
          continue;
        }
        if (code !== 'EEXIST') throw new Error(`${lockFile}: cannot lock the dataset metadata (${(e as Error).message})`);
        try {
          if (Date.now() - statSync(lockFile).mtimeMs > 30_000) rmSync(lockFile, { force: true }); // left by a crash
        } catch {
          /* gone meanwhile */
        }
        if (Date.now() > deadline) throw new Error(`${lockFile}: timed out waiting for the lock on the dataset metadata`);
        await sleep(10 + Math.random() * 20);
      }
    }
  }

  protected override async mutate<T>(fn: (s: State) => T): Promise<T> {
    const unlock = await this.lock();
    try {
      this.load();
      const out = fn(this.state);
      writeFileAtomic(this.file, JSON.stringify(this.state, null, 1) + '\n');
      return clone(out);
    } finally {
      unlock();
    }
  }

  protected override async read<T>(fn: (s: State) => T): Promise<T> {
    this.load();
    return clone(fn(this.state));
  }
}
