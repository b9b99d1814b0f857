// Beyond one machine: `tscaffe serve --queue redis://HOST:PORT` hands job versions to a Redis-backed BullMQ queue and
// `tscaffe worker --queue redis://... --storage SPEC` (on any number of machines) takes them and runs each with the
// same runner (runner.ts) as the local scheduler.
//
// Redis keys (under the queue name, default `tscaffe-jobs`):
//   bull:<name>:*          the BullMQ queue; a BullMQ job's id is the job version's id, its data a RemoteRun.
//   <name>:events          a Redis stream of WorkerEvents (taken, status, copy, log chunks, done) that the service
//                          reads in order and writes into its SQLite metadata and the version's log file; it keeps the
//                          last id read in <dataDir>/queue-events.id, so a restarted service misses nothing.
//   <name>:stop            a pub/sub channel: a version id to stop; the worker running it tells its runner.
// A worker that dies mid-job stops renewing its BullMQ lock; another worker's stalled-job check (every `stallMs`)
// then moves the job to failed (maxStalledCount 0) and the service, listening to QueueEvents, marks the version failed
// with the reason. (Jobs are not retried: a partly trained job's output folder would be rewritten.)
import { fork, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { Queue, QueueEvents, Worker, type ConnectionOptions, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { logger } from '../../util/log.js';
import type { JobSpec, JobStatus } from './model.js';
import { RUNNER_MAIN, type RunConfig, type RunnerMessage } from './runner.js';

const log = logger('jobs/queue.ts:0');

/** What the service puts on the queue: a RunConfig without the machine-local parts. */
export interface RemoteRun {
  jobId: string;
  versionId: string;
  version: number;
  name: string;
  spec: JobSpec;
  copies?: number;
}

export type WorkerEvent =
  | { v: string; type: 'taken'; worker: string }
  | { v: string; type: 'status'; status: 'running' }
  | { v: string; type: 'copy'; n: number }
  | { v: string; type: 'log'; data: string }
  | { v: string; type: 'done'; status: JobStatus; reason?: string; exitCode?: number }
  /** From QueueEvents: BullMQ failed the job (stalled: its worker died). */
  | { v: string; type: 'lost'; reason: string };

export interface QueueTarget {
  connection: { host: string; port: number; password?: string; username?: string; db?: number };
  name: string;
}

/** Parse redis://[user:pass@]host:port[/db][?name=QUEUE]. */
export function parseQueueUrl(url: string): QueueTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`invalid queue URL '${url}' (expected redis://HOST:PORT)`);
  }
  if (u.protocol !== 'redis:') throw new Error(`invalid queue URL '${url}' (expected redis://HOST:PORT)`);
  const db = u.pathname && u.pathname !== '/' ? Number(u.pathname.slice(1)) : undefined;
  if (db !== undefined && !Number.isInteger(db)) throw new Error(`invalid queue URL '${url}': the path must be a database number`);
  return {
    connection: {
      host: u.hostname || '127.0.0.1',
      port: u.port ? Number(u.port) : 6379,
      ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
      ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
      ...(db !== undefined ? { db } : {}),
    },
    name: u.searchParams.get('name') || 'tscaffe-jobs',
  };
}

function redis(t: QueueTarget, opts: { lazy?: boolean } = {}): Redis {
  return new Redis({ ...t.connection, maxRetriesPerRequest: null, lazyConnect: opts.lazy ?? false });
}

function bullConnection(t: QueueTarget): ConnectionOptions {
  return { ...t.connection, maxRetriesPerRequest: null };
}

const streamKey = (t: QueueTarget) => `${t.name}:events`;
const stopChannel = (t: QueueTarget) => `${t.name}:stop`;

/** The service's side of the queue. */
export class JobQueue {
  private closed = false;
  private reading: Promise<void> = Promise.resolve();

  private constructor(
    private readonly t: QueueTarget,
    private readonly queue: Queue,
    private readonly events: QueueEvents,
    private readonly reader: Redis,
    private readonly cmd: Redis,
    private readonly idFile: string,
  ) {}

  static async open(url: string, idFile: string, onEvent: (e: WorkerEvent) => void): Promise<JobQueue> {
    const t = parseQueueUrl(url);
    const cmd = redis(t);
    await cmd.ping();
    const queue = new Queue(t.name, { connection: bullConnection(t) });
    const events = new QueueEvents(t.name, { connection: bullConnection(t) });
    await events.waitUntilReady();
    const q = new JobQueue(t, queue, events, redis(t), cmd, idFile);
    events.on('failed', ({ jobId, failedReason }) => onEvent({ v: jobId, type: 'lost', reason: failedReason }));
    q.reading = q.readEvents(onEvent);
    return q;
  }

