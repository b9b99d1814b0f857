// The two ways the draw page classifies a digit:
//   browser   tscaffe's own engine in this page (src/browser: the wasm kernels, else TypeScript) on a model's files,
//             in a Web Worker (engine_worker.ts);
//   endpoint  a deployment of the platform: POST /api/models/deployments/:id/predict with the 28x28 digit as a PNG
//             (Content-Type image/png), so the server applies the model's own preprocessing (scale, mean) to it, as
//             to any uploaded image. ({"tensor": [...]} would take the net's input values, transform already applied.)
// Where the browser engine's files come from: ?prototxt=URL&weights=URL (storage URLs s3://, obs:// go
// through GET /api/storage/object; http(s) URLs and paths are fetched as they are), else the platform's model: the
// deployment named by ?deployment=ID (or the first one), else the first deployable trained model. Its net must be a
// deploy net (with an Input layer): the deployment's derived one from GET /api/models/deployments/:id/deploy.prototxt
// (where the service offers it), its own net file, or a .prototxt (deploy.prototxt first) in the model's final folder.
import type { LoadedInfo, LoadRequest, PredictRequest, Reply } from './engine_worker.js';
import { ApiError, api, listStorage, request } from '../console/api.js';
import type { DeploymentInfo, ModelEntry } from '../console/types.js';

export interface Engine {
  /** One line saying what runs where (shown in the status line). */
  description: string;
  /** Class names, when the model has them (else the digits 0..9). */
  labels: string[] | null;
  /** Class probabilities of the digit (28x28 values 0..255, white on black). */
  predict(digit: Float32Array): Promise<Float32Array>;
}

/** What a deployment's `model` holds (src/inference/http.ts modelInfo). */
interface DeployedModel {
  input?: { shape?: number[] };
  labels?: string[] | null;
}

/** A storage object's bytes (GET /api/storage/object). */
const storageBytes = async (url: string) => new Uint8Array(await (await api.download(url)).arrayBuffer());

