// HTTP inference: the serve_model app (PNG, JPEG, tensor and base64 bodies, errors, concurrent requests batched), the
// serve_model command itself, and the platform's /api/models routes over a job whose final folder is built here.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import jpeg from 'jpeg-js';
import { setQuiet } from '../src/util/log.js';
import { Classifier, type Prediction } from '../src/inference/classifier.js';
import { createModelApp } from '../src/inference/http.js';
import { PlatformClient } from '../src/platform/jobs/client.js';
import { startServer, type Platform } from '../src/platform/jobs/server.js';
import type { JobSpec } from '../src/platform/jobs/model.js';
import type { DeploymentInfo, ModelEntry } from '../src/platform/models/service.js';
import { seedNetPrototxt } from '../src/examples/mnist.js';
import { deriveDeployNet } from '../src/inference/deploy.js';
import { parseTextProto, printTextProto } from '../src/proto/textformat.js';
import type { NetParameter } from '../src/proto/types.generated.js';
import { seedSolver, tempDir } from './jobs_helpers.js';
import { vector } from './helpers.js';
import { argmax, digit, digitTensor, maxAbsDiff, pngOf, trainTestFile, weightsFile } from './inference_helpers.js';

const BIN = fileURLToPath(new URL('../../bin/tscaffe.js', import.meta.url));

