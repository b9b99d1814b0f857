// The job runner: one child process per job version (forked by the service with an IPC channel), so a crash of one
// job never takes down the service. It lays out the workspace (workspace.ts), starts the trainer — `tscaffe train`
// for a solver boot file, or the boot script with --key=value arguments — as its own child with the log going to the
// job's log file, copies the snapshot folder to <output>/1/, <output>/2/, ... every interval when there is a new
// snapshot, and at the end to <output>/final/, then uploads the log to the log URL.
//
// Messages to the service: {type:'status', status:'running'}, {type:'copy', n, url}, {type:'done', status, reason,
// exitCode}. From the service: {type:'stop'} — SIGINT to the trainer (which snapshots), then the final copies, status
// stopped. When the service goes away (the IPC channel closes) the runner kills the trainer and exits.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { copyDirToStore, copyStoreToDir } from '../storage/copy.js';
import { errorMessage } from '../storage/errors.js';
import { openStore } from '../storage/open.js';
import type { ObjectStore } from '../storage/store.js';
import { folderPrefix, parseStorageUrl } from '../storage/url.js';
import type { JobSpec, JobStatus } from './model.js';
import { codeFolderName, mapPrototxtFiles, prepareSolver } from './workspace.js';
import { findGpuAdapters, isSoftwareAdapter } from '../../backend/webgpu/device.js';

export const RUNNER_MAIN = fileURLToPath(import.meta.url);
/** The `tscaffe` command (bin/tscaffe.js at the package root; this file runs from dist/src/platform/jobs). */
const TSCAFFE_BIN = path.resolve(path.dirname(RUNNER_MAIN), '../../../../bin/tscaffe.js');

export interface RunConfig {
  jobId: string;
  versionId: string;
  version: number;
  name: string;
  spec: JobSpec;
  /** openStore spec of the storage the URLs refer to. */
  store: string;
  /** The job's /home/work. */
  workDir: string;
  logFile: string;
  /** Copies already made (a re-attached run continues the numbering). */
  copies?: number;
}

export type RunnerMessage =
  | { type: 'status'; status: 'running' }
  | { type: 'copy'; n: number; url: string }
  | { type: 'done'; status: JobStatus; reason?: string; exitCode?: number };

class StopRequested extends Error {}

/** The log file's URL in storage: a folder URL gets job-<id>-v<N>.log inside it. */
export function logObjectUrl(logUrl: string, cfg: Pick<RunConfig, 'jobId' | 'version'>): string {
  return logUrl.endsWith('/') ? `${logUrl}${cfg.jobId}-v${cfg.version}.log` : logUrl;
}

class Runner {
  private store!: ObjectStore;
  private log: WriteStream;
  private trainer: ChildProcess | undefined;
  /** The trainer's last output (both streams), for the failure reason: the log file may not be flushed at exit. */
  private outputTail = '';
  private stopping = false;
  private readonly abort = new AbortController();
  private copies: number;
  private lastCopied = '';
  private copying: Promise<void> = Promise.resolve();
  private snapshotDir: string | undefined;

  constructor(private readonly cfg: RunConfig) {
    this.log = createWriteStream(cfg.logFile, { flags: 'a' });
    this.copies = cfg.copies ?? 0;
  }

  private send(m: RunnerMessage): Promise<void> {
    return new Promise((resolve) => {
      if (!process.connected) return resolve();
      process.send!(m, undefined, {}, () => resolve());
    });
  }

  private note(msg: string): void {
    this.log.write(`[runner ${new Date().toISOString()}] ${msg}\n`);
  }

  stop(): void {
    if (this.stopping) return;
    this.stopping = true;
    this.note('Stop requested: sending SIGINT to the trainer (it snapshots and ends)');
    this.abort.abort();
    if (this.trainer && this.trainer.exitCode === null) {
      this.signal('SIGINT');
      const t = setTimeout(() => this.signal('SIGKILL'), 120_000);
      t.unref();
    }
  }

  /** Signal the trainer's process group (it runs detached: a script's own children get the signal too). */
  private signal(sig: NodeJS.Signals): void {
    const pid = this.trainer?.pid;
    if (!pid || this.trainer!.exitCode !== null) return;
    try {
      process.kill(-pid, sig);
    } catch {
      this.trainer!.kill(sig);
    }
  }

  /** The service went away: end the trainer at once. */
  kill(): void {
    this.signal('SIGKILL');
    process.exit(1);
  }

  private folder(url: string): { bucket: string; prefix: string } {
    const u = parseStorageUrl(url);
    return { bucket: u.bucket, prefix: folderPrefix(u.key) };
  }

