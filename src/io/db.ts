// Caffe's db::DB abstraction (include/caffe/util/db.hpp): a key-value store of serialized Datums, LMDB or LevelDB.
//
//   const db = await openDb('mnist_train_lmdb', 'lmdb', 'read');
//   const cur = await db.newCursor();            // positioned at the first record, keys in byte order
//   while (cur.valid()) { use(cur.key(), cur.value()); await cur.next(); }
//   await db.close();                            // also closes its cursors
//
// Writing: `const txn = db.newTransaction(); txn.put(key, value); ...; await txn.commit();` (Caffe's tools commit
// every 1000 puts). Reading never loads the whole database: LMDB reads from its memory map (synchronously; the
// cursor holds one read snapshot), LevelDB reads ahead a few hundred records at a time.
//
// For a training data layer use DatumBatchReader: `readBatch(n)` returns the next n values in key order, wrapping
// around to the first record at the end like Caffe's DataLayer ("Restarting data prefetching from start.", reported
// through the onRestart option). Calls queue, so the next batch can be requested before the current one is used:
//
//   const reader = await DatumBatchReader.open(source, 'lmdb', { onRestart: () => log.info('Restarting ...') });
//   let pending = reader.readDatumBatch(64);     // prefetch
//   for (...) { const batch = await pending; pending = reader.readDatumBatch(64); train(batch); }
import { existsSync, statSync } from 'node:fs';
import { decodeDatumBatch, type DatumBatch } from './datum.js';

export type Backend = 'lmdb' | 'leveldb';
export type OpenMode = 'read' | 'new';

export interface DbRecord {
  key: Buffer;
  value: Buffer;
}

/** Caffe's db::Cursor. A new cursor is already positioned at the first record. */
export interface DbCursor {
  seekToFirst(): Promise<void>;
  /** Advance; after the last record valid() turns false. */
  next(): Promise<void>;
  valid(): boolean;
  key(): Buffer;
  value(): Buffer;
  /**
   * The current record, then advance; at the end wrap around to the first record (Caffe's DataLayer::Next()).
   * Throws when the database is empty.
   */
  nextRecord(): Promise<DbRecord>;
  close(): Promise<void>;
}

/** Caffe's db::Transaction: puts are buffered and written by commit(). Keys and values are copied on put. */
export interface DbTransaction {
  put(key: string | Uint8Array, value: Uint8Array): void;
  /** Puts buffered since the last commit. */
  readonly pending: number;
  commit(): Promise<void>;
}

export interface Db {
  readonly path: string;
  readonly backend: Backend;
  readonly mode: OpenMode;
  newCursor(): Promise<DbCursor>;
  newTransaction(): DbTransaction;
  /** Number of records (LMDB: from the B-tree stats; LevelDB: by iterating keys, stopping at `limit`). */
  count(limit?: number): Promise<number>;
  close(): Promise<void>;
}

export type DbErrorCode = 'missing' | 'wrong-kind' | 'exists' | 'not-a-db' | 'invalid';

/** An Error whose message is one line starting with the database path; `code` says what went wrong. */
export class DbError extends Error {
  constructor(
    readonly code: DbErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'DbError';
  }
}

export interface OpenDbOptions {
  /** The path to print in log lines and errors (default: the path). */
  name?: string;
  /** Don't log "Opened lmdb ..." (Caffe logs it on every open). */
  quiet?: boolean;
  /** How to tell the user to pick the other backend (default: `use --backend=<other>`). */
  backendHint?: (other: Backend) => string;
}

export function parseBackend(s: string | undefined, what = 'backend'): Backend {
  const v = (s ?? 'lmdb').toLowerCase();
  if (v === 'lmdb' || v === 'leveldb') return v;
  throw new Error(`${what}: unknown database backend '${s}' (expected lmdb or leveldb)`);
}

/** What kind of database is at `path`: 'lmdb' (data.mdb), 'leveldb' (CURRENT), or null (neither, or missing). */
export function detectBackend(path: string): Backend | null {
  try {
    if (!statSync(path).isDirectory()) return null;
  } catch {
    return null;
  }
  if (existsSync(`${path}/data.mdb`)) return 'lmdb';
  if (existsSync(`${path}/CURRENT`)) return 'leveldb';
  return null;
}

const LABEL: Record<Backend, string> = { lmdb: 'LMDB', leveldb: 'LevelDB' };
const MARKER: Record<Backend, string> = { lmdb: 'data.mdb', leveldb: 'CURRENT' };