async function post(url: string, body: Uint8Array | string, type: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': type }, body });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}
const postJson = (url: string, body: unknown) => post(url, JSON.stringify(body), 'application/json');

function jpegOf(i: number): Buffer {
  const rgba = new Uint8Array(784 * 4);
  digit(i).forEach((v, k) => rgba.set([v, v, v, 255], k * 4));
  return jpeg.encode({ width: 28, height: 28, data: rgba }, 95).data;
}

describe('serve_model: POST /predict, GET /model, GET /health', () => {
  let c: Classifier;
  let app: FastifyInstance;
  let base: string;
  before(async () => {
    setQuiet(true);
    c = await Classifier.load({ model: trainTestFile, weights: weightsFile });
    app = createModelApp(c);
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  });
  after(async () => {
    await app?.close();
    await c?.close();
    setQuiet(false);
  });

  test('health and the model description', async () => {
    assert.deepEqual(await (await fetch(`${base}/health`)).json(), { ok: true });
    const m = (await (await fetch(`${base}/model`)).json()) as Record<string, any>;
    assert.deepEqual(m.input, { name: 'data', shape: [1, 1, 28, 28], channels: 1, height: 28, width: 28 });
    assert.deepEqual(m.output, { name: 'prob', classes: 10, probabilities: true });
    assert.equal(m.labels, null);
    assert.equal(m.preprocessing.scale, 0.00390625);
    assert.equal(m.preprocessing.channelOrder, 'gray');
  });

  test('PNG, JPEG, octet-stream, tensor and base64 bodies answer what the classifier answers', async () => {
    const png = pngOf(digit(0), 28, 28);
    const [want] = await c.classify([png], 10);
    const [wantJpeg] = await c.classify([jpegOf(0)], 10);
    const [wantTensor] = await c.classify([{ tensor: digitTensor(0) }], 10);
    const check = (r: { status: number; json: Record<string, unknown> }, w: Prediction, k = 5) => {
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.deepEqual(r.json, { probabilities: w.probabilities, top: w.top.slice(0, k) });
    };
    check(await post(`${base}/predict`, png, 'image/png'), want!);
    check(await post(`${base}/predict`, png, 'application/octet-stream'), want!);
    check(await post(`${base}/predict?top_k=3`, jpegOf(0), 'image/jpeg'), wantJpeg!, 3);
    check(await postJson(`${base}/predict`, { tensor: Array.from(digitTensor(0)), shape: [1, 1, 28, 28] }), wantTensor!);
    check(await postJson(`${base}/predict`, { image: png.toString('base64') }), want!);
    check(await postJson(`${base}/predict?top_k=10`, { image: `data:image/png;base64,${png.toString('base64')}` }), want!, 10);
    assert.equal(want!.top[0]!.index, 7);
    assert.equal(want!.top[0]!.label, '7');
  });

  test('bad requests: 4xx JSON with the reason', async () => {
    const cases: [Promise<{ status: number; json: Record<string, unknown> }>, number, RegExp][] = [
      [post(`${base}/predict`, 'not a png', 'image/png'), 400, /request: unsupported image format \(not an image\)/],
      [post(`${base}/predict`, pngOf(digit(0), 28, 28).subarray(0, 50), 'image/png'), 400, /request: not a readable PNG image/],
      [postJson(`${base}/predict`, { tensor: [1, 2, 3] }), 400, /"tensor" has 3 values; the model's input 1x28x28 takes 784/],
      [postJson(`${base}/predict`, { tensor: Array(784).fill(0), shape: [3, 28, 28] }), 400, /"shape" \[3,28,28\] does not match the model's input \[1, 28, 28\]/],
      [postJson(`${base}/predict`, { tensor: Array(784).fill('x') }), 400, /tensor value 0 is not a finite number/],
      [postJson(`${base}/predict`, { picture: 'x' }), 400, /needs "tensor" .* or "image"/],
      [postJson(`${base}/predict?top_k=0`, { tensor: Array(784).fill(0) }), 400, /top_k must be a positive integer/],
      [post(`${base}/predict`, 'hello', 'text/plain'), 415, /unsupported Content-Type 'text\/plain': send a PNG or JPEG image/],
      [post(`${base}/predict`, 'x', 'image/gif'), 415, /unsupported Content-Type 'image\/gif': send image\/png, image\/jpeg or application\/json/],
      [postJson(`${base}/predict`, [1, 2]), 400, /the JSON body must be an object/],
      [post(`${base}/nope`, 'x', 'image/png'), 404, /no route POST \/nope/],
    ];
    for (const [p, status, re] of cases) {
      const r = await p;
      assert.equal(r.status, status, JSON.stringify(r.json));
      assert.match(String(r.json.error), re);
    }
  });

  test('concurrent requests are batched into shared forward passes, with the results of single ones', async () => {
    const cb = await Classifier.load({ model: trainTestFile, weights: weightsFile, batchWindowMs: 50 });
    const a = createModelApp(cb);
    try {
      await a.listen({ host: '127.0.0.1', port: 0 });
      const url = `http://127.0.0.1:${(a.server.address() as { port: number }).port}/predict`;
      const alone: Float32Array[] = [];
      for (let i = 0; i < 12; i++) alone.push((await cb.runBatch([digitTensor(i)]))[0]!);
      const before = cb.stats.forwards;
      const res = await Promise.all(Array.from({ length: 12 }, (_, i) => post(url, pngOf(digit(i), 28, 28), 'image/png')));
      const forwards = cb.stats.forwards - before;
      assert.ok(cb.stats.largestBatch > 1, `batch sizes ${JSON.stringify(cb.stats.batchSizes)}`);
      assert.ok(forwards < 12, `${forwards} forward passes for 12 requests`);
      res.forEach((r, i) => {
        assert.equal(r.status, 200);
        assert.ok(maxAbsDiff(r.json.probabilities as number[], alone[i]!) < 1e-6, `request ${i}`);
        assert.equal((r.json.top as { index: number }[])[0]!.index, argmax(alone[i]!));
      });
    } finally {
      await a.close();
      await cb.close();
    }
  });
});

test('the serve_model command: listens, answers, stops on SIGINT', { timeout: 60_000 }, async () => {
  const ch = spawn(process.execPath, [BIN, 'serve_model', '-model', trainTestFile, '-weights', weightsFile, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  ch.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => ch.on('close', (code) => r(code)));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      ch.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+) \(input 1x28x28, 10 classes, max batch 256\)/.exec(out);
        if (m) resolve(m[1]!);
      });
      ch.on('close', () => reject(new Error(`serve_model exited: ${out}${err}`)));
    });
    assert.match(out, /note: .*ASSUMED 1x28x28/);
    const r = await post(`${url}/predict`, pngOf(digit(1), 28, 28), 'image/png');
    assert.equal(r.status, 200);
    assert.equal((r.json.top as { index: number }[])[0]!.index, 2);
  } finally {
    ch.kill('SIGINT');
  }
  assert.equal(await exited, 0, err);
  assert.match(out, /SIGINT: shutting down/);
});