  async run(): Promise<void> {
    const { spec, workDir } = this.cfg;
    let result: Extract<RunnerMessage, { type: 'done' }>;
    try {
      this.store = await openStore(this.cfg.store);
      const codeDir = path.join(workDir, 'user-job-dir', codeFolderName(spec.code));
      await rm(workDir, { recursive: true, force: true });
      await mkdir(codeDir, { recursive: true });
      const code = this.folder(spec.code);
      this.note(`Copying the code from ${spec.code} to ${codeDir}`);
      const c = await copyStoreToDir(this.store, code.bucket, code.prefix, codeDir, { signal: this.abort.signal });
      if (c.files.length === 0) throw new Error(`the code folder ${spec.code} is empty or does not exist`);
      const dataDir = path.join(workDir, 'dataset');
      await mkdir(dataDir, { recursive: true });
      if (spec.data) {
        const d = this.folder(spec.data.url);
        this.note(`Copying the data from ${spec.data.url} to ${dataDir}`);
        const r = await copyStoreToDir(this.store, d.bucket, d.prefix, dataDir, { signal: this.abort.signal });
        this.note(`Data: ${r.files.length} files, ${r.bytes} bytes`);
      }
      if (this.stopping) throw new StopRequested();
      await mapPrototxtFiles(path.join(workDir, 'user-job-dir'), workDir);
      const boot = path.join(codeDir, ...spec.boot.split('/'));
      await stat(boot).catch(() => {
        throw new Error(`boot file '${spec.boot}' not found in the code folder ${spec.code}`);
      });
      const { cmd, args } = await this.command(boot, codeDir);
      void this.send({ type: 'status', status: 'running' });
      const exit = await this.train(cmd, args, codeDir);
      await this.copying;
      await this.finalCopy();
      if (this.stopping) result = { type: 'done', status: 'stopped', reason: 'stopped by request', ...exit };
      else if (exit.exitCode === 0) result = { type: 'done', status: 'succeeded', exitCode: 0 };
      else result = { type: 'done', status: 'failed', reason: `the trainer ${exit.how}${this.lastError()}`, ...exit };
    } catch (e) {
      if (this.stopping || e instanceof StopRequested) result = { type: 'done', status: 'stopped', reason: 'stopped by request before training started' };
      else {
        result = { type: 'done', status: 'failed', reason: errorMessage(e) };
        this.note(`Failed: ${errorMessage(e)}`);
      }
    }
    this.note(`Job ${result.status}${result.reason ? `: ${result.reason}` : ''}`);
    await new Promise<void>((res) => this.log.end(res));
    if (spec.log) {
      try {
        const u = parseStorageUrl(logObjectUrl(spec.log, this.cfg));
        await this.store.putFile(u.bucket, u.key, this.cfg.logFile);
      } catch (e) {
        if (result.status === 'succeeded') result = { type: 'done', status: 'failed', reason: `uploading the log to ${spec.log}: ${errorMessage(e)}` };
      }
    }
    await this.send(result);
    await this.store?.close();
  }

  private async command(boot: string, codeDir: string): Promise<{ cmd: string; args: string[] }> {
    const { spec, workDir } = this.cfg;
    const kv = Object.entries(spec.params).map(([k, v]) => `--${k}=${v}`);
    if (boot.endsWith('.prototxt')) {
      const eff = path.join(workDir, '.tscaffe', 'solver.prototxt');
      await mkdir(path.dirname(eff), { recursive: true });
      const { snapshotDir, overrides } = await prepareSolver(boot, eff, spec.params, workDir);
      this.snapshotDir = snapshotDir;
      if (Object.keys(overrides.applied).length) this.note(`Solver overrides: ${JSON.stringify(overrides.applied)}`);
      if (overrides.other.length) this.note(`Run parameters passed as environment variables: ${overrides.other.join(', ')}`);
      // `tscaffe train` itself: its SIGINT handling (stop with a final snapshot) is how a job stops.
      const args = [TSCAFFE_BIN, 'train', '-solver', eff];
      if (spec.pool === 'gpu' && (await this.hasGpu())) args.push('-gpu', Array.from({ length: spec.gpus }, (_, i) => i).join(','));
      return { cmd: process.execPath, args };
    }
    this.snapshotDir = path.join(workDir, 'output');
    await mkdir(this.snapshotDir, { recursive: true });
    if (boot.endsWith('.sh')) return { cmd: '/bin/sh', args: [boot, ...kv] };
    if (boot.endsWith('.ts')) {
      const [maj, min] = process.versions.node.split('.').map(Number) as [number, number];
      if (maj < 22 || (maj === 22 && min < 6)) throw new Error(`'.ts' boot scripts need Node.js 22.6 or newer (this is ${process.version})`);
      return { cmd: process.execPath, args: ['--experimental-strip-types', '--no-warnings', boot, ...kv] };
    }
    void codeDir;
    return { cmd: process.execPath, args: [boot, ...kv] };
  }

  /**
   * Whether this machine has a GPU for a gpu-pool job. Its only WebGPU adapter being a CPU renderer (Mesa's llvmpipe)
   * counts as none: the job then trains on the CPU backend, which is faster, and its log says so.
   */
  private async hasGpu(): Promise<boolean> {
    const adapters = await findGpuAdapters();
    if (adapters.some((a) => !isSoftwareAdapter(a.description))) return true;
    this.note(`Pool gpu, but this machine has no GPU (${adapters.length ? `only the software adapter ${adapters[0]!.description.name}` : 'no WebGPU adapter'}): training on the CPU`);
    return false;
  }

