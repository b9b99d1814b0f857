// Caffe's db::LevelDB (src/caffe/util/db_leveldb.cpp) on classic-level (LevelDB 1.20, asynchronous API).
// Caffe's options: block_size 64 KiB, write_buffer_size 256 MiB, max_open_files 100, error_if_exists in NEW mode,
// create_if_missing unless READ. A transaction is a WriteBatch written on commit(). The cursor streams: it reads
// ahead in small chunks (nextv) and never holds more than about `readAheadBytes` of records.
// LevelDB has no read-only mode: opening a database (even to read) may rewrite its directory (replays the log).
import type { ClassicLevel } from 'classic-level';
import { logger } from '../util/log.js';
import type { Db, DbCursor, DbRecord, DbTransaction, OpenMode } from './db.js';
import { DbError } from './db.js';

type Level = ClassicLevel<Buffer, Buffer>;
type LevelIterator = ReturnType<Level['iterator']>;
const BUF = { keyEncoding: 'buffer', valueEncoding: 'buffer' } as const;
const log = logger('db_leveldb.cpp:18');

const READ_AHEAD_RECORDS = 256;
const READ_AHEAD_BYTES = 1 << 20;

class LevelCursor implements DbCursor {
  private it: LevelIterator | undefined;
  private buf: [Buffer, Buffer][] = [];
  private idx = 0;
  private exhausted = false;
  private closed = false;

  constructor(
    private readonly db: Level,
    private readonly onClose: (c: LevelCursor) => void,
  ) {}

  private async fill(): Promise<void> {
    this.buf = (await this.it!.nextv(READ_AHEAD_RECORDS)) as [Buffer, Buffer][];
    this.idx = 0;
    if (this.buf.length === 0) this.exhausted = true;
  }
  async seekToFirst(): Promise<void> {
    if (this.closed) throw new Error('cursor: closed');
    if (this.it) await this.it.close();
    this.it = this.db.iterator({ ...BUF, highWaterMarkBytes: READ_AHEAD_BYTES });
    this.exhausted = false;
    await this.fill();
  }
  async next(): Promise<void> {
    if (!this.valid()) throw new Error('cursor: next() past the end');
    this.idx++;
    if (this.idx >= this.buf.length && !this.exhausted) await this.fill();
  }
  valid(): boolean {
    return this.idx < this.buf.length;
  }
  key(): Buffer {
    if (!this.valid()) throw new Error('cursor: key() on an invalid cursor');
    return this.buf[this.idx]![0];
  }
  value(): Buffer {
    if (!this.valid()) throw new Error('cursor: value() on an invalid cursor');
    return this.buf[this.idx]![1];
  }
  async nextRecord(): Promise<DbRecord> {
    if (!this.valid()) {
      await this.seekToFirst();
      if (!this.valid()) throw new Error('cursor: the database is empty');
    }
    const rec = { key: this.key(), value: this.value() };
    await this.next();
    return rec;
  }
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.it) await this.it.close();
    this.buf = [];
    this.onClose(this);
  }
}

class LevelTransaction implements DbTransaction {
  private ops: { type: 'put'; key: Buffer; value: Buffer }[] = [];
  constructor(private readonly db: Level) {}
  put(key: string | Uint8Array, value: Uint8Array): void {
    this.ops.push({
      type: 'put',
      key: typeof key === 'string' ? Buffer.from(key, 'latin1') : Buffer.from(key),
      value: Buffer.from(value),
    });
  }
  get pending(): number {
    return this.ops.length;
  }
  async commit(): Promise<void> {
    const ops = this.ops;
    this.ops = [];
    await this.db.batch(ops, BUF);
  }
}

export class LevelDb implements Db {
  readonly backend = 'leveldb' as const;
  private cursors = new Set<LevelCursor>();
  private closed = false;
  constructor(
    readonly path: string,
    readonly mode: OpenMode,
    private readonly db: Level,
  ) {}
  async newCursor(): Promise<LevelCursor> {
    const c = new LevelCursor(this.db, (x) => this.cursors.delete(x));
    this.cursors.add(c);
    await c.seekToFirst();
    return c;
  }
  newTransaction(): LevelTransaction {
    if (this.mode !== 'new') throw new Error(`${this.path}: opened for reading; cannot write`);
    return new LevelTransaction(this.db);
  }
  /** Counts by iterating over the keys (streaming); stops once `limit` is reached. */
  async count(limit = Infinity): Promise<number> {
    const it = this.db.keys({ keyEncoding: 'buffer', highWaterMarkBytes: READ_AHEAD_BYTES });
    let n = 0;
    try {
      for (;;) {
        const ks = await it.nextv(1000);
        if (ks.length === 0) return n;
        n += ks.length;
        if (n >= limit) return n;
      }
    } finally {
      await it.close();
    }
  }
  async close(): Promise<void> {
    if (this.closed) return;
    for (const c of [...this.cursors]) await c.close();
    this.closed = true;
    await this.db.close();
  }
}

/** Open a LevelDB directory (the caller has checked what is at `path`). `name` is the path to print. */
export async function openLeveldb(path: string, mode: OpenMode, name: string, quiet = false): Promise<LevelDb> {
  const { ClassicLevel } = await import('classic-level');
  const db = new ClassicLevel<Buffer, Buffer>(path, BUF);
  try {
    await db.open({
      createIfMissing: mode !== 'read',
      errorIfExists: mode === 'new',
      blockSize: 65536,
      writeBufferSize: 268435456,
      maxOpenFiles: 100,
    });
  } catch (e) {
    const err = e as Error & { cause?: Error };
    const detail = err.cause?.message ?? err.message;
    if (/exists/i.test(detail)) throw new DbError('exists', `${name}: already exists (${detail})`);
    throw new DbError('invalid', `${name}: cannot open LevelDB (${detail})`);
  }
  if (!quiet) log.info(`Opened leveldb ${name}`);
  return new LevelDb(path, mode, db);
}
