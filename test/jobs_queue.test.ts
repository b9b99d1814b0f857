// Beyond one machine: a real redis-server on a random loopback port, the service with `queue` (in this process),
// the local store shared by path, and two `tscaffe worker` child processes. Short .js jobs spread over both workers and
// succeed with their logs streamed back; a stop request reaches the worker; a worker killed mid-job has its job failed
// with the reason (BullMQ's stalled-job check in the other worker). Skipped when redis-server is not installed
// (.ci/run installs the Debian package).
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { PlatformClient } from '../src/platform/jobs/client.js';
import { parseQueueUrl } from '../src/platform/jobs/queue.js';
import { startServer, type Platform } from '../src/platform/jobs/server.js';
import { setQuiet } from '../src/util/log.js';
import { tempDir, waitUntil } from './jobs_helpers.js';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/tscaffe.js');
const hasRedis = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).status === 0;
const terminal = (s: string) => ['succeeded', 'failed', 'stopped'].includes(s);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/** Resolve when the child's stdout matches, reject when it exits first. */
function waitOutput(child: ChildProcess, re: RegExp, what: string, ms = 20_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`${what}: no '${re}' within ${ms} ms; output:\n${out}`)), ms);
    const onData = (d: Buffer) => {
      out += d.toString();
      if (re.test(out)) {
        clearTimeout(t);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code, sig) => {
      clearTimeout(t);
      reject(new Error(`${what} exited (${code ?? sig}); output:\n${out}`));
    });
  });
}

async function end(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await gone;
  clearTimeout(t);
}

