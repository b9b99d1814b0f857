// The platform service without training: auth and its token file, bad requests, body limits, the OpenAPI document,
// boot scripts (arguments, environment, exit codes) through the CLI client, and a restart of the service (run as a
// child process, killed) that marks its running job failed with the reason.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { setQuiet } from '../src/util/log.js';
import { PlatformClient } from '../src/platform/jobs/client.js';
import { startServer, type Platform } from '../src/platform/jobs/server.js';
import { tempDir, waitUntil } from './jobs_helpers.js';

const BIN = fileURLToPath(new URL('../../bin/tscaffe.js', import.meta.url));

/** Run the CLI in a child (asynchronously: the service answering it runs in this process). */
function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const ch = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
    let stdout = '';
    let stderr = '';
    ch.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    ch.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    ch.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Upload a folder of scripts. */
async function uploadScripts(c: PlatformClient, dir: string, files: Record<string, string>, url: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  await c.uploadDir(dir, url);
}

const ARGS_JS = `import { writeFileSync } from 'node:fs';
import path from 'node:path';
const out = process.env.TSCAFFE_OUTPUT_DIR;
writeFileSync(path.join(out, 'args.json'), JSON.stringify({ argv: process.argv.slice(2), alpha: process.env.alpha, beta: process.env.beta, cwd: process.cwd(), threads: process.env.TSCAFFE_THREADS }));
console.log('script done');
`;

