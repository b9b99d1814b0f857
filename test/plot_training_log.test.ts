// parseCaffeLog and `tscaffe plot_training_log`, on real Caffe logs (../shared/vectors) and on a log tscaffe writes.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PNG } from 'pngjs';
import { Resvg } from '@resvg/resvg-js';
import { parseCaffeLog, type CaffeLogSeries } from '../src/tools/parse_log.js';
import { setLogSink } from '../src/util/log.js';
import { main } from '../src/cli/main.js';
import { runCli } from './cli_capture.js';
import { repoRoot, scratchDir, vector } from './helpers.js';

let dir = '';
let tscaffeLog = '';

const SOLVER = `
net_param {
  name: "tiny"
  layer { name: "data" type: "DummyData" top: "data" top: "label"
    dummy_data_param { shape { dim: 8 dim: 4 } shape { dim: 8 } data_filler { type: "gaussian" } data_filler { type: "constant" value: 1 } } }
  layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param { num_output: 3 weight_filler { type: "xavier" } } }
  layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
  layer { name: "accuracy" type: "Accuracy" bottom: "ip" bottom: "label" top: "accuracy" include { phase: TEST } }
}
base_lr: 0.1 lr_policy: "step" gamma: 0.5 stepsize: 10 momentum: 0.9
max_iter: 30 display: 5 test_iter: 2 test_interval: 10 snapshot_after_train: false random_seed: 7
`;

before(async () => {
  dir = scratchDir('tscaffe-plot-');
  const solver = path.join(dir, 'solver.prototxt');
  writeFileSync(solver, SOLVER);
  const lines: string[] = [];
  const prev = setLogSink({ write: (l) => lines.push(l) });
  try {
    assert.equal(await main(['train', '-solver', solver]), 0);
  } finally {
    setLogSink(prev);
  }
  tscaffeLog = path.join(dir, 'tscaffe_train.log');
  writeFileSync(tscaffeLog, lines.join(''));
});

/** The values the log's lines hold, read with plain string splitting (not the parser's regular expressions). */
function grepLog(text: string) {
  const trainLoss: [number, number][] = [], lr: [number, number][] = [], acc: [number, number][] = [], testLoss: [number, number][] = [];
  let testIter = -1;
  for (const line of text.split('\n')) {
    const msg = line.slice(line.indexOf('] ') + 2).trim();
    const words = msg.split(' ');
    if (words[0] === 'Iteration' && msg.includes('Testing net')) testIter = parseInt(words[1]!, 10);
    else if (words[0] === 'Iteration' && msg.includes(', lr = ')) lr.push([parseInt(words[1]!, 10), Number(words[words.length - 1])]);
    else if (words[0] === 'Iteration' && msg.includes('loss = ')) trainLoss.push([parseInt(words[1]!, 10), Number(words[words.length - 1])]);
    else if (msg.startsWith('Test net output #') && words[4] === 'accuracy') acc.push([testIter, Number(words[6])]);
    else if (msg.startsWith('Test net output #') && words[4] === 'loss') testLoss.push([testIter, Number(words[6])]);
  }
  return { trainLoss, lr, acc, testLoss };
}

const pairs = (s: { iteration: number; value: number }[]) => s.map((p) => [p.iteration, p.value]);

function checkAgainstGrep(s: CaffeLogSeries, text: string): void {
  const g = grepLog(text);
  assert.ok(g.trainLoss.length > 3 && g.acc.length > 1, 'the log has iterations');
  assert.deepEqual(pairs(s.trainLoss), g.trainLoss);
  assert.deepEqual(pairs(s.learningRate), g.lr);
  assert.deepEqual(pairs(s.testAccuracy), g.acc);
  assert.deepEqual(pairs(s.testLoss), g.testLoss);
  for (const series of [s.trainLoss, s.learningRate, s.testAccuracy]) {
    for (let i = 1; i < series.length; i++) assert.ok(series[i]!.seconds >= series[i - 1]!.seconds, 'seconds never go back');
  }
}