  private train(cmd: string, args: string[], cwd: string): Promise<{ exitCode?: number; how: string }> {
    const { spec, workDir } = this.cfg;
    const env: NodeJS.ProcessEnv = { ...process.env, ...spec.params };
    Object.assign(env, {
      TSCAFFE_JOB_ID: this.cfg.jobId,
      TSCAFFE_JOB_VERSION: String(this.cfg.version),
      TSCAFFE_WORK_DIR: workDir,
      TSCAFFE_DATA_DIR_LOCAL: path.join(workDir, 'dataset'),
      TSCAFFE_OUTPUT_DIR: this.snapshotDir,
      DATA_URL: spec.data?.url ?? '',
      TRAIN_URL: spec.output,
      CUDA_VISIBLE_DEVICES: spec.pool === 'gpu' ? Array.from({ length: spec.gpus }, (_, i) => i).join(',') : '',
    });
    if (spec.threads) env.TSCAFFE_THREADS = String(spec.threads);
    const gpuIds = spec.pool === 'gpu' ? Array.from({ length: spec.gpus }, (_, i) => i).join(',') : '';
    this.note(`Resources: pool ${spec.pool}, ${spec.threads ? `${spec.threads} CPU threads` : 'all CPU cores'}${gpuIds ? `, GPUs ${gpuIds}` : ''}`);
    this.note(`Starting: ${[path.basename(cmd), ...args].join(' ')} (in ${cwd})`);
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.trainer = child;
    child.stdout!.pipe(this.log, { end: false });
    child.stderr!.pipe(this.log, { end: false });
    const keep = (chunk: Buffer) => { this.outputTail = (this.outputTail + chunk.toString('utf8')).slice(-16384); };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const ms = Math.max(100, spec.copyIntervalMin * 60_000);
    const timer = setInterval(() => {
      this.copying = this.copying.then(() => this.tick());
    }, ms);
    return new Promise((resolve) => {
      child.on('error', (e) => this.note(`cannot start the trainer: ${e.message}`));
      child.on('close', (code, signal) => {
        clearInterval(timer);
        resolve(code !== null ? { exitCode: code, how: `exited with code ${code}` } : { how: `was killed by ${signal}` });
      });
    });
  }

  /** The snapshot folder's files and their sizes/dates, as a change signature ('' when empty). */
  private async signature(): Promise<string> {
    if (!this.snapshotDir) return '';
    const out: string[] = [];
    const visit = async (d: string, rel: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(d, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        if (e.name.startsWith('.')) continue;
        const p = path.join(d, e.name);
        if (e.isDirectory()) await visit(p, rel + e.name + '/');
        else if (e.isFile()) {
          const s = await stat(p);
          out.push(`${rel}${e.name}:${s.size}:${s.mtimeMs}`);
        }
      }
    };
    await visit(this.snapshotDir, '');
    return out.sort().join('\n');
  }

  private async copyTo(sub: string): Promise<string> {
    const out = this.folder(this.cfg.spec.output);
    const prefix = `${out.prefix}${sub}/`;
    await copyDirToStore(this.snapshotDir!, this.store, out.bucket, prefix, { filter: (rel) => !rel.split('/').some((s) => s.startsWith('.')) });
    return `${this.cfg.spec.output.replace(/\/?$/, '/')}${sub}/`;
  }

  /** An interval tick: copy the snapshot folder to <output>/<n+1>/ when it changed since the last copy. */
  private async tick(): Promise<void> {
    try {
      const sig = await this.signature();
      if (!sig || sig === this.lastCopied) return;
      const n = this.copies + 1;
      const url = await this.copyTo(String(n));
      this.copies = n;
      this.lastCopied = sig;
      this.note(`Copied the snapshots to ${url}`);
      void this.send({ type: 'copy', n, url });
    } catch (e) {
      this.note(`Intermediate copy failed (will retry next interval): ${errorMessage(e)}`);
    }
  }

  private async finalCopy(): Promise<void> {
    if (!(await this.signature())) {
      this.note('No snapshot to copy to final/');
      return;
    }
    const url = await this.copyTo('final');
    this.note(`Copied the snapshots to ${url}`);
  }

  private lastError(): string {
    const lines = this.outputTail.split('\n').filter((l) => /^[EF]\d{8} |Error|error/.test(l));
    const last = lines[lines.length - 1];
    return last ? `: ${last.replace(/^[EF]\d{8} [\d:.]+\s+\d+ [^\]]*\] /, '').slice(0, 500)}` : '';
  }
}

async function main(): Promise<void> {
  const cfg = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as RunConfig;
  const runner = new Runner(cfg);
  process.on('message', (m: { type?: string }) => {
    if (m?.type === 'stop') runner.stop();
  });
  process.on('SIGINT', () => runner.stop());
  const onDisconnect = () => runner.kill();
  process.on('disconnect', onDisconnect);
  await runner.run();
  process.off('disconnect', onDisconnect);
  if (process.connected) process.disconnect();
}

if (process.argv[1] && path.resolve(process.argv[1]) === RUNNER_MAIN) {
  main().catch((e) => {
    process.stderr.write(`runner: ${errorMessage(e)}\n`);
    process.exit(1);
  });
}