describe('the platform service', { timeout: 180_000 }, () => {
  const tmp = tempDir('tscaffe-jobs-svc-');
  const dataDir = path.join(tmp.dir, 'data');
  let p: Platform;
  let c: PlatformClient;

  before(async () => {
    setQuiet(true);
    p = await startServer({ dataDir, port: 0, uploadLimit: 1 << 20 });
    c = new PlatformClient(p.url, p.token);
    await uploadScripts(c, path.join(tmp.dir, 'scripts'), { 'run.js': ARGS_JS, 'fail.sh': 'echo "Error: out of luck" >&2\nexit 3\n' }, 's3://jobs/scripts/');
  });

  after(async () => {
    await p?.close();
    setQuiet(false);
    tmp.cleanup();
  });

  test('the token: generated once, file mode 0600; 401 without it; health and OpenAPI open', async () => {
    assert.ok(p.token && p.token.length >= 40);
    assert.equal(p.tokenCreated, true);
    assert.equal(statSync(path.join(dataDir, 'token')).mode & 0o777, 0o600);
    assert.equal(readFileSync(path.join(dataDir, 'token'), 'utf8').trim(), p.token);
    const anon = new PlatformClient(p.url);
    await assert.rejects(anon.listJobs(), (e: Error) => /^401: missing or invalid API token/.test(e.message));
    await assert.rejects(new PlatformClient(p.url, 'wrong').listJobs(), /401/);
    assert.deepEqual(await c.listJobs(), { jobs: [] });
    assert.equal((await anon.call<{ ok: boolean }>('GET', '/api/health')).ok, true);
    const doc = await anon.call<{ openapi: string; paths: Record<string, unknown> }>('GET', '/api/openapi.json');
    assert.equal(doc.openapi, '3.0.3');
    for (const k of ['/api/jobs', '/api/jobs/{id}/log', '/api/jobs/{id}/metrics', '/api/datasets', '/api/storage/object']) assert.ok(doc.paths[k], k);
  });

  test('bad requests: 400 with a message naming the field; 404, 413, 415', async () => {
    const good = { name: 'ok', code: 's3://jobs/scripts/', boot: 'run.js', output: 's3://jobs/out/' };
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ ...good, name: undefined }, 'name', /name: is required/],
      [{ ...good, name: '../x' }, 'name', /invalid job name/],
      [{ ...good, code: 'not-a-url' }, 'code', /code: .*not a storage URL/],
      [{ ...good, boot: '../escape.js' }, 'boot', /must be a path relative/],
      [{ ...good, boot: 'train.py' }, 'boot', /\.prototxt or a \.js/],
      [{ ...good, params: ['novalue'] }, 'params', /key=value/],
      [{ ...good, params: { '1x': 'a' } }, 'params', /invalid parameter name '1x'/],
      [{ ...good, data: 'dataset:nosuch:1' }, 'data', /no dataset named 'nosuch'/],
      [{ ...good, output: 's3://jobs/../x' }, 'output', /invalid object key/],
      [{ ...good, pool: 'tpu' }, 'pool', /cpu or gpu/],
      [{ ...good, pool: 'gpu', gpus: 0 }, 'gpus', /at least 1 GPU/],
      [{ ...good, copyIntervalMin: 0 }, 'copyIntervalMin', /> 0/],
      [{ ...good, copyIntervalMin: '5' }, 'copyIntervalMin', /number of minutes/],
      [{ ...good, colour: 'red' }, 'colour', /unknown field/],
    ];
    for (const [body, field, re] of cases) {
      const res = await c.raw('POST', '/api/jobs', { body }).catch((e: { status: number; field?: string; message: string }) => e);
      assert.ok(!(res instanceof Response), `${field}: accepted`);
      assert.equal(res.status, 400, `${field}: ${res.message}`);
      assert.equal(res.field, field, res.message);
      assert.match(res.message, re);
    }
    const bad = await fetch(`${p.url}/api/jobs`, { method: 'POST', headers: { authorization: `Bearer ${p.token}`, 'content-type': 'application/json' }, body: '{"name":' });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /JSON/i);
    const big = await fetch(`${p.url}/api/jobs`, { method: 'POST', headers: { authorization: `Bearer ${p.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'x'.repeat(2 << 20) }) });
    assert.equal(big.status, 413);
    assert.match(((await big.json()) as { error: string }).error, /too large.*1048576 bytes/);
    const up = await fetch(`${p.url}/api/storage/object?url=${encodeURIComponent('s3://jobs/big.bin')}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${p.token}`, 'content-type': 'application/octet-stream' },
      body: Buffer.alloc((1 << 20) + 1),
    });
    assert.equal(up.status, 413);
    await assert.rejects(c.getJob('job-nosuch'), /404: no job with id 'job-nosuch'/);
    await assert.rejects(c.call('GET', '/api/storage?url=s3://jobs/../x'), (e: { status: number; field?: string }) => e.status === 400 && e.field === 'url');
    const txt = await fetch(`${p.url}/api/jobs`, { method: 'POST', headers: { authorization: `Bearer ${p.token}`, 'content-type': 'text/csv' }, body: 'a,b' });
    assert.equal(txt.status, 415);
  });

  test('a .js boot script through the CLI: --key=value arguments, parameters as environment, output copied; jobs wait', async () => {
    const env = { TSCAFFE_SERVER: p.url, TSCAFFE_TOKEN: p.token! };
    const r = await cli(['jobs', 'create', '--name', 'script', '--code', 's3://jobs/scripts/', '--boot', 'run.js', '--param', 'alpha=1', '--param', 'beta=two words', '--output', 's3://jobs/out/', '--log', 's3://jobs/logs/script.log', '--threads', '1'], env);
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.trim().split('\n').pop()!;
    assert.match(id, /^job-[0-9a-f]{8}$/);
    const w = await cli(['jobs', 'wait', id], env);
    assert.equal(w.code, 0, w.stderr + w.stdout);
    const args = JSON.parse((await c.download('s3://jobs/out/final/args.json')).toString()) as { argv: string[]; alpha: string; beta: string; cwd: string; threads: string };
    assert.deepEqual(args.argv, ['--alpha=1', '--beta=two words']);
    assert.equal(args.threads, '1');
    assert.equal(args.alpha, '1');
    assert.equal(args.beta, 'two words');
    assert.ok(args.cwd.endsWith(path.join('user-job-dir', 'scripts')), args.cwd);
    assert.match((await c.download('s3://jobs/logs/script.log')).toString(), /script done/);
    const list = await cli(['jobs', 'list'], env);
    assert.match(list.stdout, new RegExp(`${id}\\s+script\\s+v1\\s+succeeded`));
    const logs = await cli(['jobs', 'logs', id], env);
    assert.match(logs.stdout, /script done/);
    const show = await cli(['jobs', 'show', id, '--json'], env);
    assert.equal((JSON.parse(show.stdout) as { current: { status: string } }).current.status, 'succeeded');
    const noAuth = await cli(['jobs', 'list', '--server', p.url, '--token', 'nope'], { TSCAFFE_TOKEN: '' });
    assert.equal(noAuth.code, 1);
    assert.match(noAuth.stderr, /401/);
  });

  test('a failing script: failed with the reason; jobs wait exits non-zero and says why', async () => {
    const j = await c.createJob({ name: 'fails', code: 's3://jobs/scripts/', boot: 'fail.sh', output: 's3://jobs/fail-out/' });
    const w = await cli(['jobs', 'wait', j.id], { TSCAFFE_SERVER: p.url, TSCAFFE_TOKEN: p.token! });
    assert.notEqual(w.code, 0);
    assert.match(w.stderr, /failed \(the trainer exited with code 3: Error: out of luck\)/);
    const v = (await c.getJob(j.id)).current;
    assert.equal(v.exitCode, 3);
    const missing = await c.createJob({ name: 'missing', code: 's3://jobs/scripts/', boot: 'nosuch.sh', output: 's3://jobs/x/' });
    const m = await waitUntil(c, missing.id, (x) => x.current.status === 'failed');
    assert.match(m.current.reason!, /boot file 'nosuch\.sh' not found/);
  });

  test('retries: a failing version is run again by the local scheduler, with the attempts recorded', async () => {
    const j = await c.createJob({ name: 'retried', code: 's3://jobs/scripts/', boot: 'fail.sh', output: 's3://jobs/retry-out/', retries: 2 });
    assert.equal(j.current.spec.retries, 2);
    const done = await waitUntil(c, j.id, (x) => x.current.status === 'failed');
    assert.equal(done.current.attempts, 3);
    assert.match(done.current.reason!, /out of luck.*\(after 3 attempts\)/);
    const text = await c.log(j.id);
    assert.match(text, /attempt 1 of 3 failed: .*retrying/);
    assert.match(text, /attempt 2 of 3 failed: .*retrying/);
    const once = await c.createJob({ name: 'once', code: 's3://jobs/scripts/', boot: 'fail.sh', output: 's3://jobs/once-out/' });
    const o = await waitUntil(c, once.id, (x) => x.current.status === 'failed');
    assert.equal(o.current.attempts, 1);
    await assert.rejects(c.createJob({ name: 'bad', code: 's3://jobs/scripts/', boot: 'fail.sh', output: 's3://jobs/x/', retries: -1 }), /retries/);
  });
});

describe('a restart of the service', { timeout: 120_000 }, () => {
  const tmp = tempDir('tscaffe-jobs-restart-');
  const dataDir = path.join(tmp.dir, 'data');
  let child: ChildProcess | undefined;

  after(() => {
    child?.kill('SIGKILL');
    tmp.cleanup();
  });

  test('marks the job it was running failed with the reason; the token is kept and not printed again', async () => {
    child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', () => {});
    const deadline = Date.now() + 30_000;
    while (!/API token \(shown once[^\n]*: (\S+)\n/.test(out)) {
      assert.ok(Date.now() < deadline && child.exitCode === null, `the service did not start: ${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const url = /listening on (http:\S+)/.exec(out)![1]!;
    const token = /API token \(shown once[^\n]*: (\S+)\n/.exec(out)![1]!;
    const c = new PlatformClient(url, token);
    await uploadScripts(c, path.join(tmp.dir, 'scripts'), { 'long.sh': 'echo started\nsleep 60\n' }, '/jobs/long/');
    const j = await c.createJob({ name: 'long', code: '/jobs/long/', boot: 'long.sh', output: '/jobs/out/' });
    await waitUntil(c, j.id, (x) => x.current.status === 'running');
    child.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));

    setQuiet(true);
    const p = await startServer({ dataDir, port: 0 });
    try {
      assert.equal(p.tokenCreated, false);
      assert.equal(p.token, token);
      const c2 = new PlatformClient(p.url, p.token);
      const v = (await c2.getJob(j.id)).current;
      assert.equal(v.status, 'failed');
      assert.match(v.reason!, /the service stopped while the job was running.*marked failed when it restarted/);
      assert.ok(v.finishedAt);
    } finally {
      await p.close();
      setQuiet(false);
    }
  });
});
