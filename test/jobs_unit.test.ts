// The job platform's parts: SQLite metadata (jobs, versions, status transitions, the dataset repository), request
// validation, the metrics parser, and the workspace's /home/work mapping and solver overrides.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { openDatabase } from '../src/platform/jobs/db.js';
import { parseMetrics } from '../src/platform/jobs/metrics.js';
import { FieldError, parseDatasetRef, validateJobRequest, validateSpecFields, type JobSpec } from '../src/platform/jobs/model.js';
import { JobRepository } from '../src/platform/jobs/repository.js';
import { SqliteDatasetRepository } from '../src/platform/jobs/sqlite_datasets.js';
import { codeFolderName, mapHomeWork, prepareSolver } from '../src/platform/jobs/workspace.js';
import { tempDir } from './jobs_helpers.js';

const tmp = tempDir('tscaffe-jobs-unit-');
after(() => tmp.cleanup());

const spec: JobSpec = { code: 's3://bkt/codes/', boot: 'lenet_solver.prototxt', params: { max_iter: '40' }, output: 's3://bkt/out/', pool: 'cpu', gpus: 0, copyIntervalMin: 10 };

describe('SQLite metadata', () => {
  test('jobs: versions keep the old ones; statuses move forward only, with timestamps; it all persists', () => {
    const file = path.join(tmp.dir, 'meta.db');
    let db = openDatabase(file);
    let repo = new JobRepository(db);
    const j = repo.createJob('lenet', 'the seed', spec);
    assert.equal(j.current.status, 'queued');
    assert.equal(j.current.version, 1);
    const v1 = j.current.id;
    assert.ok(repo.update(v1, { status: 'initializing', pid: 123 })?.startedAt);
    assert.equal(repo.update(v1, { status: 'queued' }), undefined, 'no way back');
    assert.ok(repo.update(v1, { status: 'running' })?.runningAt);
    const done = repo.update(v1, { status: 'succeeded', exitCode: 0, copies: 2 })!;
    assert.ok(done.finishedAt);
    assert.equal(repo.update(v1, { status: 'failed', reason: 'late' }), undefined, 'a final status is final');
    const v2 = repo.addVersion(j.id, { ...spec, params: { max_iter: '2000' } });
    assert.equal(v2.version, 2);
    db.close();

    db = openDatabase(file);
    repo = new JobRepository(db);
    const again = repo.getJob(j.id)!;
    assert.equal(again.latestVersion, 2);
    assert.equal(again.current.spec.params.max_iter, '2000');
    assert.deepEqual(repo.listVersions(j.id).map((v) => [v.version, v.status, v.copies]), [[1, 'succeeded', 2], [2, 'queued', 0]]);
    assert.equal(repo.getVersion(j.id, 1)!.pid, 123);
    assert.deepEqual(repo.versionsIn(['queued']).map((v) => v.id), [v2.id]);
    assert.equal(repo.listJobs().length, 1);
    assert.ok(repo.deleteJob(j.id));
    assert.equal(repo.getJob(j.id), undefined);
    assert.equal(repo.listVersions(j.id).length, 0);
    db.close();
  });

  test('the dataset repository over SQLite', async () => {
    const db = openDatabase(':memory:');
    const repo = new SqliteDatasetRepository(db);
    const d = await repo.createDataset({ name: 'mnist', source: 'market:mnist' });
    await assert.rejects(repo.createDataset({ name: 'mnist' }), /dataset 'mnist' already exists/);
    const base = { datasetId: d.id, storageUrl: 's3://b/m/', store: 'local:/x', format: 'both' as const, source: 'market:mnist' };
    const [a, b] = await Promise.all([repo.createVersion(base), repo.createVersion(base)]);
    assert.deepEqual([a.version, b.version].sort(), [1, 2]);
    const u = await repo.updateVersion(a.id, { status: 'normal', totalBytes: 5, files: [{ path: 'x', url: 's3://b/m/x', size: 5, sha256: 'ab', kind: 'idx' }] });
    assert.equal(u.status, 'normal');
    assert.equal((await repo.getVersion(a.id))!.files[0]!.size, 5);
    assert.equal((await repo.getDatasetByName('mnist'))!.source, 'market:mnist');
    assert.equal(repo.failInterruptedImports('restarted'), 1);
    assert.equal((await repo.getVersion(b.id))!.status, 'failed');
    assert.deepEqual((await repo.listVersions(d.id)).map((v) => v.version), [1, 2]);
    await assert.rejects(repo.createVersion({ ...base, datasetId: 'nope' }), /no dataset with id 'nope'/);
    db.close();
  });
});