  get url(): string {
    return `redis://${this.t.connection.host}:${this.t.connection.port}`;
  }

  private async readEvents(onEvent: (e: WorkerEvent) => void): Promise<void> {
    let last = existsSync(this.idFile) ? readFileSync(this.idFile, 'utf8').trim() || '0' : '0';
    while (!this.closed) {
      let res: [string, [string, string[]][]][] | null;
      try {
        res = (await this.reader.xread('COUNT', 500, 'BLOCK', 1000, 'STREAMS', streamKey(this.t), last)) as typeof res;
      } catch (e) {
        if (this.closed) return;
        log.warn(`reading the worker events: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      for (const [, entries] of res ?? []) {
        for (const [id, fields] of entries) {
          last = id;
          const i = fields.indexOf('e');
          if (i < 0) continue;
          try {
            onEvent(JSON.parse(fields[i + 1]!) as WorkerEvent);
          } catch (e) {
            log.error(`worker event ${id}: ${(e as Error).message}`);
          }
        }
      }
      if (res) writeFileSync(this.idFile, last);
    }
  }

  /** Queue a version (a version already on the queue is not added twice). */
  async dispatch(run: RemoteRun): Promise<void> {
    await this.queue.add('run', run, { jobId: run.versionId, attempts: 1 + (run.spec.retries ?? 0), removeOnComplete: { count: 1000 }, removeOnFail: { count: 1000 } });
  }

  /** The BullMQ state of a version's job ('unknown' when it is not on the queue), with the failure reason. */
  async state(versionId: string): Promise<{ state: string; failedReason?: string }> {
    const j = await this.queue.getJob(versionId);
    if (!j) return { state: 'unknown' };
    return { state: await j.getState(), ...(j.failedReason ? { failedReason: j.failedReason } : {}) };
  }

  /** Take a version off the queue if no worker has it yet; true when removed. */
  async cancelQueued(versionId: string): Promise<boolean> {
    const j = await this.queue.getJob(versionId);
    if (!j) return false;
    const state = await j.getState();
    if (state !== 'waiting' && state !== 'delayed' && state !== 'prioritized') return false;
    try {
      await j.remove();
      return true;
    } catch {
      return false; // taken meanwhile
    }
  }

  /** Ask the worker running the version to stop it. */
  async stop(versionId: string): Promise<void> {
    await this.cmd.publish(stopChannel(this.t), versionId);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.reader.disconnect();
    await this.reading;
    await this.events.close();
    await this.queue.close();
    await this.cmd.quit().catch(() => undefined);
  }
}

export interface WorkerOptions {
  queue: string;
  /** openStore spec the runners open (the same storage as the service's). */
  storage: string;
  workDir: string;
  concurrency?: number;
  /** Lock duration and stalled-job check interval, ms (default 30000). */
  stallMs?: number;
  name?: string;
  env?: NodeJS.ProcessEnv;
}

interface Active {
  child?: ChildProcess;
  stopPending?: boolean;
  shuttingDown?: boolean;
}

function tell(child: ChildProcess | undefined): void {
  try {
    if (child?.connected) child.send({ type: 'stop' });
  } catch {
    /* ending anyway */
  }
}

export interface RunningWorker {
  name: string;
  /** Stop taking jobs; running ones are ended (their runners killed, the versions failed with the reason). */
  close(): Promise<void>;
}

/** `tscaffe worker`: take job versions from the queue and run them. */
export async function startWorker(o: WorkerOptions): Promise<RunningWorker> {
  const t = parseQueueUrl(o.queue);
  const name = o.name ?? `${hostname()}:${process.pid}`;
  const stallMs = o.stallMs ?? 30_000;
  const cmd = redis(t);
  await cmd.ping();
  const sub = redis(t);
  const active = new Map<string, Active>();
  await sub.subscribe(stopChannel(t));
  sub.on('message', (_ch: string, versionId: string) => {
    const a = active.get(versionId);
    if (!a) return;
    log.info(`Stop requested for ${versionId}`);
    if (a.child) tell(a.child);
    else a.stopPending = true;
  });
  const emit = async (e: WorkerEvent): Promise<void> => {
    await cmd.xadd(streamKey(t), 'MAXLEN', '~', '100000', '*', 'e', JSON.stringify(e));
  };

  const processor = async (job: Job<RemoteRun>): Promise<Extract<WorkerEvent, { type: 'done' }>> => {
    const run = job.data;
    const a: Active = {};
    active.set(run.versionId, a);
    const dir = path.join(o.workDir, run.jobId, `v${run.version}`);
    const cfg: RunConfig = { ...run, store: o.storage, workDir: path.join(dir, 'work'), logFile: path.join(dir, 'job.log') };
    let offset = 0;
    const decoder = new StringDecoder('utf8');
    let flushing: Promise<void> = Promise.resolve();
    const flush = (): Promise<void> =>
      (flushing = flushing.then(async () => {
        if (!existsSync(cfg.logFile)) return;
        const fd = openSync(cfg.logFile, 'r');
        try {
          const buf = Buffer.alloc(256 * 1024);
          for (;;) {
            const n = readSync(fd, buf, 0, buf.length, offset);
            if (n <= 0) break;
            offset += n;
            const data = decoder.write(buf.subarray(0, n)); // whole UTF-8 characters only
            if (data) await emit({ v: run.versionId, type: 'log', data });
          }
        } finally {
          closeSync(fd);
        }
      }));
    let final: Extract<WorkerEvent, { type: 'done' }> | undefined;
    try {
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      await emit({ v: run.versionId, type: 'taken', worker: name });
      writeFileSync(cfg.logFile, `[worker ${new Date().toISOString()}] Taken by worker ${name}\n`);
      const cfgFile = path.join(dir, 'run.json');
      await writeFile(cfgFile, JSON.stringify(cfg, null, 1));
      const fd = openSync(cfg.logFile, 'a');
      const child = fork(RUNNER_MAIN, [cfgFile], { stdio: ['ignore', fd, fd, 'ipc'], execArgv: [], detached: true, env: { ...process.env, ...o.env } });
      closeSync(fd);
      a.child = child;
      if (a.stopPending) tell(child);
      child.on('message', (m: RunnerMessage) => {
        if (m.type === 'status') void emit({ v: run.versionId, type: 'status', status: m.status });
        else if (m.type === 'copy') void emit({ v: run.versionId, type: 'copy', n: m.n });
        else if (m.type === 'done') final = { v: run.versionId, ...m };
      });
      const timer = setInterval(() => void flush().catch(() => undefined), 300);
      const exit = await new Promise<string>((res) => {
        child.on('error', (e) => res(`cannot start the runner: ${e.message}`));
        child.on('exit', (code, sig) => res(code !== null ? `exit code ${code}` : `signal ${sig}`));
      });
      clearInterval(timer);
      if (!final) {
        final = {
          v: run.versionId,
          type: 'done',
          status: 'failed',
          reason: a.shuttingDown ? `worker ${name} shut down while the job was running` : `the runner process on worker ${name} ended unexpectedly (${exit})`,
        };
      }
    } catch (e) {
      final = { v: run.versionId, type: 'done', status: 'failed', reason: `worker ${name} cannot start the job: ${(e as Error).message}` };
    } finally {
      active.delete(run.versionId);
    }
    await flush().catch(() => undefined);
    await emit(final);
    await rm(cfg.workDir, { recursive: true, force: true }).catch(() => undefined);
    return final;
  };

  const worker = new Worker<RemoteRun>(t.name, processor, {
    connection: bullConnection(t),
    concurrency: Math.max(1, o.concurrency ?? 1),
    lockDuration: stallMs,
    stalledInterval: stallMs,
    maxStalledCount: 0,
    removeOnComplete: { count: 1000 },
    removeOnFail: { count: 1000 },
  });
  worker.on('error', (e) => log.error(`queue: ${e.message}`));
  await worker.waitUntilReady();
  log.info(`Worker ${name} taking jobs from ${o.queue} (queue ${t.name}, concurrency ${o.concurrency ?? 1})`);
  let closing: Promise<void> | undefined;
  return {
    name,
    close: () =>
      (closing ??= (async () => {
        for (const a of active.values()) {
          a.shuttingDown = true;
          a.child?.disconnect();
        }
        await worker.close();
        sub.disconnect();
        await cmd.quit().catch(() => undefined);
      })()),
  };
}
