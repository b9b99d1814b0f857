// Classifier: a trained model ready to answer. Loads a deploy or train_test prototxt (derived into its deploy net,
// deploy.ts) with its .caffemodel, turns images into input tensors (preprocess.ts) and runs them through the net.
//
// Batching: classify() queues its inputs; the queue is drained one batch (up to maxBatch inputs) per forward pass,
// one pass at a time. Requests that arrive during a pass (on the CPU it blocks the event loop, so they wait in the
// sockets; on a GPU the loop runs) are queued together right after it: they share the next forward. The input blob is reshaped only when the batch size changes (blobs
// keep their storage; layers reshape on every forward, as in Caffe), and output rows are copied out before the next
// batch reuses the blobs.
import path from 'node:path';
import type { NetParameter } from '../proto/types.generated.js';
import { readNetParamsFromTextFile, readTextFile } from '../proto/upgrade.js';
import { Net } from '../net/net.js';
import { copyTrainedLayersFromFile } from '../net/weights.js';
import type { Blob } from '../blob/blob.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import { deriveDeployNet, type DeployNet, type DeployOptions } from './deploy.js';
import { Preprocessor, type PreprocessDescription, type PreprocessOptions } from './preprocess.js';
import { decodeImage, type DecodedImage } from './image.js';

export interface ClassifierOptions extends DeployOptions, PreprocessOptions {
  /** A net prototxt file (deploy or train_test) or the NetParameter itself. */
  model: string | NetParameter;
  /** A .caffemodel file or its NetParameter. */
  weights: string | NetParameter;
  /** Class names, one per output (default: the class index as a string). */
  labels?: string[];
  /** Most inputs in one forward pass (default 256). */
  maxBatch?: number;
  /** Wait this long after the first queued input for more to arrive before a forward pass (default 0: none). */
  batchWindowMs?: number;
  /** Run the net on this WebGPU device (default: the CPU backend). */
  device?: WebGpuDevice;
}

/** One input: encoded PNG/JPEG bytes, a decoded image, or the net's input values themselves (C*H*W floats). */
export type ClassifyInput = Uint8Array | DecodedImage | { tensor: ArrayLike<number> };

export interface TopEntry {
  label: string;
  index: number;
  probability: number;
}

export interface Prediction {
  probabilities: number[];
  top: TopEntry[];
}

export interface ClassifierStats {
  forwards: number;
  inputs: number;
  largestBatch: number;
  /** Forward passes by batch size. */
  batchSizes: Record<number, number>;
}

export class ClassifierError extends Error {}

interface Pending {
  tensor: Float32Array;
  resolve: (p: Float32Array) => void;
  reject: (e: Error) => void;
}

/** Class names: one per line (synset_words.txt style: the whole line is the label); `what` names the file. */
export function parseLabels(text: string, what: string): string[] {
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  while (lines.length && lines[lines.length - 1] === '') lines.pop();
  if (!lines.length) throw new Error(`${what}: no labels in the file`);
  return lines;
}

export function readLabelsFile(file: string): string[] {
  return parseLabels(readTextFile(file), file);
}

/** The top-k (index, probability) pairs, best first; ties keep the lower index first. */
export function topK(probs: ArrayLike<number>, k: number, labels?: readonly string[]): TopEntry[] {
  const idx = Array.from({ length: probs.length }, (_, i) => i);
  idx.sort((a, b) => probs[b]! - probs[a]! || a - b);
  return idx.slice(0, Math.max(0, Math.min(k, probs.length))).map((i) => ({ label: labels?.[i] ?? String(i), index: i, probability: probs[i]! }));
}

export class Classifier {
  readonly deploy: DeployNet;
  readonly preprocessor: Preprocessor;
  readonly labels: string[] | undefined;
  readonly maxBatch: number;
  readonly stats: ClassifierStats = { forwards: 0, inputs: 0, largestBatch: 0, batchSizes: {} };
  private readonly input: Blob;
  private readonly output: Blob;
  /** Input values per image (C*H*W) and outputs per image. */
  readonly inputSize: number;
  readonly classes: number;
  private readonly queue: Pending[] = [];
  private scheduled = false;
  /** A forward pass of the queue is in flight. */
  private running = false;
  private closed = false;
  private readonly windowMs: number;

  private constructor(private readonly net: Net, deploy: DeployNet, pre: Preprocessor, o: ClassifierOptions) {
    this.deploy = deploy;
    this.preprocessor = pre;
    this.maxBatch = o.maxBatch ?? 256;
    this.windowMs = o.batchWindowMs ?? 0;
    this.input = net.blobByName(deploy.input)!;
    this.output = net.blobByName(deploy.output)!;
    this.inputSize = this.input.count(1);
    this.classes = this.output.count(1);
    if (o.labels && o.labels.length !== this.classes) {
      throw new ClassifierError(`the labels give ${o.labels.length} classes, the net's output '${deploy.output}' has ${this.classes}`);
    }
    this.labels = o.labels;
  }