describe('requests', () => {
  test('create: params as a list or an object; the copy interval defaults to 10 minutes, fractions allowed', () => {
    const r = validateJobRequest({ name: 'a', code: '/bkt/codes/', boot: 'x.prototxt', params: ['k=v', 'data_path_suffix=codes', 'e=a=b'], output: 'obs://bkt/o/' });
    assert.deepEqual(r.spec.params, { k: 'v', data_path_suffix: 'codes', e: 'a=b' });
    assert.equal(r.spec.copyIntervalMin, 10);
    assert.equal(r.spec.pool, 'cpu');
    const g = validateJobRequest({ name: 'a', code: '/bkt/c/', boot: 's.sh', params: { n: 3 }, output: '/bkt/o/', pool: 'gpu', copyIntervalMin: 0.5 });
    assert.deepEqual([g.spec.gpus, g.spec.copyIntervalMin, g.spec.params.n], [1, 0.5, '3']);
    assert.throws(() => validateJobRequest([]), FieldError);
  });

  test('rerun: changed fields over the old spec, params merged, null removes one', () => {
    const { spec: s } = validateSpecFields({ params: { max_iter: 2000, extra: 'x' } }, { ...spec, params: { max_iter: '40', gone: '1' } });
    assert.deepEqual(s.params, { max_iter: '2000', gone: '1', extra: 'x' });
    const { spec: t } = validateSpecFields({ params: { gone: null }, copyIntervalMin: 1 }, { ...spec, params: { gone: '1', keep: '2' } });
    assert.deepEqual(t.params, { keep: '2' });
    assert.equal(t.copyIntervalMin, 1);
    assert.equal(t.code, spec.code);
  });

  test('dataset references', () => {
    assert.deepEqual(parseDatasetRef('dataset:mnist:2'), { name: 'mnist', version: 2 });
    assert.deepEqual(parseDatasetRef('dataset:mnist:v3'), { name: 'mnist', version: 3 });
    assert.deepEqual(parseDatasetRef('dataset:mnist'), { name: 'mnist', version: 0 });
    assert.equal(parseDatasetRef('s3://b/mnist/'), undefined);
  });
});

test('metrics from Caffe log lines', () => {
  const log = [
    'I20261126 04:23:53.000000 1 solver.cpp:347] Iteration 0, Testing net (#0)',
    'I20261126 04:23:53.000000 1 solver.cpp:414]     Test net output #0: accuracy = 0.1',
    'I20261126 04:23:53.000000 1 solver.cpp:414]     Test net output #1: loss = 2.3 (* 1 = 2.3 loss)',
    'I20261126 04:23:53.000000 1 solver.cpp:239] Iteration 0 (0 iter/s, 0.1s/10 iters), loss = 2.31',
    'I20261126 04:23:53.000000 1 solver.cpp:258]     Train net output #0: loss = 2.31 (* 1 = 2.31 loss)',
    'I20261126 04:23:53.000000 1 sgd_solver.cpp:112] Iteration 0, lr = 0.01',
    'I20261126 04:23:54.000000 1 solver.cpp:239] Iteration 10 (20 iter/s, 0.5s/10 iters), loss = 1.5e-01',
    'I20261126 04:23:54.000000 1 sgd_solver.cpp:112] Iteration 10, lr = 0.00999',
    '[runner 2026-11-26T04:23:55Z] Copied the snapshots to s3://b/out/1/',
    'I20261126 04:23:55.000000 1 solver.cpp:327] Iteration 20, loss = 0.1',
    'I20261126 04:23:55.000000 1 solver.cpp:347] Iteration 20, Testing net (#0)',
    'I20261126 04:23:55.000000 1 solver.cpp:414]     Test net output #0: accuracy = 0.95',
  ].join('\n');
  const m = parseMetrics(log);
  assert.deepEqual(m.train, [{ iteration: 0, loss: 2.31, lr: 0.01 }, { iteration: 10, loss: 0.15, lr: 0.00999 }, { iteration: 20, loss: 0.1 }]);
  assert.deepEqual(m.test, [{ iteration: 0, net: 0, scores: { accuracy: 0.1, loss: 2.3 } }, { iteration: 20, net: 0, scores: { accuracy: 0.95 } }]);
});

describe('the workspace', () => {
  test('/home/work paths in quotes map into the work folder; others stay', () => {
    const t = 'net: "/home/work/user-job-dir/codes/n.prototxt"\nsource: \'/home/work/dataset/x\'\nother: "/home/workers/x"\nplain: "/data/x"';
    assert.equal(mapHomeWork(t, '/w'), 'net: "/w/user-job-dir/codes/n.prototxt"\nsource: \'/w/dataset/x\'\nother: "/home/workers/x"\nplain: "/data/x"');
    assert.equal(codeFolderName('s3://b/x/codes/'), 'codes');
    assert.equal(codeFolderName('obs://b/codes'), 'codes');
    assert.equal(codeFolderName('/b/'), 'code');
  });

  test('solver fields among the run parameters override the file; the snapshot folder is created', async () => {
    const work = path.join(tmp.dir, 'work');
    const codes = path.join(work, 'user-job-dir', 'codes');
    mkdirSync(codes, { recursive: true });
    const solver = path.join(codes, 's.prototxt');
    writeFileSync(solver, `net: "${work}/user-job-dir/codes/n.prototxt"\nbase_lr: 0.01\nmax_iter: 10000\nsnapshot_prefix: "${work}/lenet_mnist/mnist_lenet"\nsolver_mode: CPU\n`);
    const out = path.join(work, '.tscaffe', 'solver.prototxt');
    mkdirSync(path.dirname(out), { recursive: true });
    const r = await prepareSolver(solver, out, { max_iter: '2000', base_lr: '0.5', solver_mode: 'GPU', data_path_suffix: 'codes' }, work);
    assert.deepEqual(r.overrides, { applied: { max_iter: '2000', base_lr: '0.5', solver_mode: 'GPU' }, other: ['data_path_suffix'] });
    assert.equal(r.snapshotDir, path.join(work, 'lenet_mnist'));
    const text = readFileSync(out, 'utf8');
    assert.match(text, /max_iter: 2000/);
    assert.match(text, /base_lr: 0\.5/);
    assert.match(text, /solver_mode: GPU/);
    assert.ok(text.includes(`net: "${path.join(codes, 'n.prototxt')}"`), text);
    await assert.rejects(prepareSolver(solver, out, { max_iter: 'lots' }, work), /run parameter max_iter=lots: not a valid value/);
  });
});
