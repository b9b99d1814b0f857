// Caffe's db::LMDB (src/caffe/util/db_lmdb.cpp) on node-lmdb (LMDB 0.9, synchronous API).
// Like Caffe: a database is a directory holding data.mdb and lock.mdb; NEW mode creates the directory and starts from
// LMDB's default 1 MiB map, doubling it whenever a commit hits MDB_MAP_FULL (Caffe's DoubleMapSize()), so the
// mapsize recorded in data.mdb matches Caffe's and the written data.mdb is byte-identical to Caffe's. LMDB without
// MDB_WRITEMAP never grows the file to the mapsize, so no sparse giant files appear. A transaction collects puts
// and writes them in one LMDB write transaction on commit(), like LMDBTransaction::Commit().
import { createRequire } from 'node:module';
import { mkdirSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import type * as LmdbTypes from 'node-lmdb';
import { logger } from '../util/log.js';
import type { Db, DbCursor, DbRecord, DbTransaction, OpenMode } from './db.js';
import { DbError } from './db.js';

type LmdbModule = typeof LmdbTypes;
let lmdbModule: LmdbModule | undefined;
function lmdb(): LmdbModule {
  return (lmdbModule ??= createRequire(import.meta.url)('node-lmdb') as LmdbModule);
}

const log = logger('db_lmdb.cpp:35');
const MDB_MAP_FULL = -30792;
const EACCES = 13;
const EROFS = 30;
/** LMDB's DEFAULT_MAPSIZE; Caffe leaves it and doubles it on MDB_MAP_FULL. */
export const LMDB_INITIAL_MAPSIZE = 1 << 20;
const KEY = { keyIsBuffer: true } as const;

function lmdbCode(e: unknown): number | undefined {
  const c = (e as { code?: unknown }).code;
  return typeof c === 'number' ? c : undefined;
}

class LmdbCursor implements DbCursor {
  private txn: LmdbTypes.Txn;
  private cur: LmdbTypes.Cursor<Buffer>;
  private k: Buffer | null = null;
  private v: Buffer | null = null;
  private closed = false;

  constructor(
    env: LmdbTypes.Env,
    dbi: LmdbTypes.Dbi,
    private readonly onClose: (c: LmdbCursor) => void,
  ) {
    this.txn = env.beginTxn({ readOnly: true });
    this.cur = new (lmdb().Cursor)<Buffer>(this.txn, dbi, KEY);
    this.seekSync(this.cur.goToFirst(KEY));
  }

  private seekSync(k: Buffer | null): void {
    this.k = k;
    this.v = null;
  }
  seekToFirstSync(): void {
    this.seekSync(this.cur.goToFirst(KEY));
  }
  nextSync(): void {
    if (this.k === null) throw new Error('cursor: next() past the end');
    this.seekSync(this.cur.goToNext(KEY));
  }
  async seekToFirst(): Promise<void> {
    this.seekToFirstSync();
  }
  async next(): Promise<void> {
    this.nextSync();
  }
  valid(): boolean {
    return this.k !== null;
  }
  key(): Buffer {
    if (this.k === null) throw new Error('cursor: key() on an invalid cursor');
    return this.k;
  }
  value(): Buffer {
    if (this.k === null) throw new Error('cursor: value() on an invalid cursor');
    return (this.v ??= this.cur.getCurrentBinary() as Buffer);
  }
  /** Synchronous nextRecord() (LMDB reads are synchronous). */
  nextRecordSync(): DbRecord {
    if (this.k === null) {
      this.seekToFirstSync();
      if (this.k === null) throw new Error('cursor: the database is empty');
    }
    const rec = { key: this.key(), value: this.value() };
    this.nextSync();
    return rec;
  }
  async nextRecord(): Promise<DbRecord> {
    return this.nextRecordSync();
  }
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.cur.close();
    this.txn.abort();
    this.onClose(this);
  }
}

class LmdbTransaction implements DbTransaction {
  private keys: Buffer[] = [];
  private values: Buffer[] = [];
  constructor(private readonly db: LmdbDb) {}
  put(key: string | Uint8Array, value: Uint8Array): void {
    this.keys.push(typeof key === 'string' ? Buffer.from(key, 'latin1') : Buffer.from(key));
    this.values.push(Buffer.from(value));
  }
  get pending(): number {
    return this.keys.length;
  }
  async commit(): Promise<void> {
    this.db.commitSync(this.keys, this.values);
    this.keys = [];
    this.values = [];
  }
}

export class LmdbDb implements Db {
  readonly backend = 'lmdb' as const;
  private cursors = new Set<LmdbCursor>();
  private closed = false;

  constructor(
    readonly path: string,
    readonly mode: OpenMode,
    private readonly env: LmdbTypes.Env,
    private readonly dbi: LmdbTypes.Dbi,
  ) {}

