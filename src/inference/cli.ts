// `tscaffe deploy_prototxt | classify | serve_model`: the deploy net of a model, images classified with it, and an
// HTTP inference service for it.
import path from 'node:path';
import type { NetParameter } from '../proto/types.generated.js';
import { readNetParamsFromTextFile } from '../proto/upgrade.js';
import { printTextProto } from '../proto/textformat.js';
import { writeFileAtomic } from '../util/atomic.js';
import { fmtG } from '../util/format.js';
import { cliOut } from '../platform/storage/cli.js';
import type { Command } from '../cli/command.js';
import { UsageError, type FlagSpec, type FlagValues } from '../cli/flags.js';
import { deriveDeployNet } from './deploy.js';
import { Classifier, readLabelsFile, type ClassifierOptions } from './classifier.js';
import { readImageFile } from './image.js';
import { createModelApp } from './http.js';
import { closeDevices, openDevices } from '../cli/devices.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';

const isLoopback = (h: string) => h === 'localhost' || h === '::1' || /^127\./.test(h);

function shapeFlag(v: unknown): number[] | undefined {
  const s = String(v ?? '');
  if (!s) return undefined;
  const dims = s.split(/[,x]/).map((d) => Number(d.trim()));
  if ((dims.length !== 3 && dims.length !== 4) || dims.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new UsageError(`-input_shape must be C,H,W or N,C,H,W (positive integers), got '${s}'`);
  }
  return dims;
}

const stagesOf = (s: unknown) => String(s ?? '').split(',').filter((x) => x.length > 0);

const deployFlags: Record<string, FlagSpec> = {
  input_shape: { type: 'string', default: '', help: 'Optional; the input shape C,H,W or N,C,H,W (default: from the data layer, its database or mean file; else MNIST 1,28,28)' },
  level: { type: 'int', default: 0, help: 'Optional; network level.' },
  stage: { type: 'string', default: '', help: "Optional; network stages, separated by ','." },
};

const modelFlags: Record<string, FlagSpec> = {
  model: { type: 'string', default: '', help: 'The model definition: a deploy or train_test prototxt.' },
  weights: { type: 'string', default: '', help: 'The trained weights (.caffemodel).' },
  mean: { type: 'string', default: '', help: "Optional; a mean .binaryproto (replaces the net's mean_file/mean_value)." },
  labels: { type: 'string', default: '', help: 'Optional; class names, one per line (synset_words.txt).' },
  scale: { type: 'float', default: 0, help: "Optional; input scale after mean subtraction (default: the net's transform_param scale, else 1)." },
  raw_scale: { type: 'float', default: 255, help: 'Pixel values are scaled to 0..raw_scale before mean subtraction.' },
  max_batch: { type: 'int', default: 256, help: 'Most images in one forward pass.' },
  threads: { type: 'int', default: 0, help: 'Optional; CPU threads for the wasm backend (0: all cores; TSCAFFE_THREADS).' },
  gpu: { type: 'string', default: '', help: 'Optional; run on WebGPU adapter N (see tscaffe device_query); without an adapter: the CPU, with a warning.' },
  ...deployFlags,
};

/** The device -gpu asks for (one at most: a model serves from one GPU), or none. */
async function inferenceDevice(flags: FlagValues): Promise<WebGpuDevice | undefined> {
  const gpu = String(flags.gpu ?? '');
  if (!gpu) return undefined;
  if (!/^\d+$/.test(gpu)) throw new UsageError(`-gpu: give one adapter id for inference, got '${gpu}'`);
  return (await openDevices(gpu, flags.threads))[0];
}

function classifierOptions(flags: FlagValues, what: string): ClassifierOptions {
  if (!flags.model) throw new UsageError(`Need a model definition (-model) to ${what}.`);
  if (!flags.weights) throw new UsageError(`Need model weights (-weights) to ${what}.`);
  if (Number(flags.threads) > 0) process.env.TSCAFFE_THREADS = String(flags.threads);
  const maxBatch = Number(flags.max_batch);
  if (!(maxBatch >= 1)) throw new UsageError('-max_batch must be >= 1');
  const shape = shapeFlag(flags.input_shape);
  return {
    model: String(flags.model),
    weights: String(flags.weights),
    maxBatch,
    rawScale: Number(flags.raw_scale),
    level: Number(flags.level),
    stages: stagesOf(flags.stage),
    ...(shape ? { inputShape: shape } : {}),
    ...(flags.mean ? { meanFile: String(flags.mean) } : {}),
    ...(Number(flags.scale) ? { scale: Number(flags.scale) } : {}),
    ...(flags.labels ? { labels: readLabelsFile(String(flags.labels)) } : {}),
  };
}

