// Caffe's DataTransformer for raw (uint8 or float) images: crop (random in TRAIN, centre in TEST), mirror (random, in
// either phase, as Caffe's), subtract mean_file or mean_value, then scale — in Caffe's order and float32 arithmetic.
// Its random choices come from an engine of its own, seeded from Caffe's at setup (initRand), as Caffe's are.
import type { BlobProto, TransformationParameter } from '../proto/types.generated.js';
import { has, paramOf } from '../proto/caffe.js';
import { readProtoBinary } from '../proto/io.js';
import { Blob } from '../blob/blob.js';
import { Mt19937, rng } from '../util/rng.js';
import { logger } from '../util/log.js';
import { TRAIN } from './layer.js';

const f = Math.fround;

export class DataTransformer {
  private readonly tp: TransformationParameter;
  private mean: Float32Array | undefined;
  private meanValues: number[] = [];
  private rand: Mt19937 | undefined;

  constructor(param: TransformationParameter | null | undefined, private readonly phase: number, what: string) {
    const tp = (this.tp = paramOf<TransformationParameter>('TransformationParameter', param));
    if (has(tp, 'mean_file') && (tp.mean_value ?? []).length) {
      throw new Error(`${what}: Cannot specify mean_file and mean_value at the same time`);
    }
    if (has(tp, 'mean_file')) {
      logger('data_transformer.cpp:25').info(`Loading mean file from: ${tp.mean_file}`);
      const b = new Blob();
      b.fromProto(readProtoBinary<BlobProto>(tp.mean_file!, 'BlobProto'), true, tp.mean_file!);
      this.mean = b.data;
    }
    this.meanValues = [...(tp.mean_value ?? [])];
  }

  /**
   * Caffe's InitRand: where mirror or a TRAIN crop needs random numbers, a new engine seeded with a draw from the
   * global one (Caffe's data layers call it twice at setup: the second seed is the one used).
   */
  initRand(): void {
    if ((this.tp.mirror ?? false) || (this.phase === TRAIN && this.cropSize > 0)) this.rand = new Mt19937(rng().nextU32());
  }

  /** Caffe's Rand(n): the engine's next 32 bits modulo n. */
  private randBelow(n: number): number {
    if (!this.rand) throw new Error('DataTransformer: initRand() was not called');
    return this.rand.nextU32() % n;
  }

  get cropSize(): number {
    return this.tp.crop_size ?? 0;
  }

  /** Output shape [C, H', W'] for an input of [C, H, W]. */
  outputShape(c: number, h: number, w: number): [number, number, number] {
    const crop = this.cropSize;
    if (crop && (h < crop || w < crop)) throw new Error(`crop_size ${crop} is larger than the image (${h}x${w})`);
    return crop ? [c, crop, crop] : [c, h, w];
  }

  /** Transform one C x H x W image (raw values) into out (C x H' x W'). */
  transform(src: ArrayLike<number>, c: number, h: number, w: number, out: Float32Array): void {
    const crop = this.cropSize;
    const scale = f(this.tp.scale ?? 1);
    const doMirror = (this.tp.mirror ?? false) && this.randBelow(2) === 1;
    let hOff = 0, wOff = 0, oh = h, ow = w;
    if (crop) {
      oh = ow = crop;
      if (this.phase === TRAIN) {
        hOff = this.randBelow(h - crop + 1);
        wOff = this.randBelow(w - crop + 1);
      } else {
        hOff = Math.floor((h - crop) / 2);
        wOff = Math.floor((w - crop) / 2);
      }
    }
    const mean = this.mean;
    if (mean && mean.length !== c * h * w) throw new Error(`mean_file has ${mean.length} values, the images have ${c * h * w}`);
    const mv = this.meanValues;
    if (mv.length > 1 && mv.length !== c) throw new Error(`mean_value must be given once or once per channel (${c})`);
    if (!mean && !mv.length && !crop && !doMirror) {
      // The common case (MNIST's scale only): storing into the Float32Array rounds like Math.fround would.
      const n = c * h * w;
      if (scale === 1) for (let i = 0; i < n; i++) out[i] = src[i]!;
      else for (let i = 0; i < n; i++) out[i] = src[i]! * scale;
      return;
    }
    for (let ch = 0; ch < c; ch++) {
      const m = mv.length ? f(mv.length === 1 ? mv[0]! : mv[ch]!) : 0;
      for (let y = 0; y < oh; y++) {
        for (let x = 0; x < ow; x++) {
          const di = (ch * h + hOff + y) * w + wOff + x;
          const ti = (ch * oh + y) * ow + (doMirror ? ow - 1 - x : x);
          const v = src[di]!;
          out[ti] = mean ? f(f(v - mean[di]!) * scale) : mv.length ? f(f(v - m) * scale) : f(v * scale);
        }
      }
    }
  }
}