  /** A cursor on a read snapshot, positioned at the first record. */
  async newCursor(): Promise<LmdbCursor> {
    return this.newCursorSync();
  }
  newCursorSync(): LmdbCursor {
    const c = new LmdbCursor(this.env, this.dbi, (x) => this.cursors.delete(x));
    this.cursors.add(c);
    return c;
  }
  newTransaction(): LmdbTransaction {
    if (this.mode !== 'new') throw new Error(`${this.path}: opened read-only; cannot write`);
    return new LmdbTransaction(this);
  }
  async count(_limit?: number): Promise<number> {
    const txn = this.env.beginTxn({ readOnly: true });
    try {
      return this.dbi.stat(txn).entryCount;
    } finally {
      txn.abort();
    }
  }
  /** The current map size (bytes). */
  mapSize(): number {
    return this.env.info().mapSize;
  }

  /** Caffe's LMDBTransaction::Commit(): one write txn; on MDB_MAP_FULL abort, double the map size and retry. */
  commitSync(keys: Buffer[], values: Buffer[]): void {
    for (;;) {
      const txn = this.env.beginTxn();
      try {
        for (let i = 0; i < keys.length; i++) txn.putBinary(this.dbi, keys[i]!, values[i]!, KEY);
        txn.commit();
        return;
      } catch (e) {
        if (lmdbCode(e) !== MDB_MAP_FULL) {
          try {
            txn.abort();
          } catch {
            /* already finished */
          }
          throw new Error(`${this.path}: LMDB write failed (${(e as Error).message})`);
        }
        try {
          txn.abort();
        } catch {
          /* a failed commit already freed it */
        }
        this.env.resize(this.env.info().mapSize * 2);
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    for (const c of [...this.cursors]) await c.close();
    this.closed = true;
    const shared = [...sharedEnvs.entries()].find(([, v]) => v.env === this.env);
    if (shared) {
      if (--shared[1].refs > 0) return;
      sharedEnvs.delete(shared[0]);
    }
    this.dbi.close();
    this.env.close();
  }
}

// LMDB must not open one environment twice in a process (node-lmdb crashes; closing one breaks the other's locks), so
// read-only opens of the same directory share one Env, reference-counted (e.g. a train and a test net on one DB).
const sharedEnvs = new Map<string, { env: LmdbTypes.Env; dbi: LmdbTypes.Dbi; refs: number }>();

function envKey(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

function openEnv(path: string, mode: OpenMode, noLock: boolean): LmdbTypes.Env {
  const env = new (lmdb().Env)();
  const opts: LmdbTypes.EnvOptions = { path };
  if (mode === 'read') opts.readOnly = true;
  else opts.mapSize = LMDB_INITIAL_MAPSIZE;
  if (noLock) opts.unsafeNoLock = true;
  env.open(opts);
  return env;
}

/** Open an LMDB directory (the caller has checked what is at `path`). `name` is the path to print. */
export function openLmdb(path: string, mode: OpenMode, name: string, quiet = false): LmdbDb {
  if (mode === 'new') {
    try {
      mkdirSync(path, { recursive: false, mode: 0o744 });
    } catch (e) {
      throw new DbError('exists', `${name}: mkdir failed (${(e as Error).message})`);
    }
  }
  const key = envKey(path);
  const shared = sharedEnvs.get(key);
  if (shared) {
    if (mode === 'new') throw new DbError('exists', `${name}: the database is open for reading in this process`);
    shared.refs++;
    if (!quiet) log.info(`Opened lmdb ${name}`);
    return new LmdbDb(path, mode, shared.env, shared.dbi);
  }
  let env: LmdbTypes.Env;
  try {
    env = openEnv(path, mode, false);
  } catch (e) {
    const code = lmdbCode(e);
    if (mode === 'read' && (code === EACCES || code === EROFS)) {
      // Caffe's ALLOW_LMDB_NOLOCK: a read-only directory (lock.mdb cannot be written) is read without the lock file.
      logger('db_lmdb.cpp:26').warn('Permission denied. Trying with MDB_NOLOCK ...');
      try {
        env = openEnv(path, mode, true);
      } catch (e2) {
        throw new DbError('invalid', `${name}: cannot open LMDB (${(e2 as Error).message})`);
      }
    } else {
      throw new DbError('invalid', `${name}: cannot open LMDB (${(e as Error).message})`);
    }
  }
  let dbi: LmdbTypes.Dbi;
  try {
    dbi = env.openDbi({ name: null, create: mode === 'new', ...KEY });
  } catch (e) {
    env.close();
    throw new DbError('invalid', `${name}: cannot open LMDB (${(e as Error).message})`);
  }
  if (!quiet) log.info(`Opened lmdb ${name}`);
  if (mode === 'read') sharedEnvs.set(key, { env, dbi, refs: 1 });
  return new LmdbDb(path, mode, env, dbi);
}
