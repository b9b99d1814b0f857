// `tscaffe datasets market|import|list|show`: the dataset market and "my datasets" from the command line, through the
// platform service named by --server / TSCAFFE_SERVER (token: --token / TSCAFFE_TOKEN / the local token file); `import`
// waits until the version is normal or failed unless --no-wait. With --local, directly on a data folder without a
// service: metadata in <data-dir>/datasets.json, files in the object store, and `import --no-wait` records the version and hands the work to a detached `tscaffe datasets run-import <id>` process
// (log in <data-dir>/logs/); `datasets list` shows its status.
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, closeSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from '../../cli/command.js';
import { UsageError, type ParsedArgs } from '../../cli/flags.js';
import { progressBar, type Progress } from '../../util/progress.js';
import type { PlatformClient } from '../jobs/client.js';
import { cliOut, clientOf, contextFlags, openContext, viaService } from '../storage/cli.js';
import type { MarketDataset } from './market.js';
import type { StorageContext } from '../storage/open.js';
import { JsonFileDatasetRepository, type DatasetFormat, type DatasetVersion } from './repository.js';
import { DATASET_FORMATS, DatasetService, type DatasetWithVersions, type ImportProgress } from './service.js';

const BIN = fileURLToPath(new URL('../../../../bin/tscaffe.js', import.meta.url));

export function datasetService(ctx: StorageContext): DatasetService {
  return new DatasetService({
    repo: new JsonFileDatasetRepository(path.join(ctx.dataDir, 'datasets.json')),
    store: ctx.store,
    workDir: path.join(ctx.dataDir, 'tmp'),
  });
}

function mb(n: number): string {
  return `${(n / 1e6).toFixed(1)} MB`;
}

function table(rows: string[][]): string {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]!))).join('  ')).join('\n') + '\n';
}

function market(entries: MarketDataset[]): number {
  const rows = [['NAME', 'FILES', 'SIZE', 'STATUS', 'DESCRIPTION']];
  for (const d of entries) {
    rows.push([d.name, String(d.files.length), d.available ? mb(d.totalBytes) : '-', d.available ? 'available' : 'unavailable', d.title]);
  }
  cliOut.write(table(rows));
  for (const d of entries) {
    cliOut.write(`\n${d.name}: ${d.description}\n  ${d.homepage} (${d.license}); from the ${d.provider}\n`);
    if (!d.available) cliOut.write(`  unavailable: ${d.unavailableReason}\n`);
    for (const f of d.files) cliOut.write(`  ${f.name.padEnd(28)} ${String(f.size).padStart(10)} bytes\n`);
  }
  return 0;
}

function describe(v: DatasetVersion): string {
  const tail = v.status === 'failed' ? `: ${v.reason}` : v.status === 'normal' ? ` (${v.files.length} files, ${mb(v.totalBytes)})` : '';
  return `${v.datasetName} v${v.version} ${v.status}${tail} at ${v.storageUrl} [id ${v.id}]`;
}

async function importCmd(ctx: StorageContext, svc: DatasetService, args: ParsedArgs, marketName: string): Promise<number> {
  const name = (args.flags.name as string) || marketName;
  const dst = args.flags.path as string;
  const format = args.flags.format as DatasetFormat;
  if (!dst) throw new UsageError('--path <storage URL> is required (e.g. --path /my-bucket/mnist/)');
  if (!DATASET_FORMATS.includes(format)) throw new UsageError(`--format must be idx, lmdb or both, got '${format}'`);
  const noWait = Boolean(args.flags.no_wait);
  let bar: Progress | undefined;
  let phase = '';
  const onProgress = (p: ImportProgress) => {
    if (p.phase !== phase) {
      bar?.done(true);
      phase = p.phase;
      bar = p.phase === 'idx' || p.phase === 'lmdb' ? progressBar(p.bytesTotal, `upload ${p.phase}`) : undefined;
    }
    bar?.update(p.bytesDone);
  };
  const v = await svc.importDataset({ market: marketName, name, path: dst, format, start: !noWait, onProgress });
  if (noWait) {
    const logs = path.join(ctx.dataDir, 'logs');
    mkdirSync(logs, { recursive: true });
    const logFile = path.join(logs, `import-${v.id}.log`);
    const fd = openSync(logFile, 'a');
    const child = spawn(process.execPath, [BIN, 'datasets', 'run-import', v.id, `--data_dir=${ctx.dataDir}`], {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { ...process.env, TSCAFFE_STORAGE: (args.flags.storage as string) || process.env.TSCAFFE_STORAGE || ctx.store.spec },
    });
    child.unref();
    closeSync(fd);
    cliOut.write(`${describe(v)}\nimporting in the background (pid ${child.pid}, log ${logFile}); see: tscaffe datasets list\n`);
    return 0;
  }
  const done = await svc.waitForVersion(v.id);
  bar?.done(true);
  cliOut.write(describe(done) + '\n');
  return done.status === 'normal' ? 0 : 1;
}

