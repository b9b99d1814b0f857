// The seed, end to end, through the service on loopback: import MNIST from the market, upload the seed's `codes`
// folder (its /home/work paths unmodified), create the training job with data_path_suffix=codes, wait for it; then
// stop a long job. The service runs in this process on a random port with a temp data folder; jobs run in children.
import assert from 'node:assert/strict';
import { findGpuAdapters, isSoftwareAdapter } from '../src/backend/webgpu/device.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setQuiet } from '../src/util/log.js';
import { PlatformClient } from '../src/platform/jobs/client.js';
import { startServer, type Platform } from '../src/platform/jobs/server.js';
import { seedSolver, tempDir, waitUntil, writeSeedCodes } from './jobs_helpers.js';

describe('the seed through the service', { timeout: 240_000 }, () => {
  const tmp = tempDir('tscaffe-jobs-e2e-');
  let p: Platform;
  let c: PlatformClient;

  before(async () => {
    setQuiet(true);
    p = await startServer({ dataDir: path.join(tmp.dir, 'data'), port: 0, maxJobs: 2 });
    c = new PlatformClient(p.url, p.token);
    // Import MNIST from the market (LMDBs only: what the seed's net reads).
    const v = await c.call<{ id: string; status: string }>('POST', '/api/datasets', { market: 'mnist', name: 'mnist', path: 's3://seed/datasets/mnist/', format: 'lmdb' });
    assert.equal(v.status, 'importing');
    for (;;) {
      const d = await c.call<{ versions: { status: string; reason?: string }[] }>('GET', '/api/datasets/mnist');
      const s = d.versions[0]!;
      if (s.status === 'failed') throw new Error(`import failed: ${s.reason}`);
      if (s.status === 'normal') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    // The seed's codes folder with a short run (batch 64, 40 iterations, snapshot every 20), uploaded through the API.
    const codes = writeSeedCodes(tmp.dir, seedSolver({ maxIter: 2000, snapshot: 20, testInterval: 20, testIter: 2 }));
    assert.equal(await c.uploadDir(codes, 's3://seed/codes/'), 2);
  });

  after(async () => {
    await p?.close();
    setQuiet(false);
    tmp.cleanup();
  });

  test('the job succeeds: final model and solver state, an intermediate copy, Caffe log lines, metrics', async () => {
    const created = await c.createJob({
      name: 'lenet',
      code: 's3://seed/codes/',
      boot: 'lenet_solver.prototxt',
      params: ['data_path_suffix=codes', 'max_iter=40'],
      data: 'dataset:mnist:1',
      output: 's3://seed/output/',
      log: 's3://seed/logs/',
      pool: 'cpu',
      copyIntervalMin: 0.01,
    });
    assert.equal(created.current.status, 'queued');
    assert.equal(created.current.spec.data?.kind, 'dataset');
    let followed = '';
    const following = c.followLog(created.id, (s) => (followed += s), { follow: true });
    const j = await waitUntil(c, created.id, (x) => ['succeeded', 'failed', 'stopped'].includes(x.current.status), 180_000);
    const log = await c.log(created.id);
    assert.equal(j.current.status, 'succeeded', `${j.current.reason}\n${log.slice(-3000)}`);
    for (const k of ['startedAt', 'runningAt', 'finishedAt'] as const) assert.ok(j.current[k], k);

    const final = await c.ls('s3://seed/output/final/');
    const names = (final.objects ?? []).map((o) => o.key.split('/').pop());
    assert.ok(names.includes('mnist_lenet_iter_40.caffemodel'), names.join(' '));
    assert.ok(names.includes('mnist_lenet_iter_40.solverstate'), names.join(' '));
    const first = await c.ls('s3://seed/output/1/');
    assert.ok((first.objects ?? []).some((o) => o.key.endsWith('.caffemodel')), 'an intermediate copy in <output>/1/');
    assert.ok(j.current.copies >= 1);

    assert.match(log, /Solver scaffolding done|Solving LeNet/);
    assert.match(log, /Iteration 10 \(.*\), loss = /);
    assert.match(log, /Iteration 20, lr = /);
    assert.match(log, /Test net output #0: accuracy = /);
    assert.match(log, /Snapshotting to binary proto file .*mnist_lenet_iter_40\.caffemodel/);
    assert.match(log, /Optimization Done/);
    await following; // the followed stream ends with the job, holding the whole log
    assert.match(followed, /Optimization Done[\s\S]*Job succeeded/);
    const uploaded = (await c.download(`s3://seed/logs/${created.id}-v1.log`)).toString();
    assert.match(uploaded, /Optimization Done/);

    const m = await c.metrics(created.id);
    assert.deepEqual(m.train.filter((t) => t.loss !== undefined).map((t) => t.iteration).slice(0, 4), [0, 10, 20, 30]);
    assert.ok(m.train.every((t) => t.loss === undefined || Number.isFinite(t.loss)));
    assert.ok(m.train.some((t) => t.lr !== undefined && t.lr > 0 && t.lr <= 0.01));
    const acc = m.test.map((t) => t.scores.accuracy);
    assert.ok(acc.length >= 2 && acc.every((a) => a !== undefined && a >= 0 && a <= 1), JSON.stringify(m.test));

    // The workspace follows the seed's layout.
    const work = path.join(p.jobs.versionDir(j.current), 'work');
    const eff = readFileSync(path.join(work, '.tscaffe', 'solver.prototxt'), 'utf8');
    assert.match(eff, /max_iter: 40/);
    assert.ok(eff.includes(path.join(work, 'lenet_mnist', 'mnist_lenet')));
  });

  test('stopping a running job ends in stopped with a final snapshot', async () => {
    const created = await c.createJob({
      name: 'lenet-long',
      code: 's3://seed/codes/',
      boot: 'lenet_solver.prototxt',
      params: { data_path_suffix: 'codes', max_iter: 100000, snapshot: 100000 },
      data: 'dataset:mnist:latest',
      output: 's3://seed/long/',
    });
    // Wait until it trains (a loss line in the log), then stop it.
    const deadline = Date.now() + 120_000;
    while (!/Iteration \d+ \(.*\), loss = /.test(await c.log(created.id).catch(() => ''))) {
      assert.ok(Date.now() < deadline, 'the job did not start training');
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal((await c.getJob(created.id)).current.status, 'running');
    await c.stopJob(created.id);
    const j = await waitUntil(c, created.id, (x) => ['succeeded', 'failed', 'stopped'].includes(x.current.status), 60_000);
    assert.equal(j.current.status, 'stopped', j.current.reason);
    const final = await c.ls('s3://seed/long/final/');
    const names = (final.objects ?? []).map((o) => o.key);
    assert.ok(names.some((k) => k.endsWith('.caffemodel')) && names.some((k) => k.endsWith('.solverstate')), names.join(' '));
    assert.match(await c.log(created.id), /Snapshotting to binary proto file/);
    // Stopping again is a conflict; the job can be re-run as a new version with changed parameters.
    await assert.rejects(c.stopJob(created.id), /409/);
    // v2 on the gpu pool: a machine without a GPU (a software adapter at most, as here) trains it on the CPU, saying so.
    const v2 = await c.rerunJob(created.id, { params: { max_iter: 20, snapshot: 20 }, pool: 'gpu', gpus: 1 });
    assert.equal(v2.version, 2);
    assert.equal(v2.spec.params.max_iter, '20');
    assert.equal(v2.spec.params.data_path_suffix, 'codes');
    const done = await waitUntil(c, created.id, (x) => ['succeeded', 'failed', 'stopped'].includes(x.current.status), 120_000);
    assert.equal(done.current.status, 'succeeded', done.current.reason);
    const log2 = await c.log(created.id, 2);
    const adapters = await findGpuAdapters();
    if (adapters.some((a) => !isSoftwareAdapter(a.description))) assert.match(log2, /Starting: .* train -solver .* -gpu 0[\s\S]*GPU 0: Adapter 0/);
    else assert.match(log2, /Pool gpu, but this machine has no GPU \(.*\): training on the CPU[\s\S]*Use CPU\./);
    const versions = await c.call<{ versions: { version: number; status: string }[] }>('GET', `/api/jobs/${created.id}/versions`);
    assert.deepEqual(versions.versions.map((v) => [v.version, v.status]), [[1, 'stopped'], [2, 'succeeded']]);
    await c.deleteJob(created.id);
    await assert.rejects(c.getJob(created.id), /404/);
  });
});