/** A URL given to the page: a storage URL (s3://, obs://) through the storage route, anything else fetched as is. */
async function fetchBytes(url: string): Promise<Uint8Array> {
  if (/^(s3|obs):\/\//i.test(url)) return storageBytes(url);
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status} ${r.statusText}`);
  return new Uint8Array(await r.arrayBuffer());
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);
const hasInputLayer = (prototxt: string) => /type\s*:\s*"Input"/.test(prototxt);
const folderOf = (url: string) => url.slice(0, url.lastIndexOf('/') + 1);

export async function listDeployments(): Promise<DeploymentInfo[]> {
  return (await api.get<{ deployments: DeploymentInfo[] }>('/api/models/deployments')).deployments;
}

/** The first candidate text that is a deploy net; a candidate that is not there (404) is skipped. */
async function findDeployNet(candidates: (() => Promise<string>)[]): Promise<string | null> {
  for (const get of candidates) {
    try {
      const t = await get();
      if (hasInputLayer(t)) return t;
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404)) throw e;
    }
  }
  return null;
}

const fromStorage = (url: string) => async () => text(await storageBytes(url));

/** deploy.prototxt (or another .prototxt) in a storage folder. */
async function prototxtsIn(folder: string): Promise<string[]> {
  try {
    const l = await listStorage(folder);
    const scheme = /^(s3|obs):\/\//i.exec(folder)?.[0] ?? '/';
    const bucket = folder.replace(/^(s3|obs):\/\/|^\//i, '').split('/')[0]!;
    const keys = (l.objects ?? []).map((o) => o.key).filter((k) => k.endsWith('.prototxt'));
    keys.sort((a, b) => Number(b.endsWith('/deploy.prototxt') || b === 'deploy.prototxt') - Number(a.endsWith('/deploy.prototxt') || a === 'deploy.prototxt'));
    return keys.map((k) => `${scheme}${bucket}/${k}`);
  } catch {
    return [];
  }
}

interface ModelFiles {
  prototxt: string;
  weights: Uint8Array;
  what: string;
  labels: string[] | null;
}

/** The browser engine's files, from the page's query or the platform. */
async function modelFiles(q: URLSearchParams): Promise<ModelFiles> {
  const p = q.get('prototxt'), w = q.get('weights');
  if (p || w) {
    if (!p || !w) throw new Error('give both ?prototxt=URL and &weights=URL');
    const [pt, wb] = await Promise.all([fetchBytes(p), fetchBytes(w)]);
    return { prototxt: text(pt), weights: wb, what: `${p.slice(p.lastIndexOf('/') + 1)} + ${w.slice(w.lastIndexOf('/') + 1)}`, labels: null };
  }
  const want = q.get('deployment');
  const deployments = await listDeployments();
  const d = want ? deployments.find((x) => x.id === want) : deployments[0];
  if (want && !d) throw new Error(`no deployment '${want}' (deployments: ${deployments.map((x) => x.id).join(', ') || 'none'})`);
  let weights: string, candidates: (() => Promise<string>)[], name: string, labels: string[] | null = null;
  if (d) {
    weights = d.weights;
    candidates = [
      async () => (await request('GET', `/api/models/deployments/${encodeURIComponent(d.id)}/deploy.prototxt`)).text(),
      fromStorage(d.net), ...(await prototxtsIn(folderOf(d.weights))).filter((u) => u !== d.net).map(fromStorage),
    ];
    name = `${d.jobName} v${d.version}${d.iteration !== null ? `, iteration ${d.iteration}` : ''}`;
    labels = (d.model as DeployedModel).labels ?? null;
  } else {
    const models = (await api.get<{ models: ModelEntry[] }>('/api/models')).models;
    const m = models.find((x) => x.deployable && x.weights);
    if (!m) throw new Error('no trained model yet: train one (console, Training jobs), or open this page with ?prototxt=URL&weights=URL');
    weights = m.weights!;
    candidates = (await prototxtsIn(m.output)).map(fromStorage);
    name = `${m.jobName} v${m.version}${m.iteration !== null ? `, iteration ${m.iteration}` : ''}`;
  }
  const net = await findDeployNet(candidates);
  if (!net) {
    throw new Error(`${name}: no deploy net (a prototxt with an Input layer) in ${folderOf(weights)}. Make one with ` +
      '`tscaffe deploy_prototxt` and copy it there as deploy.prototxt, or use the deployed endpoint');
  }
  return { prototxt: net, weights: await storageBytes(weights), what: name, labels };
}

/** The engine worker, with request/reply matching by id. */
class WorkerClient {
  private readonly worker = new Worker(new URL('./engine_worker.ts', import.meta.url), { type: 'module' });
  private next = 1;
  private readonly waiting = new Map<number, { resolve: (r: Reply & { ok: true }) => void; reject: (e: Error) => void }>();

  constructor() {
    this.worker.onmessage = (e: MessageEvent<Reply>) => {
      const w = this.waiting.get(e.data.id);
      if (!w) return;
      this.waiting.delete(e.data.id);
      if (e.data.ok) w.resolve(e.data);
      else w.reject(new Error(e.data.error));
    };
    this.worker.onerror = (e) => {
      const err = new Error(`the engine worker failed: ${e.message || 'it could not start'}`);
      for (const w of this.waiting.values()) w.reject(err);
      this.waiting.clear();
    };
  }

  call(r: Omit<LoadRequest, 'id'> | Omit<PredictRequest, 'id'>, transfer: Transferable[] = []): Promise<Reply & { ok: true }> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ ...r, id }, transfer);
    });
  }

  terminate(): void {
    this.worker.terminate();
  }
}

let worker: WorkerClient | undefined;

/** ?backend=ts|wasm|webgpu; by default WebGPU where the browser has an adapter, else wasm. */
function backendOf(q: URLSearchParams): NonNullable<LoadRequest['backend']> {
  const b = q.get('backend');
  return b === 'ts' || b === 'wasm' || b === 'webgpu' ? b : 'auto';
}

export async function browserEngine(q: URLSearchParams): Promise<Engine> {
  const files = await modelFiles(q);
  // One model per worker: a fresh worker for each model frees the last one's memory at once.
  worker?.terminate();
  const w = (worker = new WorkerClient());
  const { info } = await w.call({
    kind: 'load', prototxt: files.prototxt, weights: files.weights, what: files.what, backend: backendOf(q),
  }, [files.weights.buffer]);
  const m = info as LoadedInfo;
  const [c, hh, ww] = m.inputShape;
  if (c !== 1 || hh !== 28 || ww !== 28) throw new Error(`${files.what}: the net takes ${m.inputShape.join('x')} images; this page draws 1x28x28 digits`);
  const how = m.backend === 'webgpu' ? `WebGPU on ${m.adapter}`
    : m.backend === 'wasm' ? `wasm ${m.simd === 'relaxed' ? 'relaxed SIMD' : 'SIMD'}, ${m.memory} memory` : 'TypeScript backend';
  return {
    description: `${files.what} in this browser (${how})${m.note ? `: ${m.note}` : ''}`,
    labels: files.labels,
    predict: async (digit) => (await w.call({ kind: 'predict', digit })).probabilities!,
  };
}

/** The digit as a 28x28 grayscale PNG. */
function pngOf(digit: Float32Array, side: number): Promise<Blob> {
  const c = document.createElement('canvas');
  c.width = c.height = side;
  const ctx = c.getContext('2d')!;
  const img = ctx.createImageData(side, side);
  for (let i = 0; i < side * side; i++) {
    const v = Math.round(digit[i]!);
    img.data.set([v, v, v, 255], i * 4);
  }
  ctx.putImageData(img, 0, 0);
  return new Promise((resolve, reject) => c.toBlob((b) => (b ? resolve(b) : reject(new Error('cannot encode the digit as PNG'))), 'image/png'));
}

export function endpointEngine(d: DeploymentInfo): Engine {
  const shape = (d.model as DeployedModel).input?.shape ?? [1, 1, 28, 28];
  if (shape.slice(-3).join('x') !== '1x28x28') throw new Error(`deployment ${d.id} takes ${shape.slice(-3).join('x')} images; this page draws 1x28x28 digits`);
  return {
    description: `${d.jobName} v${d.version} on the deployed endpoint ${d.id}`,
    labels: (d.model as DeployedModel).labels ?? null,
    async predict(digit) {
      const res = await request('POST', d.predictUrl, { body: await pngOf(digit, 28), headers: { 'content-type': 'image/png' } });
      const r = (await res.json()) as { probabilities: number[] };
      return Float32Array.from(r.probabilities);
    },
  };
}
