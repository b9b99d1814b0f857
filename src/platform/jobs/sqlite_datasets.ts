// The dataset repository ("my datasets") over the platform's SQLite database: datasets in one table, versions in
// another (the whole version record as JSON, with its status beside it). Version numbers are allocated inside a
// transaction, so concurrent imports of one dataset get distinct numbers.
import { randomUUID } from 'node:crypto';
import type {
  Dataset,
  DatasetRepository,
  DatasetVersion,
  NewDataset,
  NewVersion,
  VersionPatch,
} from '../datasets/repository.js';
import type { Database } from './db.js';
import { newVersionRecord } from '../datasets/repository.js';

interface DatasetRow {
  id: string;
  name: string;
  description: string;
  source: string | null;
  created_at: string;
  updated_at: string;
}

function toDataset(r: DatasetRow): Dataset {
  const d: Dataset = { id: r.id, name: r.name, description: r.description, createdAt: r.created_at, updatedAt: r.updated_at };
  if (r.source) d.source = r.source;
  return d;
}

export class SqliteDatasetRepository implements DatasetRepository {
  constructor(private readonly db: Database) {}

  async createDataset(input: NewDataset): Promise<Dataset> {
    const now = new Date().toISOString();
    const row: DatasetRow = {
      id: `ds-${randomUUID()}`,
      name: input.name,
      description: input.description ?? '',
      source: input.source ?? null,
      created_at: now,
      updated_at: now,
    };
    try {
      this.db
        .prepare('INSERT INTO datasets (id, name, description, source, created_at, updated_at) VALUES (@id, @name, @description, @source, @created_at, @updated_at)')
        .run(row);
    } catch (e) {
      if (/UNIQUE/.test((e as Error).message)) throw new Error(`dataset '${input.name}' already exists`);
      throw e;
    }
    return toDataset(row);
  }

  async getDataset(id: string): Promise<Dataset | undefined> {
    const r = this.db.prepare('SELECT * FROM datasets WHERE id = ?').get(id) as DatasetRow | undefined;
    return r && toDataset(r);
  }

  async getDatasetByName(name: string): Promise<Dataset | undefined> {
    const r = this.db.prepare('SELECT * FROM datasets WHERE name = ?').get(name) as DatasetRow | undefined;
    return r && toDataset(r);
  }

  async listDatasets(): Promise<Dataset[]> {
    return (this.db.prepare('SELECT * FROM datasets ORDER BY name').all() as DatasetRow[]).map(toDataset);
  }

  async createVersion(input: NewVersion): Promise<DatasetVersion> {
    return this.db.transaction(() => {
      const ds = this.db.prepare('SELECT * FROM datasets WHERE id = ?').get(input.datasetId) as DatasetRow | undefined;
      if (!ds) throw new Error(`no dataset with id '${input.datasetId}'`);
      const now = new Date().toISOString();
      const max = this.db.prepare('SELECT MAX(version) AS m FROM dataset_versions WHERE dataset_id = ?').get(ds.id) as { m: number | null };
      const v = newVersionRecord({ id: ds.id, name: ds.name }, (max.m ?? 0) + 1, input, now);
      this.db
        .prepare('INSERT INTO dataset_versions (id, dataset_id, version, status, record) VALUES (?, ?, ?, ?, ?)')
        .run(v.id, v.datasetId, v.version, v.status, JSON.stringify(v));
      this.db.prepare('UPDATE datasets SET updated_at = ? WHERE id = ?').run(now, ds.id);
      return v;
    })();
  }

  async updateVersion(id: string, patch: VersionPatch): Promise<DatasetVersion> {
    return this.db.transaction(() => {
      const r = this.db.prepare('SELECT record FROM dataset_versions WHERE id = ?').get(id) as { record: string } | undefined;
      if (!r) throw new Error(`no dataset version with id '${id}'`);
      const v = Object.assign(JSON.parse(r.record) as DatasetVersion, structuredClone(patch), { updatedAt: new Date().toISOString() });
      this.db.prepare('UPDATE dataset_versions SET status = ?, record = ? WHERE id = ?').run(v.status, JSON.stringify(v), id);
      return v;
    })();
  }

  async getVersion(id: string): Promise<DatasetVersion | undefined> {
    const r = this.db.prepare('SELECT record FROM dataset_versions WHERE id = ?').get(id) as { record: string } | undefined;
    return r && (JSON.parse(r.record) as DatasetVersion);
  }

  async listVersions(datasetId?: string): Promise<DatasetVersion[]> {
    const rows = (
      datasetId === undefined
        ? this.db.prepare('SELECT record FROM dataset_versions ORDER BY version').all()
        : this.db.prepare('SELECT record FROM dataset_versions WHERE dataset_id = ? ORDER BY version').all(datasetId)
    ) as { record: string }[];
    return rows.map((r) => JSON.parse(r.record) as DatasetVersion);
  }

  /** Versions left 'importing' by a service that stopped: mark them failed (an import runs inside the service). */
  failInterruptedImports(reason: string): number {
    const rows = this.db.prepare("SELECT id FROM dataset_versions WHERE status = 'importing'").all() as { id: string }[];
    const now = new Date().toISOString();
    this.db.transaction(() => {
      for (const { id } of rows) {
        const r = this.db.prepare('SELECT record FROM dataset_versions WHERE id = ?').get(id) as { record: string };
        const v = Object.assign(JSON.parse(r.record) as DatasetVersion, { status: 'failed', reason, finishedAt: now, updatedAt: now });
        this.db.prepare('UPDATE dataset_versions SET status = ?, record = ? WHERE id = ?').run('failed', JSON.stringify(v), id);
      }
    })();
    return rows.length;
  }
}
