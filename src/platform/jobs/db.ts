// The platform's metadata database: one SQLite file (better-sqlite3, WAL journal) holding jobs, job versions and the
// dataset repository. Every write that touches more than one row runs in a transaction; the schema is created (and
// migrated by `user_version`) on open.
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';

export type Database = BetterSqlite3.Database;

const require = createRequire(import.meta.url);

const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  latest_version INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS job_versions (
  id TEXT PRIMARY KEY,
  job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  version INTEGER NOT NULL,
  spec TEXT NOT NULL,
  status TEXT NOT NULL,
  reason TEXT,
  exit_code INTEGER,
  pid INTEGER,
  copies INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  started_at TEXT,
  running_at TEXT,
  finished_at TEXT,
  UNIQUE (job_id, version)
);
CREATE INDEX IF NOT EXISTS job_versions_status ON job_versions(status);
CREATE TABLE IF NOT EXISTS datasets (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL DEFAULT '',
  source TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dataset_versions (
  id TEXT PRIMARY KEY,
  dataset_id TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
  version INTEGER NOT NULL,
  status TEXT NOT NULL,
  record TEXT NOT NULL,
  UNIQUE (dataset_id, version)
);
`;

/** Open (creating when missing) the metadata database at `file` (':memory:' for a private in-memory one). */
export function openDatabase(file: string): Database {
  if (file !== ':memory:') mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  let Ctor: typeof BetterSqlite3;
  try {
    Ctor = require('better-sqlite3') as typeof BetterSqlite3;
  } catch (e) {
    throw new Error(`cannot load better-sqlite3 (the SQLite metadata store): ${(e as Error).message}`);
  }
  const db = new Ctor(file);
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  const v = db.pragma('user_version', { simple: true }) as number;
  if (v > SCHEMA_VERSION) {
    db.close();
    throw new Error(`${file}: metadata schema version ${v} is newer than this tscaffe understands (${SCHEMA_VERSION})`);
  }
  db.transaction(() => {
    db.exec(SCHEMA);
    // databases made before the attempts column
    const cols = db.prepare('PRAGMA table_info(job_versions)').all() as { name: string }[];
    if (!cols.some((c) => c.name === 'attempts')) db.exec('ALTER TABLE job_versions ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0');
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  })();
  return db;
}