function list(all: DatasetWithVersions[]): number {
  const rows = [['NAME', 'VERSION', 'STATUS', 'FORMAT', 'FILES', 'SIZE', 'PATH']];
  const reasons: string[] = [];
  for (const { dataset, versions } of all) {
    if (!versions.length) rows.push([dataset.name, '-', '-', '-', '-', '-', '-']);
    for (const v of versions) {
      rows.push([dataset.name, `v${v.version}`, v.status, v.format, String(v.files.length), mb(v.totalBytes), v.storageUrl]);
      if (v.status === 'failed') reasons.push(`${dataset.name} v${v.version} failed: ${v.reason}`);
    }
  }
  if (rows.length === 1) {
    cliOut.write('no datasets yet (import one: tscaffe datasets import mnist --path /my-bucket/mnist/)\n');
    return 0;
  }
  cliOut.write(table(rows) + reasons.map((r) => r + '\n').join(''));
  return 0;
}

function show(d: DatasetWithVersions | undefined, name: string): number {
  if (!d) throw new Error(`no dataset named '${name}' (see: tscaffe datasets list)`);
  cliOut.write(`${d.dataset.name}: ${d.dataset.description}${d.dataset.source ? ` (from ${d.dataset.source})` : ''}\n`);
  for (const v of d.versions) {
    cliOut.write(`\n${describe(v)}\n  format ${v.format}, store ${v.store}, created ${v.createdAt}${v.finishedAt ? `, finished ${v.finishedAt}` : ''}\n`);
    for (const f of v.files) cliOut.write(`  ${f.sha256}  ${String(f.size).padStart(10)}  ${f.path}\n`);
  }
  return 0;
}

// ---- through the service ----

async function remoteImport(c: PlatformClient, args: ParsedArgs, marketName: string): Promise<number> {
  const name = (args.flags.name as string) || marketName;
  const dst = args.flags.path as string;
  const format = args.flags.format as DatasetFormat;
  if (!dst) throw new UsageError('--path <storage URL> is required (e.g. --path /my-bucket/mnist/)');
  if (!DATASET_FORMATS.includes(format)) throw new UsageError(`--format must be idx, lmdb or both, got '${format}'`);
  let v = await c.call<DatasetVersion>('POST', '/api/datasets', { market: marketName, name, path: dst, format });
  if (args.flags.no_wait) {
    cliOut.write(`${describe(v)}\nimporting in the service; see: tscaffe datasets list\n`);
    return 0;
  }
  const at = `/api/datasets/${encodeURIComponent(v.datasetName)}/versions/${v.version}`;
  while (v.status === 'importing') {
    await new Promise((r) => setTimeout(r, 250));
    v = await c.call<DatasetVersion>('GET', at);
  }
  cliOut.write(describe(v) + '\n');
  return v.status === 'normal' ? 0 : 1;
}

async function remote(c: PlatformClient, sub: string, pos: string[], args: ParsedArgs): Promise<number> {
  switch (sub) {
    case 'market':
      return market((await c.call<{ market: MarketDataset[] }>('GET', '/api/datasets/market')).market);
    case 'import':
      return remoteImport(c, args, pos[0]!);
    case 'list':
      return list((await c.call<{ datasets: DatasetWithVersions[] }>('GET', '/api/datasets')).datasets);
    default: {
      const d = await c.call<DatasetWithVersions>('GET', `/api/datasets/${encodeURIComponent(pos[0]!)}`).catch((e: { status?: number }) => {
        if (e.status === 404) return undefined;
        throw e;
      });
      return show(d, pos[0]!);
    }
  }
}

export const datasetsCommand: Command = {
  summary: 'Datasets: `datasets market|import|list|show` (import a market dataset into object storage)',
  usage:
    'market | import <market-name> --path <storage-url> [--name N] [--format idx|lmdb|both] [--no-wait] | list | show <name>\n' +
    '  storage URLs: s3://bucket/dir/, obs://bucket/dir/ or /bucket/dir/',
  flags: {
    name: { type: 'string', default: '', help: 'import: the dataset name (default: the market name)' },
    path: { type: 'string', default: '', help: 'import: the storage folder URL to write the files to' },
    format: { type: 'string', default: 'both', help: 'import: idx (the IDX files), lmdb (Caffe LMDBs) or both' },
    no_wait: { type: 'bool', default: false, help: 'import: return at once; the import continues in the background' },
    ...contextFlags,
  },
  async run(args: ParsedArgs): Promise<number> {
    const [sub, ...pos] = args.positional;
    const subs = ['market', 'import', 'list', 'show', 'run-import'];
    if (!sub) throw new UsageError('expected a subcommand: market, import, list or show');
    if (!subs.includes(sub)) throw new UsageError(`unknown subcommand '${sub}' (expected market, import, list or show)`);
    const arity = sub === 'import' || sub === 'show' || sub === 'run-import' ? 1 : 0;
    if (pos.length !== arity) {
      throw new UsageError(sub === 'import' ? 'expected: datasets import <market-name> --path <url>' : arity ? `expected: datasets ${sub} <name>` : `datasets ${sub} takes no arguments`);
    }
    if (!args.flags.local && sub !== 'run-import') return viaService(`datasets ${sub}`, () => remote(clientOf(args), sub, pos, args));
    const ctx = await openContext(args);
    try {
      const svc = datasetService(ctx);
      switch (sub) {
        case 'market':
          return market(svc.listMarket(true));
        case 'import':
          return await importCmd(ctx, svc, args, pos[0]!);
        case 'list':
          return list(await svc.listDatasets());
        case 'show':
          return show(await svc.getDataset(pos[0]!), pos[0]!);
        default: {
          const v = await svc.runImport(pos[0]!);
          cliOut.write(describe(v) + '\n');
          return v.status === 'normal' ? 0 : 1;
        }
      }
    } finally {
      await ctx.close();
    }
  },
};