export const deployPrototxtCommand: Command = {
  summary: 'write the deploy net of a train_test (or deploy) prototxt: Input layer, TEST phase, Softmax "prob"',
  usage: 'IN.prototxt OUT.prototxt [-input_shape C,H,W] [-batch 1] [-stage S]',
  flags: {
    batch: { type: 'int', default: 1, help: 'Batch size of the Input layer.' },
    ...deployFlags,
  },
  async run({ flags, positional }) {
    const [input, output, ...extra] = positional;
    if (!input || !output || extra.length) throw new UsageError('give the input prototxt and the output file');
    if (!(Number(flags.batch) >= 1)) throw new UsageError('-batch must be >= 1');
    const shape = shapeFlag(flags.input_shape);
    const param = readNetParamsFromTextFile<NetParameter>(input);
    // Relative data sources and mean files: the current directory first (Caffe's rule), then the prototxt's folder.
    const d = await deriveDeployNet(param, {
      batch: Number(flags.batch), level: Number(flags.level), stages: stagesOf(flags.stage), baseDirs: [process.cwd(), path.dirname(path.resolve(input))],
      ...(shape ? { inputShape: shape } : {}),
    });
    const header = `# Deploy net derived by tscaffe deploy_prototxt from ${path.basename(input)}.\n` +
      `# Input '${d.input}' ${d.inputShape.join('x')}; output '${d.output}'. The Input layer's transform_param is how images are preprocessed.\n`;
    writeFileAtomic(output, header + printTextProto(d.net, 'NetParameter'));
    for (const n of d.notes) cliOut.write(`${n}\n`);
    cliOut.write(`wrote ${output}: input '${d.input}' ${d.inputShape.join('x')}, output '${d.output}' (${d.net.layer?.length ?? 0} layers)\n`);
    return 0;
  },
};

/** A label for the one-line output: quoted when it has spaces (synset names) so the line splits unambiguously. */
const showLabel = (l: string) => (/^\S+$/.test(l) ? l : JSON.stringify(l));

export const classifyCommand: Command = {
  summary: 'classify images (PNG, JPEG) with a trained model: the top-k classes and their probabilities per image',
  usage: '-model deploy.prototxt -weights w.caffemodel [-mean m.binaryproto] [--labels synset.txt] [--top_k 5] [--json] [-gpu 0] image.png ...',
  flags: {
    ...modelFlags,
    top_k: { type: 'int', default: 5, help: 'How many classes to print per image.' },
    json: { type: 'bool', default: false, help: 'Print JSON: [{file, top: [{label, index, probability}], probabilities}].' },
  },
  async run({ flags, positional }) {
    if (!positional.length) throw new UsageError('give one or more image files');
    const k = Number(flags.top_k);
    if (!(k >= 1)) throw new UsageError('--top_k must be >= 1');
    const o = classifierOptions(flags, 'classify');
    const images = positional.map((f) => readImageFile(f));
    const device = await inferenceDevice(flags);
    const c = await Classifier.load({ ...o, device }).catch((e: unknown) => {
      closeDevices(device ? [device] : []);
      throw e;
    });
    try {
      for (const n of [...c.deploy.notes.filter((x) => x.includes('ASSUMED')), ...c.preprocessor.notes]) process.stderr.write(`tscaffe classify: note: ${n}\n`);
      const results = await c.classify(images, k);
      if (flags.json) {
        cliOut.write(JSON.stringify(results.map((r, i) => ({ file: positional[i], top: r.top, probabilities: r.probabilities })), null, 2) + '\n');
      } else {
        results.forEach((r, i) => cliOut.write(`${positional[i]} ${r.top.map((t) => `${showLabel(t.label)} ${fmtG(t.probability)}`).join(' ')}\n`));
      }
    } finally {
      await c.close();
      closeDevices(device ? [device] : []);
    }
    return 0;
  },
};

export const serveModelCommand: Command = {
  summary: 'serve a trained model over HTTP: POST /predict (PNG/JPEG or JSON tensor), GET /model, GET /health',
  usage: '-model deploy.prototxt -weights w.caffemodel [-mean m.binaryproto] [--labels synset.txt] [--port 8081] [--host 127.0.0.1] [-gpu 0]',
  flags: {
    ...modelFlags,
    host: { type: 'string', default: '127.0.0.1', help: 'address to bind (default loopback only; the service has no authentication)' },
    port: { type: 'int', default: 8081, help: 'port (0: any free port)' },
    batch_window_ms: { type: 'int', default: 0, help: 'wait this long for more requests before a forward pass (0: batch only what queued during the last pass)' },
  },
  async run({ flags }) {
    const o = classifierOptions(flags, 'serve');
    const device = await inferenceDevice(flags);
    const release = () => closeDevices(device ? [device] : []);
    const c = await Classifier.load({ ...o, batchWindowMs: Math.max(0, Number(flags.batch_window_ms)), device }).catch((e: unknown) => {
      release();
      throw e;
    });
    const app = createModelApp(c);
    const host = String(flags.host);
    try {
      await app.listen({ host, port: Number(flags.port) });
    } catch (e) {
      await c.close();
      release();
      throw new Error(`cannot listen on ${host}:${flags.port}: ${(e as Error).message}`);
    }
    const addr = app.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : Number(flags.port);
    const [ch, h, w] = c.inputShape;
    for (const n of [...c.deploy.notes.filter((x) => x.includes('ASSUMED')), ...c.preprocessor.notes]) cliOut.write(`note: ${n}\n`);
    cliOut.write(`tscaffe model service listening on http://${host.includes(':') ? `[${host}]` : host}:${port} ` +
      `(input ${ch}x${h}x${w}, ${c.classes} classes, max batch ${c.maxBatch}): POST /predict, GET /model, GET /health\n`);
    if (!isLoopback(host)) cliOut.write(`WARNING: serving on ${host} without authentication\n`);
    await new Promise<void>((resolve) => {
      const stop = (sig: string) => {
        cliOut.write(`${sig}: shutting down\n`);
        void app.close().then(() => c.close()).then(release).then(resolve, resolve);
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
    return 0;
  },
};
