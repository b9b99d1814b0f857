// `tscaffe serve` (the platform service), `tscaffe worker` (runs queued jobs) and `tscaffe jobs ...` (the client).
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Command } from '../../cli/command.js';
import { UsageError, type FlagSpec, type ParsedArgs } from '../../cli/flags.js';
import { cliOut } from '../storage/cli.js';
import { defaultDataDir } from '../storage/open.js';
import { ApiError, clientFromEnv, type PlatformClient } from './client.js';
import type { JobVersion, JobWithVersion } from './model.js';
import { startWorker } from './queue.js';
import { startServer } from './server.js';

export const serveCommand: Command = {
  summary: 'run the platform service: REST API for datasets, storage and training jobs, with a local scheduler',
  usage: '[--host 127.0.0.1] [--port 8080] [--data-dir D] [--storage SPEC] [--max-jobs N] [--queue redis://HOST:PORT] [--insecure-localhost]',
  flags: {
    host: { type: 'string', default: '127.0.0.1', help: 'address to bind (default loopback only)' },
    port: { type: 'int', default: 8080, help: 'port (0: any free port)' },
    data_dir: { type: 'string', default: '', help: 'platform data folder (default: $TSCAFFE_DATA_DIR or ~/.tscaffe)' },
    storage: { type: 'string', default: '', help: 'object store: local:<dir>, s3:, s3+http://host:port (default: <data-dir>/storage)' },
    max_jobs: { type: 'int', default: 1, help: 'jobs running at once' },
    insecure_localhost: { type: 'bool', default: false, help: 'serve without a token (loopback addresses only)' },
    upload_limit_mb: { type: 'int', default: 4096, help: 'largest upload through the API, MiB' },
    queue: { type: 'string', default: '', help: 'redis://HOST:PORT: hand jobs to `tscaffe worker`s through this queue instead of running them here' },
  },
  async run({ flags }) {
    const maxJobs = Number(flags.max_jobs);
    if (!(maxJobs >= 1)) throw new UsageError('--max-jobs must be >= 1');
    const p = await startServer({
      dataDir: String(flags.data_dir || defaultDataDir()),
      host: String(flags.host),
      port: Number(flags.port),
      maxJobs,
      insecureLocalhost: Boolean(flags.insecure_localhost),
      uploadLimit: Number(flags.upload_limit_mb) * 1024 * 1024,
      ...(flags.storage ? { storage: String(flags.storage) } : {}),
      ...(flags.queue ? { queue: String(flags.queue) } : {}),
    });
    const where = flags.queue ? `jobs on the queue ${String(flags.queue)}` : `max jobs ${maxJobs}`;
    cliOut.write(`tscaffe service listening on ${p.url} (data ${p.ctx.dataDir}, storage ${p.ctx.store.spec}, ${where})\n`);
    cliOut.write(`Web console: ${p.url}/\n`);
    if (p.tokenCreated) cliOut.write(`API token (shown once; stored in ${p.tokenFile}, mode 0600): ${p.token}\n`);
    else if (p.token) cliOut.write(`API token: in ${p.tokenFile}\n`);
    else cliOut.write('WARNING: --insecure-localhost: no token required\n');
    await new Promise<void>((resolve) => {
      const stop = (sig: string) => {
        cliOut.write(`${sig}: shutting down (running jobs are marked failed)\n`);
        void p.close().then(resolve, resolve);
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
    return 0;
  },
};

export const workerCommand: Command = {
  summary: 'take training jobs from the service\'s queue (`serve --queue`) and run them on this machine',
  usage: '--queue redis://HOST:PORT --storage SPEC [--concurrency N] [--work-dir D] [--name NAME]',
  flags: {
    queue: { type: 'string', default: '', help: 'redis://HOST:PORT of the queue (the service\'s --queue)' },
    storage: { type: 'string', default: '', help: 'object store shared with the service: s3+http://host:port, s3:, local:<dir>' },
    concurrency: { type: 'int', default: 1, help: 'jobs running at once on this worker' },
    work_dir: { type: 'string', default: '', help: 'folder for the job workspaces (default: <tmp>/tscaffe-worker-<pid>)' },
    name: { type: 'string', default: '', help: 'worker name in the job logs (default: host:pid)' },
    stall_ms: { type: 'int', default: 30000, help: 'job lock duration and stalled-job check interval, ms' },
  },
  async run({ flags }) {
    if (!flags.queue) throw new UsageError('--queue redis://HOST:PORT is required');
    if (!flags.storage) throw new UsageError('--storage SPEC is required (the storage the service uses)');
    const concurrency = Number(flags.concurrency);
    if (!(concurrency >= 1)) throw new UsageError('--concurrency must be >= 1');
    const workDir = path.resolve(String(flags.work_dir || path.join(tmpdir(), `tscaffe-worker-${process.pid}`)));
    const w = await startWorker({
      queue: String(flags.queue),
      storage: String(flags.storage),
      workDir,
      concurrency,
      stallMs: Math.max(1000, Number(flags.stall_ms)),
      ...(flags.name ? { name: String(flags.name) } : {}),
    });
    cliOut.write(`tscaffe worker ${w.name} taking jobs from ${String(flags.queue)} (storage ${String(flags.storage)}, concurrency ${concurrency}, work ${workDir})\n`);
    await new Promise<void>((resolve) => {
      const stop = (sig: string) => {
        cliOut.write(`${sig}: shutting down (running jobs are marked failed)\n`);
        void w.close().then(resolve, resolve);
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
    return 0;
  },
};

const clientFlags: Record<string, FlagSpec> = {
  server: { type: 'string', default: '', help: 'service URL (default: $TSCAFFE_SERVER or http://127.0.0.1:8080)' },
  token: { type: 'string', default: '', help: 'API token (default: $TSCAFFE_TOKEN, or the local data folder\'s token file)' },
};

/** The run parameters: every `--param k=v` plus positional `k=v` arguments. */
function paramsOf(args: ParsedArgs, positional: string[]): string[] {
  const out = [...(args.flags.param as string[])];
  for (const p of positional) {
    if (!p.includes('=')) throw new UsageError(`unexpected argument '${p}' (run parameters are key=value)`);
    out.push(p);
  }
  return out;
}

function describe(v: JobVersion): string {
  return `v${v.version} ${v.status}${v.reason ? ` (${v.reason})` : ''}`;
}

function table(rows: string[][]): string {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]!))).join('  ')).join('\n') + '\n';
}

function show(j: JobWithVersion): string {
  const v = j.current;
  const s = v.spec;
  const lines = [
    `job ${j.id}: ${j.name}${j.description ? ` — ${j.description}` : ''}`,
    `  version  ${v.version} of ${j.latestVersion}`,
    `  status   ${v.status}${v.reason ? ` (${v.reason})` : ''}${v.exitCode !== undefined ? `, exit code ${v.exitCode}` : ''}`,
    `  code     ${s.code} (boot ${s.boot})`,
    `  params   ${Object.entries(s.params).map(([k, x]) => `${k}=${x}`).join(' ') || '-'}`,
    `  data     ${s.data ? (s.data.kind === 'dataset' ? `dataset ${s.data.name} v${s.data.version} (${s.data.url})` : s.data.url) : '-'}`,
    `  output   ${s.output} (copies every ${s.copyIntervalMin} min; ${v.copies} made)`,
    `  log      ${s.log ?? '-'}`,
    `  pool     ${s.pool}${s.pool === 'gpu' ? ` x${s.gpus}` : ''}`,
    `  retries  ${s.retries ?? 0} (attempts ${v.attempts ?? 0})`,
    `  created  ${v.createdAt}${v.startedAt ? `, started ${v.startedAt}` : ''}${v.runningAt ? `, running ${v.runningAt}` : ''}${v.finishedAt ? `, finished ${v.finishedAt}` : ''}`,
  ];
  return lines.join('\n') + '\n';
}

async function createJob(c: PlatformClient, args: ParsedArgs, positional: string[]): Promise<number> {
  const f = args.flags;
  const body: Record<string, unknown> = { params: paramsOf(args, positional) };
  const map: [string, string][] = [['name', 'name'], ['description', 'description'], ['code', 'code'], ['boot', 'boot'], ['data', 'data'], ['output', 'output'], ['log', 'log'], ['pool', 'pool']];
  for (const [flag, field] of map) if (f[flag]) body[field] = String(f[flag]);
  if (Number(f.gpus) >= 0) body.gpus = Number(f.gpus);
  if (Number(f.copy_interval) > 0) body.copyIntervalMin = Number(f.copy_interval);
  if (Number(f.retries) >= 0) body.retries = Number(f.retries);
  if (Number(f.threads) >= 0) body.threads = Number(f.threads);
  const job = await c.createJob(body);
  cliOut.write(`created job ${job.name}: ${describe(job.current)}\n${job.id}\n`);
  return 0;
}

async function wait(c: PlatformClient, id: string): Promise<number> {
  const j = await c.waitJob(id);
  const v = j.current;
  if (v.status === 'succeeded') {
    cliOut.write(`job ${id} ${describe(v)}\n`);
    return 0;
  }
  process.stderr.write(`job ${id} ${describe(v)}\n`);
  return v.status === 'stopped' ? 3 : 2;
}

export const jobsCommand: Command = {
  summary: 'training jobs through the service: `jobs create|list|show|logs [-f]|metrics|stop|delete|wait|rerun|versions`',
  usage:
    'create --name N --code <url> --boot <file> [--param k=v ...] [--data <url|dataset:NAME:VERSION>] --output <url> [--log <url>] ' +
    '[--pool cpu|gpu] [--gpus N] [--copy-interval MIN] [--retries N] [--threads N] | list | show <id> | logs [-f] <id> | metrics <id> | stop <id> | delete <id> | ' +
    'wait <id> | rerun <id> [--param k=v ...] | versions <id>   [--server URL] [--token T]',
  flags: {
    name: { type: 'string', default: '', help: 'create: job name' },
    description: { type: 'string', default: '', help: 'create: description' },
    code: { type: 'string', default: '', help: 'create: storage folder URL of the code' },
    boot: { type: 'string', default: '', help: 'create: boot file relative to the code folder (solver .prototxt or .js/.ts/.sh)' },
    param: { type: 'string', repeated: true, help: 'create/rerun: run parameter key=value (repeatable)' },
    data: { type: 'string', default: '', help: 'create: data source: storage folder URL or dataset:NAME:VERSION' },
    output: { type: 'string', default: '', help: 'create: output folder URL' },
    log: { type: 'string', default: '', help: 'create: log URL' },
    pool: { type: 'string', default: '', help: 'create: resource pool cpu or gpu' },
    gpus: { type: 'int', default: -1, help: 'create: GPUs for the gpu pool' },
    copy_interval: { type: 'float', default: 0, help: 'create: minutes between intermediate copies (default 10)' },
    retries: { type: 'int', default: -1, help: 'create: re-runs of a version that fails for a reason other than a stop (default 0)' },
    threads: { type: 'int', default: -1, help: 'create: CPU threads for the trainer (default 0: all cores)' },
    version: { type: 'int', default: 0, help: 'logs/metrics: version (default latest)' },
    f: { type: 'bool', default: false, help: 'logs: follow new lines until the job ends' },
    follow: { type: 'bool', default: false, help: 'same as -f' },
    json: { type: 'bool', default: false, help: 'show/list/metrics: print JSON' },
    ...clientFlags,
  },
  async run(args: ParsedArgs): Promise<number> {
    const [sub, ...pos] = args.positional;
    const subs = ['create', 'list', 'show', 'logs', 'metrics', 'stop', 'delete', 'wait', 'rerun', 'versions'];
    if (!sub || !subs.includes(sub)) throw new UsageError(`expected a subcommand: ${subs.join(', ')}`);
    const c = clientFromEnv({ server: String(args.flags.server || ''), token: String(args.flags.token || '') });
    const id = pos[0];
    if (sub !== 'create' && sub !== 'list' && !id) throw new UsageError(`expected: jobs ${sub} <id>`);
    const json = Boolean(args.flags.json);
    const version = Number(args.flags.version) || undefined;
    try {
      switch (sub) {
        case 'create':
          return await createJob(c, args, pos);
        case 'list': {
          const { jobs } = await c.listJobs();
          if (json) return (cliOut.write(JSON.stringify(jobs, null, 1) + '\n'), 0);
          const rows = [['ID', 'NAME', 'VERSION', 'STATUS', 'CREATED', 'REASON']];
          for (const j of jobs) rows.push([j.id, j.name, `v${j.current.version}`, j.current.status, j.current.createdAt, j.current.reason ?? '']);
          cliOut.write(jobs.length ? table(rows) : 'no jobs yet\n');
          return 0;
        }
        case 'show': {
          const j = await c.getJob(id!);
          cliOut.write(json ? JSON.stringify(j, null, 1) + '\n' : show(j));
          return 0;
        }
        case 'versions': {
          const r = await c.call<{ versions: JobVersion[] }>('GET', `/api/jobs/${encodeURIComponent(id!)}/versions`);
          for (const v of r.versions) cliOut.write(`${describe(v)}  params ${JSON.stringify(v.spec.params)}\n`);
          return 0;
        }
        case 'logs':
          await c.followLog(id!, (s) => cliOut.write(s), { ...(version ? { version } : {}), follow: Boolean(args.flags.f || args.flags.follow) });
          return 0;
        case 'metrics': {
          const m = await c.metrics(id!, version);
          if (json) return (cliOut.write(JSON.stringify(m, null, 1) + '\n'), 0);
          const rows = [['ITERATION', 'LOSS', 'LR']];
          for (const t of m.train) rows.push([String(t.iteration), t.loss === undefined ? '' : String(t.loss), t.lr === undefined ? '' : String(t.lr)]);
          cliOut.write(table(rows));
          for (const t of m.test) cliOut.write(`test @${t.iteration}: ${Object.entries(t.scores).map(([k, v]) => `${k} = ${v}`).join(', ')}\n`);
          return 0;
        }
        case 'stop':
          cliOut.write(`job ${id} ${describe(await c.stopJob(id!))}${'' /* stopping continues in the service */}\n`);
          return 0;
        case 'delete':
          await c.deleteJob(id!);
          cliOut.write(`deleted job ${id}\n`);
          return 0;
        case 'wait':
          return await wait(c, id!);
        default: {
          const params = paramsOf(args, pos.slice(1));
          const v = await c.rerunJob(id!, params.length ? { params } : {});
          cliOut.write(`job ${id} ${describe(v)}\n`);
          return 0;
        }
      }
    } catch (e) {
      if (e instanceof ApiError) {
        process.stderr.write(`tscaffe jobs ${sub}: ${e.message}\n`);
        return 1;
      }
      throw e;
    }
  },
};
