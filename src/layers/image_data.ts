// ImageData: Caffe's ImageDataLayer. Images listed in a text file, one "<path> <label>" per line (the label after the
// last space), read relative to root_folder, decoded (PNG, JPEG), converted to grey or BGR colour (is_color), resized to
// new_height x new_width when both are set (bilinear, then rounded to 8 bits as OpenCV's cv::resize does for Caffe),
// transformed by transform_param. shuffle reorders the list at start and at every pass; rand_skip skips a random
// number of images at start. The next batch's files are read while the current one trains.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ImageDataParameter } from '../proto/types.generated.js';
import { paramOf } from '../proto/caffe.js';
import type { Blob } from '../blob/blob.js';
import { decodeImage, imageToPlanar } from '../inference/image.js';
import { Mt19937, rng } from '../util/rng.js';
import { logger } from '../util/log.js';
import { DataTransformer } from './data_transformer.js';
import { Layer, registerLayer } from './layer.js';

interface Entry { file: string; label: number }

/** The entries of an image list file; errors name the file and line. */
export function readImageList(source: string): Entry[] {
  let text: string;
  try {
    text = readFileSync(source, 'utf8');
  } catch (e) {
    throw new Error(`${source}: cannot read the image list (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const out: Entry[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (!line.trim()) return;
    const pos = line.lastIndexOf(' ');
    const label = pos > 0 ? Number(line.slice(pos + 1)) : NaN;
    if (!Number.isInteger(label)) throw new Error(`${source}:${i + 1}: expected '<image path> <integer label>', got '${line}'`);
    out.push({ file: line.slice(0, pos), label });
  });
  if (!out.length) throw new Error(`${source}: the image list is empty`);
  return out;
}

export class ImageDataLayer extends Layer {
  private p!: ImageDataParameter;
  private lines: Entry[] = [];
  private pos = 0;
  private transformer!: DataTransformer;
  private batchSize = 0;
  private channels = 0;
  /** Files of the next batch, being read. */
  private pending: Promise<Buffer[]> | undefined;
  private raw = new Float32Array(0);
  private shuffleRng: Mt19937 | undefined;

  override exactNumBottomBlobs(): number { return 0; }
  override exactNumTopBlobs(): number { return 2; }

  override async init(): Promise<void> {
    const p = (this.p = paramOf<ImageDataParameter>('ImageDataParameter', this.param.image_data_param));
    const err = (m: string) => new Error(`Layer ${this.name}: ${m}`);
    const source = p.source ?? '';
    if (!source) throw err('image_data_param.source is required');
    this.batchSize = p.batch_size ?? 1;
    if (this.batchSize <= 0) throw err('image_data_param.batch_size must be > 0');
    if ((p.new_height ?? 0) > 0 !== (p.new_width ?? 0) > 0) throw err('new_height and new_width must be set together');
    this.transformer = new DataTransformer(this.param.transform_param, this.phase, `layer ${this.name}`);
    this.transformer.initRand(); // Caffe's draws at setup, in its order (see the Data layer)
    const log = logger('image_data_layer.cpp:38');
    log.info(`Opening file ${source}`);
    this.lines = readImageList(source);
    if (p.shuffle) {
      this.shuffleRng = new Mt19937(rng().nextU32()); // Caffe's prefetch_rng_
      log.info('Shuffling data');
      this.shuffle();
    }
    log.info(`A total of ${this.lines.length} images.`);
    if ((p.rand_skip ?? 0) > 0) {
      const skip = rng().nextU32() % p.rand_skip!;
      log.info(`Skipping first ${skip} data points.`);
      if (skip >= this.lines.length) throw err(`rand_skip skipped ${skip} of ${this.lines.length} images`);
      this.pos = skip;
    }
    this.channels = (p.is_color ?? true) ? 3 : 1;
    this.transformer.initRand();
    rng().nextU32(); // the prefetch thread's seed
  }

  override layerSetUp(_bottom: Blob[], top: Blob[]): void {
    // The first image gives the shape (every image of a batch must share it).
    const first = this.lines[this.pos]!;
    const [h, w] = this.imageOf(readFileSync(this.pathOf(first)), first);
    const [c, oh, ow] = this.transformer.outputShape(this.channels, h, w);
    top[0]!.reshape([this.batchSize, c, oh, ow]);
    top[1]!.reshape([this.batchSize]);
    logger('image_data_layer.cpp:72').info(`output data size: ${this.batchSize},${c},${oh},${ow}`);
  }

  reshape(): void {}

  private pathOf(e: Entry): string {
    return path.join(this.p.root_folder ?? '', e.file);
  }

  /** caffe::shuffle: Fisher-Yates with boost::uniform_int(0, i) draws. */
  private shuffle(): void {
    const a = this.lines;
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.shuffleRng!.uniformInt(0, i);
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
  }

  /** Decode one file into this.raw (C x H x W, 0-255); returns its [H, W]. */
  private imageOf(bytes: Uint8Array, e: Entry): [number, number] {
    const img = decodeImage(bytes, this.pathOf(e));
    const nh = this.p.new_height ?? 0, nw = this.p.new_width ?? 0;
    const [h, w] = nh > 0 ? [nh, nw] : [img.height, img.width];
    const n = this.channels * h * w;
    if (this.raw.length < n) this.raw = new Float32Array(n);
    const raw = this.raw.subarray(0, n);
    imageToPlanar(img, this.channels, h, w, raw, true);
    if (nh > 0) for (let i = 0; i < n; i++) raw[i] = Math.min(255, Math.max(0, Math.round(raw[i]!)));
    return [h, w];
  }

  /** The entries of the next batch, advancing (and wrapping around, reshuffled when shuffle is set). */
  private nextEntries(): Entry[] {
    const out: Entry[] = [];
    for (let i = 0; i < this.batchSize; i++) {
      out.push(this.lines[this.pos]!);
      if (++this.pos >= this.lines.length) {
        logger('image_data_layer.cpp:164').info('Restarting data prefetching from start.');
        this.pos = 0;
        if (this.p.shuffle) this.shuffle();
      }
    }
    return out;
  }

  /** The batch being read or read: its entries, and its files once they arrived. */
  private batchEntries: Entry[] = [];
  private settled: Buffer[] | undefined;

  override async prefetch(): Promise<void> {
    if (!this.pending) {
      const entries = (this.batchEntries = this.nextEntries());
      this.pending = Promise.all(entries.map((e) => readFile(this.pathOf(e)).catch((x: NodeJS.ErrnoException) => {
        throw new Error(`Layer ${this.name}: ${this.pathOf(e)}: cannot read the image (${x.code ?? x.message})`);
      }))).then((b) => (this.settled = b));
    }
    await this.pending;
  }

  forward(_bottom: Blob[], top: Blob[]): void {
    const bytes = this.settled;
    if (!bytes) throw new Error(`Layer ${this.name}: forward before the batch was fetched (call net.forward(), which awaits prefetch)`);
    const t = top[0]!, labels = top[1]!.data;
    const outSize = t.count(1);
    this.batchEntries.forEach((e, i) => {
      const [h, w] = this.imageOf(bytes[i]!, e);
      const [c, oh, ow] = this.transformer.outputShape(this.channels, h, w);
      if (c * oh * ow !== outSize) {
        throw new Error(`Layer ${this.name}: ${this.pathOf(e)} is ${h}x${w}, the batch's images give ${t.shape.slice(1).join('x')} (set new_height and new_width to resize all images)`);
      }
      this.transformer.transform(this.raw, this.channels, h, w, t.data.subarray(i * outSize, (i + 1) * outSize));
      labels[i] = e.label;
    });
    this.pending = undefined;
    this.settled = undefined;
    // Start reading the next batch's files now; they arrive while this one trains (a read error surfaces at the
    // next forward's prefetch).
    this.prefetch().catch(() => undefined);
  }

  backward(): void {}

  override async close(): Promise<void> {
    if (this.pending) await this.pending.catch(() => undefined);
  }
}

registerLayer('ImageData', ImageDataLayer);
