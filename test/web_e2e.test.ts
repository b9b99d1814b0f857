// The web console end to end, in Debian's Chromium (playwright-core): the seed's whole flow through the browser.
// Enter the token, import MNIST from the market, upload the seed's codes folder, create the training job through
// the form (a short run: 500 iterations of batch 64, about 97% test accuracy), watch it succeed with its charts drawn,
// deploy the model on the Models page, then draw a 1 and a 7 on the draw page and see them recognized. Screenshots
// of the pages land in dist/test-artifacts/screenshots/. Also, without a browser: how / is served next to the API.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { setQuiet } from '../src/util/log.js';
import { startServer, type Platform } from '../src/platform/jobs/server.js';
import { DEFAULT_WEB_DIR } from '../src/platform/jobs/web_routes.js';
import { seedSolver, tempDir, writeSeedCodes } from './jobs_helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = fileURLToPath(new URL('../test-artifacts/screenshots/', import.meta.url));
const BUILT = existsSync(path.join(DEFAULT_WEB_DIR, 'index.html'));

/** Poll `cond` (the pages' Content-Security-Policy rules out Playwright's string predicates). */
async function until(cond: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the console files next to the API', () => {
  const tmp = tempDir('tscaffe-web-');
  after(() => tmp.cleanup());

  test('/ serves the console without a token, /api still needs one, a missing bundle says how to build it', async () => {
    assert.ok(BUILT, `no web console in ${DEFAULT_WEB_DIR}: run npm run build:web`);
    const p = await startServer({ dataDir: path.join(tmp.dir, 'a'), port: 0 });
    try {
      const index = await fetch(`${p.url}/`);
      assert.equal(index.status, 200);
      assert.match(index.headers.get('content-type') ?? '', /text\/html/);
      assert.match(index.headers.get('content-security-policy') ?? '', /script-src 'self'/);
      const html = await index.text();
      const js = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
      assert.ok(js, html);
      const asset = await fetch(p.url + js);
      assert.equal(asset.status, 200);
      assert.match(asset.headers.get('cache-control') ?? '', /immutable/);
      assert.equal((await fetch(`${p.url}/api/jobs`)).status, 401);
      // However the path is spelled, an API route keeps its token check.
      assert.equal((await fetch(`${p.url}/%61pi/jobs`)).status, 401);
      assert.equal((await fetch(`${p.url}/api/jobs`, { headers: { authorization: `Bearer ${p.token}` } })).status, 200);
      assert.equal((await fetch(`${p.url}/no-such-file.js`)).status, 404);
    } finally {
      await p.close();
    }
    const bare = await startServer({ dataDir: path.join(tmp.dir, 'b'), port: 0, webDir: path.join(tmp.dir, 'empty') });
    try {
      const r = await fetch(`${bare.url}/`);
      assert.equal(r.status, 503);
      assert.match(await r.text(), /npm run build:web/);
    } finally {
      await bare.close();
    }
  });
});