/** Check what is at `path` before opening it; throws a DbError with one clear line. */
export function checkDbPath(path: string, backend: Backend, mode: OpenMode, opts: OpenDbOptions = {}): void {
  const name = opts.name ?? path;
  let st;
  try {
    st = statSync(path);
  } catch {
    st = undefined;
  }
  if (mode === 'new') {
    if (st) throw new DbError('exists', `${name}: already exists (refusing to overwrite a database; remove it or pick another path)`);
    return;
  }
  if (!st) throw new DbError('missing', `${name}: no such database (the path does not exist)`);
  if (!st.isDirectory()) throw new DbError('not-a-db', `${name}: not a database directory (it is a file)`);
  if (existsSync(`${path}/${MARKER[backend]}`)) return;
  const other: Backend = backend === 'lmdb' ? 'leveldb' : 'lmdb';
  const hint = opts.backendHint ?? ((b: Backend) => `use --backend=${b}`);
  const what = `${name}: no ${LABEL[backend]} database here (missing ${MARKER[backend]})`;
  if (existsSync(`${path}/${MARKER[other]}`)) {
    throw new DbError('wrong-kind', `${what}; is it ${other === 'lmdb' ? 'an' : 'a'} ${LABEL[other]}? ${hint(other)}`);
  }
  throw new DbError('not-a-db', what);
}

/**
 * Caffe's db::GetDB(backend)->Open(path, mode). 'read' opens an existing database; 'new' creates it and fails when
 * the path exists. Errors are DbErrors naming the path.
 */
export async function openDb(path: string, backend: Backend, mode: OpenMode, opts: OpenDbOptions = {}): Promise<Db> {
  checkDbPath(path, backend, mode, opts);
  const name = opts.name ?? path;
  if (backend === 'lmdb') {
    const { openLmdb } = await import('./lmdb.js');
    return openLmdb(path, mode, name, opts.quiet);
  }
  const { openLeveldb } = await import('./leveldb.js');
  return openLeveldb(path, mode, name, opts.quiet);
}

export interface DatumBatchReaderOptions extends OpenDbOptions {
  /** Called each time the cursor wraps around to the first record. */
  onRestart?: () => void;
}

/**
 * Sequential reader of serialized records for a data layer: readBatch(n) gives the next n values in key order,
 * wrapping around at the end. Calls are queued (each starts where the previous ended), so a caller may request the
 * next batch before awaiting the current one. Values are fresh Buffers the caller may keep.
 */
export class DatumBatchReader {
  private tail: Promise<unknown> = Promise.resolve();
  private served = 0;
  private restarts = 0;

  private constructor(
    readonly db: Db,
    private readonly cursor: DbCursor,
    private readonly onRestart?: () => void,
  ) {}

  static async open(path: string, backend: Backend, opts: DatumBatchReaderOptions = {}): Promise<DatumBatchReader> {
    const db = await openDb(path, backend, 'read', opts);
    try {
      const cursor = await db.newCursor();
      if (!cursor.valid()) throw new DbError('invalid', `${opts.name ?? path}: the database is empty`);
      return new DatumBatchReader(db, cursor, opts.onRestart);
    } catch (e) {
      await db.close();
      throw e;
    }
  }

  /** Records handed out so far. */
  get position(): number {
    return this.served;
  }
  /** How many times reading wrapped around to the first record. */
  get epochsCompleted(): number {
    return this.restarts;
  }

  private async read(n: number): Promise<Buffer[]> {
    const out: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      out.push(this.cursor.value());
      await this.cursor.next();
      if (!this.cursor.valid()) {
        this.restarts++;
        this.onRestart?.();
        await this.cursor.seekToFirst();
      }
    }
    this.served += n;
    return out;
  }

  /** The next n serialized values (Datum bytes), wrapping around at the end. */
  readBatch(n: number): Promise<Buffer[]> {
    if (!Number.isInteger(n) || n <= 0) return Promise.reject(new Error(`readBatch: batch size must be positive, got ${n}`));
    const p = this.tail.then(() => this.read(n));
    this.tail = p.catch(() => undefined);
    return p;
  }

  /** The next n records decoded into one float batch (raw pixel values and labels). */
  async readDatumBatch(n: number): Promise<DatumBatch> {
    return decodeDatumBatch(await this.readBatch(n), this.db.path);
  }

  async close(): Promise<void> {
    await this.tail;
    await this.db.close();
  }
}
