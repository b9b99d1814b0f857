// The "draw a digit" page: draw on the pad, and the digit (made MNIST-like: src/browser/digit_preprocess.ts) is
// classified as you draw, at most every 100 ms while drawing and once more when the stroke ends, by tscaffe's engine
// in this page or by a deployed endpoint (engines.ts).
//
// Query: ?engine=browser|endpoint, ?deployment=ID, ?prototxt=URL&weights=URL (the browser engine's files),
// ?backend=ts|wasm|webgpu (default: WebGPU where the browser has an adapter, else wasm). DOM ids (the end-to-end test
// uses them): #canvas, #clear, #prediction (data-state: empty | busy | ready | error), #bars li[data-digit="0".."9"]
// with .value text, #engine, #deployment, #status, #timing, #preview.
import '../console/style.css';
import './draw.css';
import { askToken } from '../console/api.js';
import type { DeploymentInfo } from '../console/types.js';
import { preprocessDigit, type Digit } from '../../../src/browser/digit_preprocess.js';
import { browserEngine, endpointEngine, listDeployments, type Engine } from './engines.js';
import { Pad } from './pad.js';

const THROTTLE_MS = 100;

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const prediction = $<HTMLOutputElement>('prediction');
const note = $('prediction-note');
const bars = $<HTMLOListElement>('bars');
const timing = $('timing');
const status = $('status');
const engineSel = $<HTMLSelectElement>('engine');
const deploymentSel = $<HTMLSelectElement>('deployment');
const preview = $<HTMLCanvasElement>('preview');
const query = new URLSearchParams(location.search);

const rows = Array.from({ length: 10 }, (_, i) => {
  const li = document.createElement('li');
  li.dataset.digit = String(i);
  li.innerHTML = '<span class="label"></span><span class="bar" aria-hidden="true"><span class="fill"></span></span><span class="value">–</span>';
  li.querySelector('.label')!.textContent = String(i);
  bars.append(li);
  return { li, label: li.querySelector<HTMLElement>('.label')!, fill: li.querySelector<HTMLElement>('.fill')!, value: li.querySelector<HTMLElement>('.value')! };
});

function setStatus(msg: string, error = false): void {
  status.textContent = msg;
  status.classList.toggle('error', error);
}

function setLabels(labels: string[] | null): void {
  // Class names (labels.txt) get a wider column and a smaller headline than digits.
  bars.classList.toggle('named', !!labels);
  prediction.classList.toggle('named', !!labels);
  rows.forEach((r, i) => {
    r.label.textContent = labels?.[i] ?? String(i);
    r.label.title = r.label.textContent;
  });
}

/** No prediction: the headline and bars blank, with `why`. */
function showNone(state: 'empty' | 'busy' | 'error', why: string): void {
  prediction.textContent = '–';
  prediction.dataset.state = state;
  note.textContent = why;
  for (const r of rows) {
    r.fill.style.width = '0';
    r.value.textContent = '–';
    r.li.classList.remove('best');
  }
  timing.textContent = '';
}

const showEmpty = () => showNone('empty', 'Nothing drawn yet');

function showProbabilities(p: Float32Array, ms: number): void {
  let best = 0;
  for (let i = 1; i < p.length; i++) if (p[i]! > p[best]!) best = i;
  const label = rows[best]?.label.textContent ?? String(best);
  if (prediction.textContent !== label) prediction.textContent = label;
  prediction.dataset.state = 'ready';
  note.textContent = `${(p[best]! * 100).toFixed(1)}% sure`;
  rows.forEach((r, i) => {
    const v = p[i] ?? 0;
    r.fill.style.width = `${(v * 100).toFixed(2)}%`;
    r.value.textContent = `${(v * 100).toFixed(1)}%`;
    r.li.classList.toggle('best', i === best);
  });
  timing.textContent = `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms per prediction`;
}

function drawPreview(d: Digit | null): void {
  const ctx = preview.getContext('2d')!;
  const img = ctx.createImageData(28, 28);
  for (let i = 0; i < 784; i++) {
    const v = d ? Math.round(d.pixels[i]!) : 0;
    img.data.set([v, v, v, 255], i * 4);
  }
  ctx.putImageData(img, 0, 0);
}

// ---- classifying: one at a time, the latest drawing wins ----
let engine: Engine | null = null;
let engineFailed = false;
let running = false;
let pending = false;
let timer: ReturnType<typeof setTimeout> | undefined;
let lastRun = 0;