describe('the web console in Chromium', { timeout: 300_000, skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (apt-get install chromium; .ci/run does)` }, () => {
  const tmp = tempDir('tscaffe-web-e2e-');
  let p: Platform;
  let browser: Browser;
  let page: Page;
  let jobId = '';
  let testPasses = 0;
  const pageErrors: string[] = [];
  const shot = async (name: string) => {
    const file = path.join(SHOTS, `${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    return file;
  };

  before(async () => {
    assert.ok(BUILT, `no web console in ${DEFAULT_WEB_DIR}: run npm run build:web`);
    setQuiet(true);
    mkdirSync(SHOTS, { recursive: true });
    p = await startServer({ dataDir: path.join(tmp.dir, 'data'), port: 0 });
    // --enable-unsafe-webgpu: headless Chromium's WebGPU (a software adapter here), which the draw page prefers.
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--enable-unsafe-webgpu'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(30_000);
    page.on('pageerror', (e) => pageErrors.push(`${page.url()}: ${e.message}`));
    page.on('dialog', (d) => void d.accept());
  });

  after(async () => {
    await browser?.close();
    await p?.close();
    setQuiet(false);
    tmp.cleanup();
  });

  test('asks for the token once, again when refused, and keeps it for the tab', async () => {
    await page.goto(`${p.url}/`);
    const dialog = page.locator('#token-dialog');
    await dialog.waitFor();
    await dialog.getByLabel('Token').fill('not-the-token');
    await dialog.getByRole('button', { name: 'Continue' }).click();
    await page.locator('#token-dialog .error').filter({ hasText: 'refused' }).waitFor();
    await page.locator('#token-dialog').getByLabel('Token').fill(p.token!);
    await page.locator('#token-dialog').getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Training jobs', level: 1 }).waitFor();
    await page.getByText('No training jobs yet').waitFor();
    assert.equal(await page.evaluate('sessionStorage.getItem("tscaffe.token")'), p.token);
  });

  test('imports MNIST from the market and polls it to normal', async () => {
    await page.getByRole('link', { name: 'Datasets' }).click();
    await page.locator('button[data-market="mnist"]').click();
    const form = page.getByRole('form', { name: /Import MNIST/ });
    await form.getByLabel('Storage path').fill('s3://datasets/mnist/');
    await form.getByLabel('Format').selectOption('lmdb');
    await form.getByRole('button', { name: 'Import' }).click();
    await page.locator('tr[data-dataset="mnist"][data-status="normal"]').waitFor({ timeout: 60_000 });
    await shot('datasets');
  });

  test('creates a bucket and uploads the seed\u2019s codes folder', async () => {
    await page.getByRole('link', { name: 'Storage' }).click();
    await page.getByLabel('New bucket').fill('work');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.getByText('This folder is empty.').waitFor();
    const codes = writeSeedCodes(tmp.dir, seedSolver({ maxIter: 2000, snapshot: 2000, testInterval: 500, testIter: 100 }));
    await page.locator('input[webkitdirectory]').setInputFiles(codes);
    await page.getByText('Uploaded 2 files').waitFor();
    await page.getByRole('link', { name: 'codes/' }).click();
    await page.getByText('lenet_solver.prototxt').waitFor();
    await page.getByText('lenet_train_test.prototxt').waitFor();
    await shot('storage');
  });

  test('the job form: required fields, a field the service rejects, then a job that succeeds with its charts', async () => {
    await page.getByRole('link', { name: 'Training jobs' }).click();
    await page.getByRole('link', { name: 'New job' }).click();
    await page.getByRole('button', { name: 'Create and start' }).click();
    assert.equal(await page.locator('#job-name-err').textContent(), 'A name is required.');
    assert.equal(await page.locator('#job-code-err').textContent(), 'The code folder is required.');
    assert.equal(await page.locator('#job-name').getAttribute('aria-invalid'), 'true');

    await page.locator('#job-name').fill('lenet');
    // The code folder through the storage picker; the boot file is then suggested from the folder.
    await page.locator('#job-code').locator('..').getByRole('button', { name: 'Browse…' }).click();
    const picker = page.locator('dialog.picker');
    await picker.getByRole('button', { name: 'work' }).click();
    await picker.getByRole('button', { name: 'codes/' }).click();
    await picker.getByRole('button', { name: 'Use this folder' }).click();
    assert.equal(await page.locator('#job-code').inputValue(), 's3://work/codes/');
    await until(async () => (await page.locator('#job-boot').inputValue()) === 'lenet_solver.prototxt', 'the boot file suggestion');
    // 500 iterations of batch 64 (the uploaded solver says 2000), tested on 2000 images every 100.
    const params: [string, string][] = [['data_path_suffix', 'codes'], ['max_iter', '500'], ['snapshot', '500'], ['test_interval', '100'], ['test_iter', '20']];
    for (const [k, v] of params) {
      await page.locator('#job-add-param').click();
      await page.locator('.param-row .param-key').last().fill(k);
      await page.locator('.param-row .param-value').last().fill(v);
    }
    await page.locator('#job-dataset').selectOption('dataset:mnist:1');
    await page.locator('#job-output').fill('s3://o/');
    await page.locator('#job-log').fill('s3://work/logs/');
    await page.locator('#job-copyIntervalMin').fill('0.05');
    await page.getByRole('button', { name: 'Create and start' }).click();
    // The service's 400 {error, field: 'output'} lands next to the output field.
    await page.locator('#job-output-err').filter({ hasText: 'invalid bucket name' }).waitFor();
    await page.locator('#job-output').fill('s3://work/output/');
    await shot('job-form');
    await page.getByRole('button', { name: 'Create and start' }).click();

    await page.waitForURL(/#\/jobs\/(?!new$)[^/]+$/);
    jobId = decodeURIComponent(new URL(page.url()).hash.replace('#/jobs/', ''));
    await page.locator('.page-head .badge-succeeded').waitFor({ timeout: 180_000 });
    const job = p.jobs.get(jobId);
    assert.equal(job.current.status, 'succeeded');
    assert.deepEqual(job.current.spec.params, Object.fromEntries(params));
    assert.equal(job.current.spec.data?.kind, 'dataset');

    // The charts come from the followed log: one point per displayed iteration / test pass.
    const metrics = p.jobs.metrics(jobId);
    const losses = metrics.train.filter((t) => t.loss !== undefined).length;
    const tests = metrics.test.filter((t) => t.scores.accuracy !== undefined);
    assert.ok(losses >= 10 && tests.length >= 5, JSON.stringify(metrics).slice(0, 500));
    await page.locator(`#chart-train-loss[data-points="${losses}"]`).waitFor();
    assert.equal(await page.locator('#chart-test-accuracy').getAttribute('data-points'), String(tests.length));
    testPasses = tests.length;
    assert.equal(await page.locator('#chart-lr').getAttribute('data-points'), String(metrics.train.filter((t) => t.lr !== undefined).length));
    const d = (await page.locator('#chart-train-loss path.series').getAttribute('d')) ?? '';
    assert.equal(d.split(/[ML]/).filter(Boolean).length, losses, d);
    const accuracy = tests[tests.length - 1]!.scores.accuracy!;
    assert.ok(accuracy >= 0.95, `test accuracy ${accuracy}`);
    await page.locator('#chart-test-accuracy figcaption').filter({ hasText: `at iteration 500` }).waitFor();

    await page.locator('#job-log').filter({ hasText: 'Optimization Done' }).waitFor();
    await page.locator('#job-output').getByText('final/mnist_lenet_iter_500.caffemodel').waitFor();
    // Downloads go through the API with the token: the saved file is the stored model.
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#job-output button[data-url$="final/mnist_lenet_iter_500.caffemodel"]').click()]);
    assert.equal(download.suggestedFilename(), 'mnist_lenet_iter_500.caffemodel');
    const saved = path.join(tmp.dir, 'downloaded.caffemodel');
    await download.saveAs(saved);
    const stored = await p.ctx.store.head('work', 'output/final/mnist_lenet_iter_500.caffemodel');
    assert.equal(statSync(saved).size, stored?.size);
    await shot('job');

    await page.getByRole('link', { name: 'Training jobs' }).click();
    await page.locator(`tr[data-job="${jobId}"][data-status="succeeded"]`).waitFor();
    await shot('jobs');
  });

  test('deploys the model and recognizes a drawn 1 and 7', async () => {
    await page.getByRole('link', { name: 'Models' }).click();
    await page.locator(`#models button[data-job="${jobId}"]`).click();
    const link = page.locator('#deployments a.draw-link').first();
    await link.waitFor();
    await shot('models');
    const depId = new URL((await link.getAttribute('href'))!, p.url).searchParams.get('deployment');
    assert.match(depId ?? '', /\S/);
    await link.click();
    await page.waitForURL(/\/draw\.html\?deployment=/);
    const canvas = page.locator('#canvas');
    await canvas.waitFor();
    const box = (await canvas.boundingBox())!;
    const stroke = async (pts: [number, number][]) => {
      const at = ([x, y]: [number, number]) => [box.x + x * box.width, box.y + y * box.height] as const;
      await page.mouse.move(...at(pts[0]!));
      await page.mouse.down();
      for (const pt of pts.slice(1)) await page.mouse.move(...at(pt), { steps: 12 });
      await page.mouse.up();
    };
    // #prediction holds the predicted label once the engine has classified the drawing (data-state ready).
    const shows = (digit: string) => page.locator('#prediction[data-state="ready"]').filter({ hasText: new RegExp(`^${digit}$`) }).waitFor({ timeout: 30_000 });
    const recognized = async (digit: string, strokes: [number, number][][], name = `draw-${digit}`) => {
      await page.locator('#clear').click();
      for (const s of strokes) await stroke(s);
      try {
        await shows(digit);
      } finally {
        await shot(name); // also when it fails: what the page showed instead
      }
    };
    // On the deployed endpoint, then in the page (tscaffe's engine running the deployment's model).
    await until(async () => (await page.locator('#deployment').inputValue()) === depId, `the draw page to select the deployment ${depId}`);
    await page.locator('#engine').selectOption('endpoint');
    await recognized('1', [[[0.5, 0.18], [0.5, 0.82]]]);
    await recognized('7', [[[0.28, 0.22], [0.72, 0.22], [0.45, 0.85]]]);
    const deps = (await (await fetch(`${p.url}/api/models/deployments`, { headers: { authorization: `Bearer ${p.token}` } })).json()) as { deployments: { requests: number }[] };
    assert.ok(deps.deployments[0]!.requests > 0, 'the endpoint answered the drawings');
    await page.locator('#engine').selectOption('browser');
    // tscaffe's engine in the page, on WebGPU (the same WGSL kernels as `tscaffe train -gpu`).
    await page.locator('#status').filter({ hasText: /Ready: .* in this browser \(WebGPU on / }).waitFor({ timeout: 30_000 });
    await recognized('1', [[[0.5, 0.18], [0.5, 0.82]]], 'draw-browser-1');
    await recognized('7', [[[0.28, 0.22], [0.72, 0.22], [0.45, 0.85]]], 'draw-browser-7');
  });

  test('re-runs the job as a new version with changed parameters, and stops it', async () => {
    try {
    await page.goto(`${p.url}/#/jobs/${encodeURIComponent(jobId)}`);
    await page.getByRole('link', { name: 'Re-run (new version)' }).click();
    assert.equal(await page.locator('#job-code').inputValue(), 's3://work/codes/');
    assert.ok(await page.locator('#job-name').isDisabled());
    // The rows come back in the order given: data_path_suffix, max_iter, snapshot, test_interval, test_iter.
    assert.equal(await page.getByLabel('Parameter 2 name').inputValue(), 'max_iter');
    await page.getByLabel('Parameter 2 value').fill('100000');
    assert.equal(await page.getByLabel('Parameter 5 name').inputValue(), 'test_iter');
    await page.getByRole('button', { name: 'Remove parameter 5' }).click();
    await page.locator('#job-output').fill('s3://work/output-v2/');
    await page.getByRole('button', { name: 'Start the new version' }).click();
    await page.waitForURL(new RegExp(`#/jobs/${jobId}$`));
    await page.locator('.page-head').getByText('v2').waitFor();
    await page.locator('#job-log').filter({ hasText: /Iteration \d+ \(.*\), loss = / }).waitFor({ timeout: 60_000 });
    await page.locator('#job-stop').click(); // the confirm() is accepted
    await page.locator('.page-head .badge-stopped').waitFor({ timeout: 60_000 });
    const v2 = p.jobs.version(jobId, 2);
    assert.equal(v2.status, 'stopped');
    assert.equal(v2.spec.params.max_iter, '100000');
    assert.equal(v2.spec.params.test_iter, undefined);
    assert.equal(v2.spec.output, 's3://work/output-v2/');
    await page.locator('nav.versions').getByRole('link', { name: 'v1' }).waitFor();
    } catch (e) {
      await shot('failed-rerun');
      throw e;
    }
  });

  test('works at phone width without horizontal scrolling', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    const pages: [string, string][] = [
      [`#/jobs/${encodeURIComponent(jobId)}?v=1`, '.page-head .badge-succeeded'],
      ['#/jobs', `tr[data-job="${jobId}"]`],
      ['#/jobs/new', '#job-name'],
      ['#/datasets', 'tr[data-dataset="mnist"]'],
      ['#/storage?url=s3%3A%2F%2Fwork%2Foutput%2Ffinal%2F', 'text=mnist_lenet_iter_500.caffemodel'],
      ['#/models', '#deployments tr.deployment'],
    ];
    for (const [hash, ready] of pages) {
      await page.goto(`${p.url}/${hash}`);
      await page.locator(ready).first().waitFor();
      assert.ok(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth'), `${hash} overflows at 390px`);
    }
    await page.goto(`${p.url}/#/jobs/${encodeURIComponent(jobId)}?v=1`);
    await page.locator(`#chart-test-accuracy[data-points="${testPasses}"]`).waitFor();
    await shot('job-phone');
    assert.deepEqual(pageErrors, []);
  });

  after(() => {
    if (existsSync(SHOTS)) process.stdout.write(`web console screenshots: ${SHOTS}\n`);
  });
});