describe('the platform models API', { timeout: 120_000 }, () => {
  const tmp = tempDir('tscaffe-models-');
  let p: Platform;
  let c: PlatformClient;
  let local: Classifier;
  const spec = (o: Partial<JobSpec>): JobSpec => ({ code: 's3://work/codes/', boot: 'lenet_solver.prototxt', params: {}, output: 's3://work/out/', pool: 'cpu', gpus: 0, copyIntervalMin: 10, ...o });

  /** A job record in the given final status (no run: its files are put in storage by the test). */
  function job(name: string, s: JobSpec, status: 'succeeded' | 'failed'): string {
    const j = p.jobs.repo.createJob(name, '', s);
    p.jobs.repo.update(j.current.id, { status: 'initializing' });
    p.jobs.repo.update(j.current.id, { status, ...(status === 'failed' ? { reason: 'test' } : {}) });
    return j.id;
  }

  before(async () => {
    setQuiet(true);
    p = await startServer({ dataDir: path.join(tmp.dir, 'data'), port: 0 });
    c = new PlatformClient(p.url, p.token);
    const store = p.ctx.store;
    await store.createBucket('work');
    // The seed's codes folder (its /home/work paths), labels.txt beside it; final/ as the runner leaves it.
    await store.putBuffer('work', 'codes/lenet_solver.prototxt', seedSolver({ maxIter: 100, snapshot: 50, testInterval: 50, testIter: 1 }));
    await store.putBuffer('work', 'codes/lenet_train_test.prototxt', seedNetPrototxt('/home/work/dataset', 64, 100));
    await store.putBuffer('work', 'codes/labels.txt', ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'].join('\n'));
    await store.putBuffer('work', 'out/final/mnist_lenet_iter_50.caffemodel', readFileSync(vector('init', 'lenet_iter_0.caffemodel')));
    await store.putBuffer('work', 'out/final/mnist_lenet_iter_100.caffemodel', readFileSync(weightsFile));
    await store.putBuffer('work', 'out/final/mnist_lenet_iter_100.solverstate', readFileSync(vector('lenet_iter_100.solverstate')));
    await store.putBuffer('work', 'scripts/train.js', 'console.log(1)');
    await store.putBuffer('work', 'script-out/final/model.caffemodel', readFileSync(weightsFile));
    local = await Classifier.load({ model: trainTestFile, weights: weightsFile });
  });
  after(async () => {
    await local?.close();
    await p?.close();
    setQuiet(false);
    tmp.cleanup();
  });

  test('list, deploy, predict (image, tensor), undeploy', async () => {
    const lenet = job('lenet', spec({}), 'succeeded');
    job('broken', spec({ output: 's3://work/none/' }), 'failed');
    const script = job('script', spec({ code: 's3://work/scripts/', boot: 'train.js', output: 's3://work/script-out/' }), 'succeeded');

    const { models } = await c.listModels();
    assert.deepEqual(models.map((m) => m.jobId).sort(), [lenet, script].sort());
    const m = models.find((x) => x.jobId === lenet)!;
    assert.deepEqual({ ...m, finishedAt: undefined } as ModelEntry, {
      jobId: lenet, jobName: 'lenet', version: 1, finishedAt: undefined, output: 's3://work/out/final/', weights: 's3://work/out/final/mnist_lenet_iter_100.caffemodel',
      iteration: 100, deployable: true, deployments: [],
    });
    const s = models.find((x) => x.jobId === script)!;
    assert.equal(s.deployable, false);
    assert.match(s.problem!, /no net \.prototxt in s3:\/\/work\/script-out\/final\/ and the job booted a script/);

    const d = await c.deployModel(lenet);
    assert.match(d.id, /^dep-/);
    assert.equal(d.predictUrl, `/api/models/deployments/${d.id}/predict`);
    assert.equal(d.weights, 's3://work/out/final/mnist_lenet_iter_100.caffemodel');
    assert.equal(d.net, 's3://work/codes/lenet_train_test.prototxt');
    const model = d.model as { input: { shape: number[] }; labels: string[] };
    assert.deepEqual(model.input.shape, [1, 1, 28, 28]);
    assert.equal(model.labels[7], 'seven');
    const again = await c.raw('POST', `/api/models/${lenet}/deploy`);
    assert.equal(again.status, 200);
    assert.equal(((await again.json()) as DeploymentInfo).id, d.id);
    assert.deepEqual((await c.listDeployments()).deployments.map((x) => x.id), [d.id]);
    assert.deepEqual((await c.listModels()).models.find((x) => x.jobId === lenet)!.deployments, [d.id]);

    // Predictions: those of the iteration-100 weights (not the older iteration-50 file), with the job's labels.
    for (const i of [0, 1, 2]) {
      const [want] = await local.classify([pngOf(digit(i), 28, 28)]);
      const byImage = await c.predict(d.id, pngOf(digit(i), 28, 28));
      assert.deepEqual(byImage.probabilities, want!.probabilities);
      assert.deepEqual(byImage.top, want!.top.map((t) => ({ ...t, label: model.labels[t.index]! })));
      const byTensor = await c.predict(d.id, { tensor: Array.from(digitTensor(i)) }, 2);
      assert.equal(byTensor.top.length, 2);
      assert.ok(maxAbsDiff(byTensor.probabilities, want!.probabilities) < 1e-6);
    }
    const typed = await fetch(p.url + d.predictUrl, { method: 'POST', headers: { authorization: `Bearer ${p.token}`, 'content-type': 'image/png' }, body: pngOf(digit(0), 28, 28) });
    assert.equal(typed.status, 200);
    assert.equal(((await typed.json()) as Prediction).top[0]!.label, 'seven');
    assert.equal((await c.getDeployment(d.id)).requests, 7);

    // The deploy net as text: an Input layer carrying the TEST transform, loadable as a deploy net again.
    const text = await fetch(`${p.url}/api/models/deployments/${d.id}/deploy.prototxt`, { headers: { authorization: `Bearer ${p.token}` } });
    assert.equal(text.status, 200);
    assert.match(text.headers.get('content-type') ?? '', /^text\/plain/);
    const net = parseTextProto<NetParameter>(await text.text(), 'NetParameter');
    assert.equal(net.layer![0]!.type, 'Input');
    assert.ok(Math.abs(net.layer![0]!.transform_param!.scale! - 0.00390625) < 1e-9);
    assert.equal(net.layer!.at(-1)!.type, 'Softmax');
    const missing = await fetch(`${p.url}/api/models/deployments/nope/deploy.prototxt`, { headers: { authorization: `Bearer ${p.token}` } });
    assert.equal(missing.status, 404);

    assert.deepEqual(await c.deleteDeployment(d.id), { deleted: d.id });
    assert.deepEqual((await c.listDeployments()).deployments, []);
    await assert.rejects(c.predict(d.id, pngOf(digit(0), 28, 28)), /^Error: 404: no deployment with id/);
  });

  test('a net prototxt in final/ (deploy.prototxt first) serves a script job; a later failed version keeps the succeeded one', async () => {
    const store = p.ctx.store;
    const d = await deriveDeployNet(parseTextProto<NetParameter>(seedNetPrototxt('/home/work/dataset'), 'NetParameter'));
    await store.putBuffer('work', 'script-out3/final/deploy.prototxt', printTextProto(d.net, 'NetParameter'));
    await store.putBuffer('work', 'script-out3/final/a_solver.prototxt', 'base_lr: 0.01\n');
    await store.putBuffer('work', 'script-out3/final/lenet.caffemodel', readFileSync(weightsFile));
    const id = job('script3', spec({ code: 's3://work/scripts/', boot: 'train.js', output: 's3://work/script-out3/' }), 'succeeded');
    const v2 = p.jobs.repo.addVersion(id, spec({ code: 's3://work/scripts/', boot: 'train.js', output: 's3://work/none/' }));
    p.jobs.repo.update(v2.id, { status: 'failed', reason: 'test' });
    const m = (await c.listModels()).models.find((x) => x.jobId === id)!;
    assert.equal(m.version, 1);
    assert.equal(m.deployable, true);
    assert.equal(m.iteration, null);
    const dep = await c.deployModel(id);
    assert.equal(dep.net, 's3://work/script-out3/final/deploy.prototxt');
    assert.equal((dep.model as { labels: unknown }).labels, null);
    const [want] = await local.classify([pngOf(digit(4), 28, 28)]);
    assert.deepEqual((await c.predict(dep.id, pngOf(digit(4), 28, 28))).probabilities, want!.probabilities);
    await c.deleteDeployment(dep.id);
    // HDF5 weights (snapshot_format: HDF5): Caffe's own .caffemodel.h5 of the same run gives the same answers
    await store.putBuffer('work', 'h5-out/final/deploy.prototxt', printTextProto(d.net, 'NetParameter'));
    await store.putBuffer('work', 'h5-out/final/lenet_iter_100.caffemodel.h5', readFileSync(vector('hdf5', 'lenet_iter_100.caffemodel.h5')));
    const h5job = job('h5', spec({ code: 's3://work/scripts/', boot: 'train.js', output: 's3://work/h5-out/' }), 'succeeded');
    assert.equal((await c.listModels()).models.find((x) => x.jobId === h5job)!.iteration, 100);
    const h5dep = await c.deployModel(h5job);
    assert.deepEqual((await c.predict(h5dep.id, pngOf(digit(4), 28, 28))).probabilities, want!.probabilities);
    await c.deleteDeployment(h5dep.id);
    await assert.rejects(c.deployModel(id, 2), /409: job .* v2 is failed: only a succeeded job's model can be deployed/);
    await assert.rejects(c.deployModel(id, 3), /404: job .* v3 does not exist/);
  });

  test('errors: unknown ids, jobs that cannot be deployed, bad bodies, no token', async () => {
    await assert.rejects(c.deployModel('job-nope'), /404: no job with id 'job-nope'/);
    const failed = job('failed', spec({}), 'failed');
    await assert.rejects(c.deployModel(failed), /409: job .* has no succeeded version .*: only a succeeded job's model can be deployed/);
    const script = job('script2', spec({ code: 's3://work/scripts/', boot: 'train.js', output: 's3://work/script-out/' }), 'succeeded');
    await assert.rejects(c.deployModel(script), /422: .*no net \.prototxt in s3:\/\/work\/script-out\/final\//);
    const empty = job('empty', spec({ output: 's3://work/empty/' }), 'succeeded');
    await assert.rejects(c.deployModel(empty), /422: .*s3:\/\/work\/empty\/final\/ is empty or missing/);
    await assert.rejects(c.predict('dep-nope', pngOf(digit(0), 28, 28)), /404: no deployment with id 'dep-nope'/);
    await assert.rejects(c.getDeployment('dep-nope'), /404/);
    await assert.rejects(c.deleteDeployment('dep-nope'), /404/);

    const lenet = job('lenet2', spec({}), 'succeeded');
    const d = await c.deployModel(lenet);
    await assert.rejects(c.predict(d.id, new TextEncoder().encode('garbage')), /400: request: unsupported image format/);
    await assert.rejects(c.predict(d.id, { tensor: [1, 2] }), /400: "tensor" has 2 values; the model's input 1x28x28 takes 784/);
    const anon = await fetch(p.url + d.predictUrl, { method: 'POST', headers: { 'content-type': 'image/png' }, body: pngOf(digit(0), 28, 28) });
    assert.equal(anon.status, 401);
    assert.equal((await fetch(`${p.url}/api/models`)).status, 401);

    const doc = await c.call<{ paths: Record<string, unknown> }>('GET', '/api/openapi.json');
    for (const k of ['/api/models', '/api/models/{jobId}/deploy', '/api/models/deployments', '/api/models/deployments/{id}', '/api/models/deployments/{id}/predict']) assert.ok(doc.paths[k], k);
  });
});