async function classify(): Promise<void> {
  if (running) {
    pending = true;
    return;
  }
  running = true;
  lastRun = performance.now();
  try {
    const d = pad.empty ? null : preprocessDigit(pad.image());
    drawPreview(d);
    if (!d) return showEmpty();
    // Without an engine yet the drawing is classified once it is ready (loadEngine schedules that).
    if (!engine) return showNone(engineFailed ? 'error' : 'busy', engineFailed ? 'No model to run it (see Engine below)' : 'Loading the model…');
    if (prediction.dataset.state !== 'ready') prediction.dataset.state = 'busy';
    const t0 = performance.now();
    const p = await engine.predict(d.pixels);
    showProbabilities(p, performance.now() - t0);
  } catch (e) {
    prediction.dataset.state = 'error';
    setStatus(`Prediction failed: ${(e as Error).message}`, true);
  } finally {
    running = false;
    if (pending) {
      pending = false;
      schedule();
    }
  }
}

/** Classify now if the last run is THROTTLE_MS old, else when it will be (one timer at most). */
function schedule(now = false): void {
  if (timer !== undefined) return;
  const wait = now ? 0 : Math.max(0, THROTTLE_MS - (performance.now() - lastRun));
  timer = setTimeout(() => {
    timer = undefined;
    void classify();
  }, wait);
}

const pad = new Pad($<HTMLCanvasElement>('canvas'), {
  onDraw: () => schedule(),
  onStrokeEnd: () => {
    if (timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
    schedule(true);
  },
});

$('clear').addEventListener('click', () => {
  pad.clear();
  drawPreview(null);
  showEmpty();
});
$('change-token').addEventListener('click', () => void askToken().then(() => loadEngine()));

// ---- engines ----
let deployments: DeploymentInfo[] = [];
let loadSeq = 0;

async function loadDeployments(): Promise<void> {
  try {
    deployments = await listDeployments();
  } catch (e) {
    deployments = [];
    setStatus(`Cannot list the deployments: ${(e as Error).message}`, true);
  }
  const want = query.get('deployment');
  deploymentSel.replaceChildren(
    ...(deployments.length ? deployments : []).map((d) => new Option(`${d.jobName} v${d.version}${d.iteration !== null ? ` (iteration ${d.iteration})` : ''} · ${d.id}`, d.id, false, d.id === want)),
  );
  if (!deployments.length) deploymentSel.append(new Option('No deployment (the newest trained model)', ''));
  deploymentSel.disabled = !deployments.length;
}

async function loadEngine(): Promise<void> {
  const seq = ++loadSeq;
  engine = null;
  engineFailed = false;
  const kind = engineSel.value;
  const id = deploymentSel.value;
  setStatus(kind === 'browser' ? 'Loading the model into this page…' : 'Connecting to the deployment…');
  try {
    let e: Engine;
    if (kind === 'endpoint') {
      const d = deployments.find((x) => x.id === id);
      if (!d) throw new Error('nothing is deployed: deploy a trained model on the console\'s Models page, or run the model in this browser');
      e = endpointEngine(d);
    } else {
      const q = new URLSearchParams(query);
      if (id) q.set('deployment', id);
      e = await browserEngine(q);
    }
    if (seq !== loadSeq) return; // another choice was made meanwhile
    engine = e;
    setLabels(e.labels);
    setStatus(`Ready: ${e.description}.`);
    schedule(true);
  } catch (err) {
    if (seq !== loadSeq) return;
    engineFailed = true;
    schedule(true); // shows that the drawing waits for a model
    setStatus(`Cannot run the model ${kind === 'browser' ? 'in this browser' : 'on the endpoint'}: ${(err as Error).message}`, true);
  }
}

engineSel.addEventListener('change', () => void loadEngine());
deploymentSel.addEventListener('change', () => void loadEngine());

async function start(): Promise<void> {
  showEmpty();
  drawPreview(null);
  if (query.get('engine') === 'endpoint') engineSel.value = 'endpoint';
  // Files named in the query need no platform (and no token), unless they are storage URLs.
  const direct = query.has('prototxt') && engineSel.value === 'browser';
  if (direct) {
    deploymentSel.replaceChildren(new Option('The files named in the address', ''));
    deploymentSel.disabled = true;
  } else {
    await loadDeployments();
  }
  await loadEngine();
}

void start();