  static async load(o: ClassifierOptions): Promise<Classifier> {
    if (!(Number.isInteger(o.maxBatch ?? 1) && (o.maxBatch ?? 1) >= 1)) throw new ClassifierError(`maxBatch must be a positive integer, got ${o.maxBatch}`);
    const modelFile = typeof o.model === 'string' ? o.model : undefined;
    const param = modelFile ? readNetParamsFromTextFile<NetParameter>(modelFile) : (o.model as NetParameter);
    // Caffe resolves data sources and mean files against the current directory; the model file's own folder next.
    const baseDirs = o.baseDirs ?? [process.cwd(), ...(modelFile ? [path.dirname(path.resolve(modelFile))] : [])];
    const deploy = await deriveDeployNet(param, { ...o, baseDirs });
    const shape = deploy.inputShape;
    if (shape.length !== 4) throw new ClassifierError(`the input '${deploy.input}' has shape [${shape.join(', ')}]; an image input is N x C x H x W`);
    const pre = new Preprocessor(shape.slice(1), deploy.transform, { ...o, baseDirs });
    const net = await Net.create(deploy.net, 1, { verbose: false });
    try {
      if (typeof o.weights === 'string') await copyTrainedLayersFromFile(net, o.weights);
      else net.copyTrainedLayersFrom(o.weights, 'weights');
      if (o.device) net.useDevice(o.device);
      return new Classifier(net, deploy, pre, o);
    } catch (e) {
      await net.close();
      throw e;
    }
  }

  /** Input shape [C, H, W]. */
  get inputShape(): number[] {
    return this.deploy.inputShape.slice(1);
  }

  get preprocessing(): PreprocessDescription {
    return this.preprocessor.description;
  }

  /** The net input values for one input (throws ClassifierError / ImageError naming `what`). */
  toTensor(x: ClassifyInput, what = 'input'): Float32Array {
    if (x instanceof Uint8Array) x = decodeImage(x, what);
    if ('tensor' in x) {
      const t = x.tensor;
      if (!t || typeof t.length !== 'number') throw new ClassifierError(`${what}: tensor must be an array of numbers`);
      if (t.length !== this.inputSize) {
        throw new ClassifierError(`${what}: tensor has ${t.length} values, the input ${this.inputShape.join('x')} takes ${this.inputSize}`);
      }
      const out = new Float32Array(this.inputSize);
      for (let i = 0; i < t.length; i++) {
        const v = t[i]!;
        if (typeof v !== 'number' || !Number.isFinite(v)) throw new ClassifierError(`${what}: tensor value ${i} is not a finite number`);
        out[i] = v;
      }
      return out;
    }
    const out = new Float32Array(this.inputSize);
    this.preprocessor.apply(x, out);
    return out;
  }

  /** Classify inputs; requests made while a batch runs share the next forward pass. */
  async classify(inputs: ClassifyInput[], k = 5): Promise<Prediction[]> {
    const tensors = inputs.map((x, i) => this.toTensor(x, inputs.length > 1 ? `input ${i}` : 'input'));
    const outs = await Promise.all(tensors.map((t) => this.enqueue(t)));
    return outs.map((p) => this.prediction(p, k));
  }

  prediction(probs: Float32Array, k = 5): Prediction {
    return { probabilities: Array.from(probs), top: topK(probs, k, this.labels) };
  }

  /** Queue one input tensor (C*H*W values); resolves with its output row. */
  enqueue(tensor: Float32Array): Promise<Float32Array> {
    if (this.closed) return Promise.reject(new ClassifierError('the classifier is closed'));
    if (tensor.length !== this.inputSize) return Promise.reject(new ClassifierError(`tensor has ${tensor.length} values, the input takes ${this.inputSize}`));
    return new Promise((resolve, reject) => {
      this.queue.push({ tensor, resolve, reject });
      this.schedule(this.windowMs);
    });
  }

  private schedule(delayMs: number): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const run = () => {
      this.scheduled = false;
      void this.drain();
    };
    // setImmediate runs after the I/O callbacks of this loop turn: every request already read joins the batch.
    if (delayMs > 0 && this.queue.length < this.maxBatch) setTimeout(run, delayMs);
    else setImmediate(run);
  }

  private async drain(): Promise<void> {
    if (this.running) return; // the pass in flight schedules the next one
    const batch = this.queue.splice(0, this.maxBatch);
    if (!batch.length) return;
    this.running = true;
    try {
      const outs = await this.runBatch(batch.map((b) => b.tensor));
      batch.forEach((b, i) => b.resolve(outs[i]!));
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      for (const b of batch) b.reject(err);
    } finally {
      this.running = false;
    }
    if (this.queue.length) this.schedule(0);
  }

  /**
   * One forward pass over `tensors` (each C*H*W values), without the queue (not while one of the queue's passes runs);
   * returns each input's output row. At most maxBatch inputs.
   */
  async runBatch(tensors: Float32Array[]): Promise<Float32Array[]> {
    const n = tensors.length;
    if (n === 0) return [];
    if (n > this.maxBatch) throw new ClassifierError(`batch of ${n} is larger than maxBatch ${this.maxBatch}`);
    const size = this.inputSize;
    if (this.input.num !== n) this.input.reshape([n, ...this.inputShape]);
    await this.input.syncToHost(); // an in-place layer on a device may have written it there
    const data = this.input.data;
    for (let i = 0; i < n; i++) {
      if (tensors[i]!.length !== size) throw new ClassifierError(`tensor ${i} has ${tensors[i]!.length} values, the input takes ${size}`);
      data.set(tensors[i]!, i * size);
    }
    await this.net.forwardFromTo();
    await this.output.syncToHost();
    const out = this.output.cpuData;
    const k = this.classes;
    const rows: Float32Array[] = [];
    for (let i = 0; i < n; i++) rows.push(out.slice(i * k, (i + 1) * k));
    const s = this.stats;
    s.forwards++;
    s.inputs += n;
    s.largestBatch = Math.max(s.largestBatch, n);
    s.batchSizes[n] = (s.batchSizes[n] ?? 0) + 1;
    return rows;
  }

  /** Reject what is still queued and release the net. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const b of this.queue.splice(0)) b.reject(new ClassifierError('the classifier was closed'));
    await this.net.close();
  }
}