test('parseCaffeLog on real Caffe logs: the values of the lines, with seconds since "Solving"', () => {
  const text = readFileSync(vector('train_100.log'), 'utf8');
  const s = parseCaffeLog(text);
  checkAgainstGrep(s, text);
  // From the README of the vectors: train loss 2.32814 at 0, 0.247801 at 100; test at 100: 0.901 / 0.335732.
  assert.deepEqual(s.trainLoss[0], { iteration: 0, seconds: s.trainLoss[0]!.seconds, value: 2.32814 });
  assert.deepEqual(pairs(s.trainLoss.slice(-1)), [[100, 0.247801]]);
  assert.deepEqual(pairs(s.testAccuracy.slice(-1)), [[100, 0.901]]);
  assert.deepEqual(pairs(s.testLoss.slice(-1)), [[100, 0.335732]]);
  // "Solving LeNet" at 03:38:25.064816, "Iteration 0 (...), loss" at 03:38:25.250813; the run took 2.60 s.
  assert.ok(Math.abs(s.trainLoss[0]!.seconds - 0.186) < 0.002, String(s.trainLoss[0]!.seconds));
  assert.ok(s.testAccuracy.at(-1)!.seconds < 2.7);
  assert.equal(s.trainOutputs.loss!.length, 10);
  const resume = readFileSync(vector('resume/train_resume_100_to_200.log'), 'utf8');
  checkAgainstGrep(parseCaffeLog(resume), resume);
});

test('parseCaffeLog on a log tscaffe train wrote', () => {
  const text = readFileSync(tscaffeLog, 'utf8');
  const s = parseCaffeLog(text);
  checkAgainstGrep(s, text);
  assert.deepEqual(s.testAccuracy.map((p) => p.iteration), [0, 10, 20, 30]);
  assert.deepEqual(s.learningRate.map((p) => p.value), [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]);
});

test('the parser modules import nothing from Node (the web console uses them)', () => {
  for (const f of ['dist/src/tools/parse_log.js', 'dist/src/platform/jobs/metrics.js', 'dist/src/tools/plot/svg.js']) {
    const imports = [...readFileSync(path.join(repoRoot, f), 'utf8').matchAll(/^import .* from '([^']+)'/gm)].map((m) => m[1]!);
    for (const i of imports) assert.ok(i.startsWith('.'), `${f} imports ${i}`);
  }
});

