// The job service and its local scheduler: creates jobs and versions, resolves their data sources, runs up to
// `maxJobs` versions at once, each in a runner child process (runner.ts), and records what the runners report.
//
// Files of a version: <dataDir>/jobs/<job id>/v<N>/{run.json, job.log, work/}. On start, versions a previous service
// left initializing or running are marked failed with the reason (their runners ended with that service); queued
// versions are picked up again.
import { fork, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, mkdirSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { logger } from '../../util/log.js';
import type { DatasetService } from '../datasets/service.js';
import {
  ACTIVE_STATUSES,
  FieldError,
  isTerminal,
  parseDatasetRef,
  validateJobRequest,
  validateSpecFields,
  type DataSource,
  type JobSpec,
  type JobVersion,
  type JobWithVersion,
} from './model.js';
import { parseMetrics, type Metrics } from './metrics.js';
import type { JobRepository } from './repository.js';
import type { JobQueue, WorkerEvent } from './queue.js';
import { RUNNER_MAIN, type RunConfig, type RunnerMessage } from './runner.js';

const log = logger('jobs/service.ts:0');

/** An error with an HTTP status (404 unknown job, 409 conflicting state, ...). */
export class ServiceError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface JobServiceOptions {
  repo: JobRepository;
  datasets: DatasetService;
  /** openStore spec the runners open (the service's own store). */
  storeSpec: string;
  dataDir: string;
  /** Versions running at once (default 1). */
  maxJobs?: number;
  /** Extra environment for the runners (e.g. S3 credentials). */
  env?: NodeJS.ProcessEnv;
}

interface Running {
  child?: ChildProcess;
  /** On a worker through the queue (queue.ts). */
  remote?: { settle: () => void };
  stopPending?: boolean;
  done: Promise<void>;
}

function tell(child: ChildProcess | undefined, m: { type: 'stop' }): void {
  try {
    if (child?.connected) child.send(m);
  } catch {
    /* the runner is ending anyway */
  }
}

export class JobService {
  readonly repo: JobRepository;
  private readonly running = new Map<string, Running>();
  private readonly maxJobs: number;
  private closed = false;
  private pumping = false;
  private queue: JobQueue | undefined;

  constructor(private readonly opts: JobServiceOptions) {
    this.repo = opts.repo;
    this.maxJobs = Math.max(1, opts.maxJobs ?? 1);
  }

  /** Mark versions left active by a previous service failed; then start the queued ones. */
  recover(): number {
    if (this.queue) return this.recoverRemote();
    const stale = this.repo.versionsIn(['initializing', 'running']);
    for (const v of stale) {
      const reason = `the service stopped while the job was ${v.status}${v.pid ? ` (runner pid ${v.pid})` : ''}; marked failed when it restarted`;
      this.repo.update(v.id, { status: 'failed', reason });
      log.warn(`Job ${v.jobId} v${v.version}: ${reason}`);
    }
    this.pump();
    return stale.length;
  }

  versionDir(v: Pick<JobVersion, 'jobId' | 'version'>): string {
    return path.join(this.opts.dataDir, 'jobs', v.jobId, `v${v.version}`);
  }

  logFile(v: Pick<JobVersion, 'jobId' | 'version'>): string {
    return path.join(this.versionDir(v), 'job.log');
  }

  private async resolveData(data: string | undefined): Promise<DataSource | undefined> {
    if (data === undefined) return undefined;
    const ref = parseDatasetRef(data);
    if (!ref) return { kind: 'url', url: data };
    const ds = await this.opts.datasets.getDataset(ref.name);
    if (!ds) throw new FieldError('data', `no dataset named '${ref.name}'`);
    const normal = ds.versions.filter((v) => v.status === 'normal');
    const v = ref.version === 0 ? normal[normal.length - 1] : ds.versions.find((x) => x.version === ref.version);
    if (!v) throw new FieldError('data', ref.version ? `dataset '${ref.name}' has no version ${ref.version}` : `dataset '${ref.name}' has no imported version`);
    if (v.status !== 'normal') throw new FieldError('data', `dataset '${ref.name}' v${v.version} is ${v.status}${v.reason ? ` (${v.reason})` : ''}, not normal`);
    return { kind: 'dataset', name: ref.name, version: v.version, versionId: v.id, url: v.storageUrl };
  }

  private withData(spec: Omit<JobSpec, 'data'>, data: DataSource | undefined): JobSpec {
    return data ? { ...spec, data } : { ...spec };
  }

  async create(body: unknown): Promise<JobWithVersion> {
    const req = validateJobRequest(body);
    const spec = this.withData(req.spec, await this.resolveData(req.data));
    const job = this.repo.createJob(req.name, req.description, spec);
    log.info(`Job ${job.id} (${job.name}) v1 queued`);
    this.pump();
    return job;
  }

  /** A new version of the job with the body's changes over the latest version's spec. */
  async rerun(jobId: string, body: unknown): Promise<JobVersion> {
    const job = this.get(jobId);
    const b = (body ?? {}) as Record<string, unknown>;
    if (typeof b !== 'object' || Array.isArray(b)) throw new FieldError('body', 'expected a JSON object');
    for (const k of Object.keys(b)) {
      if (!['code', 'boot', 'params', 'data', 'output', 'log', 'pool', 'gpus', 'copyIntervalMin', 'retries', 'threads'].includes(k)) throw new FieldError(k, 'unknown field');
    }
    const { spec, data } = validateSpecFields(b, job.current.spec);
    const v = this.repo.addVersion(jobId, this.withData(spec, await this.resolveData(data)));
    log.info(`Job ${jobId} v${v.version} queued (re-run)`);
    this.pump();
    return v;
  }

  get(jobId: string): JobWithVersion {
    const job = this.repo.getJob(jobId);
    if (!job) throw new ServiceError(404, `no job with id '${jobId}'`);
    return job;
  }

  version(jobId: string, version?: number): JobVersion {
    const job = this.get(jobId);
    if (version === undefined) return job.current;
    const v = this.repo.getVersion(jobId, version);
    if (!v) throw new ServiceError(404, `job ${jobId} has no version ${version}`);
    return v;
  }

  /** Stop the latest version: a queued one ends at once, a running one after its runner's final copies. */
  stop(jobId: string): JobVersion {
    const v = this.get(jobId).current;
    if (isTerminal(v.status)) throw new ServiceError(409, `job ${jobId} v${v.version} already ${v.status}`);
    const r = this.running.get(v.id);
    if (r?.remote) {
      log.info(`Stopping job ${jobId} v${v.version} (on the queue)`);
      const q = this.queue!;
      void (async () => {
        if (v.status === 'queued' && (await q.cancelQueued(v.id))) {
          this.repo.update(v.id, { status: 'stopped', reason: 'stopped by request before it started' });
          this.finishRemote(v.id);
        } else await q.stop(v.id);
      })().catch((e) => log.error(`stopping job ${jobId} v${v.version}: ${(e as Error).message}`));
    } else if (r) {
      log.info(`Stopping job ${jobId} v${v.version}`);
      r.stopPending = true;
      if (r.child) tell(r.child, { type: 'stop' });
    } else {
      this.repo.update(v.id, { status: 'stopped', reason: 'stopped by request before it started' });
    }
    return this.repo.getVersionById(v.id)!;
  }

  async delete(jobId: string): Promise<void> {
    this.get(jobId);
    const active = this.repo.listVersions(jobId).filter((v) => ACTIVE_STATUSES.includes(v.status));
    if (active.length) throw new ServiceError(409, `job ${jobId} v${active[0]!.version} is ${active[0]!.status}: stop it first`);
    this.repo.deleteJob(jobId);
    await rm(path.join(this.opts.dataDir, 'jobs', jobId), { recursive: true, force: true });
  }

  metrics(jobId: string, version?: number): Metrics & { jobId: string; version: number; status: string } {
    const v = this.version(jobId, version);
    const file = this.logFile(v);
    const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
    return { jobId, version: v.version, status: v.status, ...parseMetrics(text) };
  }

  /** Start queued versions while fewer than maxJobs run. */
  pump(): void {
    if (this.closed || this.pumping) return;
    this.pumping = true;
    try {
      const queued = this.repo.versionsIn(['queued']);
      for (const v of queued) {
        if (this.running.has(v.id)) continue;
        if (this.queue) {
          this.startRemote(v);
          continue;
        }
        if (this.running.size >= this.maxJobs) break;
        this.start(v);
      }
    } finally {
      this.pumping = false;
    }
  }

  private start(v: JobVersion): void {
    const job = this.repo.getJob(v.jobId)!;
    const dir = this.versionDir(v);
    const cfg: RunConfig = {
      jobId: v.jobId,
      versionId: v.id,
      version: v.version,
      name: job.name,
      spec: v.spec,
      store: this.opts.storeSpec,
      workDir: path.join(dir, 'work'),
      logFile: this.logFile(v),
      copies: v.copies,
    };
    if (!this.repo.update(v.id, { status: 'initializing' })) return;
    let settle!: () => void;
    const done = new Promise<void>((res) => (settle = res));
    const entry: Running = { done };
    this.running.set(v.id, entry);
    void (async () => {
      let final: Extract<RunnerMessage, { type: 'done' }> | undefined;
      try {
        await mkdir(dir, { recursive: true });
        const cfgFile = path.join(dir, 'run.json');
        const retries = v.spec.retries ?? 0;
        for (let attempt = 1; ; attempt++) {
          final = undefined;
          this.repo.update(v.id, { attempts: attempt, ...(attempt > 1 ? { status: 'initializing' as const } : {}) });
          await writeFile(cfgFile, JSON.stringify({ ...cfg, copies: this.repo.getVersionById(v.id)?.copies ?? cfg.copies }, null, 1));
          const fd = openSync(cfg.logFile, 'a');
          const child = fork(RUNNER_MAIN, [cfgFile], { stdio: ['ignore', fd, fd, 'ipc'], execArgv: [], detached: true, env: { ...process.env, ...this.opts.env } });
          closeSync(fd);
          entry.child = child;
          if (entry.stopPending) tell(child, { type: 'stop' });
          if (child.pid) this.repo.update(v.id, { pid: child.pid });
          child.on('message', (m: RunnerMessage) => {
            if (m.type === 'status') this.repo.update(v.id, { status: m.status });
            else if (m.type === 'copy') this.repo.update(v.id, { copies: m.n });
            else if (m.type === 'done') final = m;
          });
          const exit = await new Promise<string>((res) => {
            child.on('error', (e) => res(`cannot start the runner: ${e.message}`));
            child.on('exit', (code, sig) => res(code !== null ? `exit code ${code}` : `signal ${sig}`));
          });
          const out: Extract<RunnerMessage, { type: 'done' }> | undefined = final ?? (this.closed ? undefined : { type: 'done', status: 'failed', reason: `the runner process ended unexpectedly (${exit})` });
          if (out?.status === 'failed' && attempt <= retries && !entry.stopPending && !this.closed) {
            const msg = `attempt ${attempt} of ${retries + 1} failed: ${out.reason ?? 'unknown reason'}; retrying`;
            log.info(`Job ${v.jobId} v${v.version}: ${msg}`);
            appendFileSync(cfg.logFile, `[service ${new Date().toISOString()}] ${msg}\n`);
            continue;
          }
          if (out) {
            const patch = { status: out.status, ...(out.reason ? { reason: retries && attempt > 1 ? `${out.reason} (after ${attempt} attempts)` : out.reason } : {}), ...(out.exitCode !== undefined ? { exitCode: out.exitCode } : {}) };
            this.repo.update(v.id, patch);
          }
          break;
        }
      } catch (e) {
        this.repo.update(v.id, { status: 'failed', reason: `cannot start the job: ${(e as Error).message}` });
      } finally {
        const now = this.repo.getVersionById(v.id);
        log.info(`Job ${v.jobId} v${v.version}: ${now?.status}${now?.reason ? ` (${now.reason})` : ''}`);
        this.running.delete(v.id);
        settle();
        this.pump();
      }
    })();
  }

  /**
   * Hand versions to a queue instead of running them here (`serve --queue`): every queued version goes on the queue
   * at once; workers report through `onRemoteEvent`.
   */
  useQueue(q: JobQueue): void {
    this.queue = q;
  }

  /** After a restart with a queue: keep following versions the workers still have; fail those the queue lost. */
  private recoverRemote(): number {
    const active = this.repo.versionsIn(['initializing', 'running']);
    for (const v of active) this.track(v.id);
    const q = this.queue!;
    void (async () => {
      for (const v of active) {
        const s = await q.state(v.id);
        if (s.state === 'unknown' || s.state === 'failed') {
          this.onRemoteEvent({ v: v.id, type: 'lost', reason: s.failedReason ?? 'the job is no longer on the queue' });
        }
      }
    })().catch((e) => log.error(`checking the queue: ${(e as Error).message}`));
    this.pump();
    return 0;
  }

  private track(versionId: string): Running {
    let settle!: () => void;
    const done = new Promise<void>((res) => (settle = res));
    const entry: Running = { done, remote: { settle } };
    this.running.set(versionId, entry);
    return entry;
  }

  private finishRemote(versionId: string): void {
    const r = this.running.get(versionId);
    if (!r?.remote) return;
    this.running.delete(versionId);
    r.remote.settle();
    const now = this.repo.getVersionById(versionId);
    if (now) log.info(`Job ${now.jobId} v${now.version}: ${now.status}${now.reason ? ` (${now.reason})` : ''}`);
  }

  private startRemote(v: JobVersion): void {
    const job = this.repo.getJob(v.jobId)!;
    this.track(v.id);
    void (async () => {
      await mkdir(this.versionDir(v), { recursive: true });
      await this.queue!.dispatch({ jobId: v.jobId, versionId: v.id, version: v.version, name: job.name, spec: v.spec, copies: v.copies });
      log.info(`Job ${v.jobId} v${v.version} handed to the queue`);
    })().catch((e) => {
      this.repo.update(v.id, { status: 'failed', reason: `cannot queue the job: ${(e as Error).message}` });
      this.finishRemote(v.id);
    });
  }

  /** A worker's report (queue.ts), or the queue's word that a job was lost. */
  onRemoteEvent(e: WorkerEvent): void {
    const v = this.repo.getVersionById(e.v);
    if (!v) return;
    const note = (msg: string) => {
      try {
        mkdirSyncSafe(this.versionDir(v));
        appendFileSync(this.logFile(v), `[service ${new Date().toISOString()}] ${msg}\n`);
      } catch {
        /* the job was deleted */
      }
    };
    switch (e.type) {
      case 'taken':
        this.repo.update(v.id, { status: 'initializing' });
        break;
      case 'status':
        this.repo.update(v.id, { status: e.status });
        break;
      case 'copy':
        this.repo.update(v.id, { copies: e.n });
        break;
      case 'log':
        try {
          mkdirSyncSafe(this.versionDir(v));
          appendFileSync(this.logFile(v), e.data);
        } catch {
          /* the job was deleted */
        }
        break;
      case 'done':
        this.repo.update(v.id, { status: e.status, ...(e.reason ? { reason: e.reason } : {}), ...(e.exitCode !== undefined ? { exitCode: e.exitCode } : {}) });
        this.finishRemote(v.id);
        break;
      case 'lost':
        if (!isTerminal(v.status)) {
          const reason = `the queue failed the job: ${e.reason}${/stalled/i.test(e.reason) ? ' (its worker stopped responding: killed or disconnected)' : ''}`;
          this.repo.update(v.id, { status: 'failed', reason });
          note(`Failed: ${reason}`);
        }
        this.finishRemote(v.id);
        break;
    }
    if (isTerminal(this.repo.getVersionById(v.id)?.status ?? 'queued')) this.pump();
  }

  /** Resolves when the version is in a final status (polls the repository). */
  async waitFor(versionId: string, timeoutMs = Infinity): Promise<JobVersion> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = this.repo.getVersionById(versionId);
      if (!v) throw new ServiceError(404, `no job version '${versionId}'`);
      if (isTerminal(v.status)) return v;
      if (Date.now() > deadline) throw new Error(`job version ${versionId} still ${v.status} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  get activeCount(): number {
    return this.running.size;
  }

  /**
   * Shut down. With `stopJobs` the running versions are stopped (final copies, status stopped); without, their runners
   * are killed and the versions marked failed with the reason.
   */
  async close(opts: { stopJobs?: boolean } = {}): Promise<void> {
    this.closed = true;
    if (this.queue) {
      // Jobs on workers go on without the service; a restarted one reads their events from where it stopped.
      for (const [id, r] of this.running) {
        if (opts.stopJobs) await this.queue.stop(id).catch(() => undefined);
        r.remote?.settle();
      }
      this.running.clear();
      await this.queue.close();
      return;
    }
    const entries = [...this.running.entries()];
    for (const [id, r] of entries) {
      if (opts.stopJobs) tell(r.child, { type: 'stop' });
      else {
        this.repo.update(id, { status: 'failed', reason: 'the service shut down while the job was running' });
        r.child?.disconnect?.();
      }
    }
    await Promise.all(entries.map(([, r]) => r.done));
  }
}

function mkdirSyncSafe(dir: string): void {
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
}