describe('jobs through a Redis queue and two workers', { skip: hasRedis ? false : 'redis-server is not installed', timeout: 90_000 }, () => {
  const tmp = tempDir('tscaffe-jobs-queue-');
  const store = `local:${path.join(tmp.dir, 'storage')}`;
  let redis: ChildProcess | undefined;
  let queue = '';
  const workers = new Map<string, ChildProcess>();
  let p: Platform | undefined;
  let c: PlatformClient;

  const startWorker = async (name: string): Promise<void> => {
    const w = spawn(process.execPath, [BIN, 'worker', '--queue', queue, '--storage', store, '--concurrency', '1', '--stall_ms', '1500', '--name', name, '--work_dir', path.join(tmp.dir, name)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    workers.set(name, w);
    await waitOutput(w, /taking jobs from/, `worker ${name}`);
  };

  before(async () => {
    setQuiet(true);
    const port = await freePort();
    queue = `redis://127.0.0.1:${port}`;
    redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
    await waitOutput(redis, /Ready to accept connections/, 'redis-server');
    p = await startServer({ dataDir: path.join(tmp.dir, 'data'), port: 0, insecureLocalhost: true, storage: store, queue });
    c = new PlatformClient(p.url);
    // A short job: prints lines, waits `ms`, writes a result into its output folder.
    const code = path.join(tmp.dir, 'code');
    mkdirSync(code, { recursive: true });
    writeFileSync(
      path.join(code, 'job.js'),
      `const fs = require('node:fs'), path = require('node:path');
console.log('hello from job ' + process.env.TSCAFFE_JOB_ID + ' é');
setTimeout(() => {
  fs.writeFileSync(path.join(process.env.TSCAFFE_OUTPUT_DIR, 'result.txt'), 'ok');
  console.log('job done');
}, Number(process.env.ms || 500));
process.on('SIGINT', () => { console.log('interrupted'); process.exit(0); });
`,
    );
    writeFileSync(path.join(code, 'package.json'), '{"type":"commonjs"}');
    assert.equal(await c.uploadDir(code, 's3://qjobs/code/'), 2);
    await Promise.all([startWorker('wA'), startWorker('wB')]);
  });

  after(async () => {
    await Promise.all([...workers.values()].map(end));
    await p?.close();
    await end(redis);
    setQuiet(false);
    tmp.cleanup();
  });

  const create = (name: string, ms: number) =>
    c.createJob({ name, code: 's3://qjobs/code/', boot: 'job.js', params: [`ms=${ms}`], output: `s3://qjobs/out/${name}/`, log: 's3://qjobs/logs/', pool: 'cpu' });

  test('parses queue URLs', () => {
    assert.deepEqual(parseQueueUrl('redis://10.0.0.1:6380/2?name=x'), { connection: { host: '10.0.0.1', port: 6380, db: 2 }, name: 'x' });
    assert.throws(() => parseQueueUrl('http://x:1'), /expected redis:/);
  });

  test('jobs spread over both workers and succeed, their logs streamed back', async () => {
    const t0 = Date.now();
    const jobs = await Promise.all(Array.from({ length: 6 }, (_, i) => create(`j${i}`, 700)));
    const takenBy = new Set<string>();
    for (const j of jobs) {
      const done = await waitUntil(c, j.id, (x) => terminal(x.current.status), 30_000);
      const log = await c.log(j.id);
      assert.equal(done.current.status, 'succeeded', `${done.current.reason}\n${log}`);
      for (const k of ['startedAt', 'runningAt', 'finishedAt'] as const) assert.ok(done.current[k], k);
      assert.match(log, new RegExp(`hello from job ${j.id} é`));
      assert.match(log, /job done[\s\S]*Job succeeded/);
      const w = /Taken by worker (\w+)/.exec(log);
      assert.ok(w, log);
      takenBy.add(w[1]!);
      assert.ok((await c.ls(`s3://qjobs/out/${j.name}/final/`)).objects?.some((o) => o.key.endsWith('result.txt')));
    }
    assert.deepEqual([...takenBy].sort(), ['wA', 'wB'], 'both workers ran some');
    assert.ok(Date.now() - t0 < 30_000);
  });

  test('a stop request reaches the worker running the job', async () => {
    const j = await create('long', 60_000);
    await waitUntil(c, j.id, (x) => x.current.status === 'running', 20_000);
    await new Promise((r) => setTimeout(r, 300));
    await c.stopJob(j.id);
    const done = await waitUntil(c, j.id, (x) => terminal(x.current.status), 20_000);
    assert.equal(done.current.status, 'stopped', done.current.reason);
    assert.match(await c.log(j.id), /Stop requested/);
  });

  test('a worker killed mid-job: the job ends failed with the reason', async () => {
    const j = await create('killed', 60_000);
    await waitUntil(c, j.id, (x) => x.current.status === 'running', 20_000);
    // Status and log lines travel separately (log chunks are flushed every 300 ms): wait for the line.
    let name: string | undefined;
    for (let t = Date.now(); !name && Date.now() - t < 10_000; await new Promise((r) => setTimeout(r, 100))) {
      name = /Taken by worker (\w+)/.exec(await c.log(j.id))?.[1];
    }
    assert.ok(name && workers.has(name));
    const w = workers.get(name)!;
    const gone = new Promise((r) => w.once('exit', r));
    w.kill('SIGKILL');
    await gone;
    const done = await waitUntil(c, j.id, (x) => terminal(x.current.status), 30_000);
    assert.equal(done.current.status, 'failed');
    assert.match(done.current.reason ?? '', /stalled/i);
    assert.match(done.current.reason ?? '', /worker stopped responding/);
    // The other worker still takes jobs.
    const next = await create('after', 200);
    const ok = await waitUntil(c, next.id, (x) => terminal(x.current.status), 20_000);
    assert.equal(ok.current.status, 'succeeded', ok.current.reason);
    // Nothing of the job is left in Redis but the finished record.
    const r = new Redis({ ...parseQueueUrl(queue).connection, lazyConnect: true });
    await r.connect();
    assert.equal(await r.llen('bull:tscaffe-jobs:wait'), 0);
    r.disconnect();
  });
});