/** A small XML well-formedness check: tags nest and close, attributes are quoted, entities are known. */
function assertWellFormedXml(xml: string): void {
  const body = xml.replace(/^<\?xml[^?]*\?>\s*/, '');
  const stack: string[] = [];
  const tag = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|<!--[\s\S]*?-->|([^<]+)|(<)/g;
  let m: RegExpExecArray | null;
  let roots = 0;
  while ((m = tag.exec(body))) {
    if (m[6]) assert.fail(`malformed markup at ${m.index}: ${body.slice(m.index, m.index + 40)}`);
    const text = m[5] ?? m[3] ?? '';
    for (const e of text.matchAll(/&([^;\s]*);?/g)) assert.match(e[0], /^&(lt|gt|amp|quot|apos|#\d+);$/, `bad entity ${e[0]}`);
    if (m[5] !== undefined || m[0].startsWith('<!--')) {
      if (!stack.length) assert.equal(m[5]!.trim(), '', 'text outside the root element');
      continue;
    }
    if (m[1]) assert.equal(stack.pop(), m[2], `</${m[2]}> closes the wrong element`);
    else if (!m[4]) { if (!stack.length) roots++; stack.push(m[2]!); }
  }
  assert.deepEqual(stack, [], 'unclosed elements');
  assert.equal(roots, 1);
}

function seriesPointCounts(svg: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of svg.matchAll(/<g data-series="([^"]*)">\s*<polyline points="([^"]*)"/g)) {
    out[m[1]!] = m[2]!.trim() ? m[2]!.trim().split(/\s+/).length : 0;
  }
  return out;
}

test('plot_training_log LOG out.svg: well-formed SVG, one polyline per series with one point per value', async () => {
  const out = path.join(dir, 'train.svg');
  const r = await runCli(['plot_training_log', vector('train_100.log'), out]);
  assert.equal(r.code, 0, r.stderr);
  const svg = readFileSync(out, 'utf8');
  assertWellFormedXml(svg);
  new Resvg(svg); // resvg's strict XML parser accepts it too
  const s = parseCaffeLog(readFileSync(vector('train_100.log'), 'utf8'));
  assert.deepEqual(seriesPointCounts(svg), {
    'train loss': s.trainLoss.length, 'test loss': s.testLoss.length, 'test accuracy': s.testAccuracy.length, lr: s.learningRate.length,
  });
  assert.deepEqual([s.trainLoss.length, s.testLoss.length, s.learningRate.length], [11, 3, 10]);
  for (const t of ['Loss', 'Test accuracy', 'Learning rate', 'Iterations']) assert.ok(svg.includes(`>${t}<`), t);
});

test('plot_training_log with Caffe\'s chart types: several logs overlaid; PNG of the requested size', async () => {
  const logs = [vector('train_100.log'), tscaffeLog];
  const svgOut = path.join(dir, 'acc.svg');
  assert.equal((await runCli(['plot_training_log', '0', svgOut, ...logs])).code, 0);
  const svg = readFileSync(svgOut, 'utf8');
  assertWellFormedXml(svg);
  assert.ok(svg.includes('Test accuracy vs. Iters'));
  assert.deepEqual(seriesPointCounts(svg), { 'train_100.log': 3, 'tscaffe_train.log': 4 });

  const pngOut = path.join(dir, 'loss_seconds.png');
  const r = await runCli(['plot_training_log', '7', pngOut, ...logs, '-width', '800', '-height', '500']);
  assert.equal(r.code, 0, r.stderr);
  const bytes = readFileSync(pngOut);
  assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const png = PNG.sync.read(bytes);
  assert.deepEqual([png.width, png.height], [800, 500]);
  // Not blank: the curves' colours are in it.
  let blue = 0;
  for (let i = 0; i < png.data.length; i += 4) if (png.data[i + 2]! > 200 && png.data[i]! < 80) blue++;
  assert.ok(blue > 100, `only ${blue} blue pixels`);

  const dashboard = path.join(dir, 'dash.png');
  assert.equal((await runCli(['plot_training_log', tscaffeLog, dashboard])).code, 0);
  const d = PNG.sync.read(readFileSync(dashboard));
  assert.deepEqual([d.width, d.height], [960, 36 + 3 * 300]);
});

test('plot_training_log errors: no iterations, bad chart type, unknown output extension; nothing written', async () => {
  const noIter = await runCli(['plot_training_log', vector('convert_test64_lmdb.log'), path.join(dir, 'x.png')]);
  assert.notEqual(noIter.code, 0);
  assert.match(noIter.stderr, /convert_test64_lmdb\.log: no training or test iterations/);
  const badType = await runCli(['plot_training_log', '9', path.join(dir, 'y.png'), vector('train_100.log')]);
  assert.notEqual(badType.code, 0);
  assert.match(badType.stderr, /chart type must be 0-7/);
  const badExt = await runCli(['plot_training_log', vector('train_100.log'), path.join(dir, 'z.jpg')]);
  assert.notEqual(badExt.code, 0);
  assert.match(badExt.stderr, /unknown output extension '\.jpg'/);
  const missing = await runCli(['plot_training_log', path.join(dir, 'nope.log'), path.join(dir, 'w.svg')]);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /nope\.log/);
  for (const f of ['x.png', 'y.png', 'z.jpg', 'w.svg']) assert.equal(existsSync(path.join(dir, f)), false, f);
});
