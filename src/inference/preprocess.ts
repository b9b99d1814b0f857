// From a decoded image to the net's input values, as the data layer prepared the TEST images during training: the
// image converted to the net's channels and resized, pixel values 0-255 (times raw_scale / 255, Caffe's classify.py
// raw_scale), then the TEST transform_param applied by Caffe's own DataTransformer (centre crop, mean_file or
// mean_value subtraction, scale).
import type { BlobProto, TransformationParameter } from '../proto/types.generated.js';
import { createMessage, has, paramOf } from '../proto/caffe.js';
import { readProtoBinary } from '../proto/io.js';
import { Blob } from '../blob/blob.js';
import { DataTransformer } from '../layers/data_transformer.js';
import { setLogSink } from '../util/log.js';
import { resolveIn } from './deploy.js';
import { imageToPlanar, type DecodedImage } from './image.js';

const TEST = 1;

export interface PreprocessOptions {
  /** A mean .binaryproto overriding the transform's mean_file / mean_value. */
  meanFile?: string;
  /** Overrides the transform's scale (Caffe's classify.py input_scale). */
  scale?: number;
  /** Pixel values are 0..rawScale (default 255, i.e. the bytes as they are). */
  rawScale?: number;
  /** Folders the transform's relative mean_file resolves against (deploy.ts resolveIn). */
  baseDirs?: string[];
}

/** What a client needs to know to prepare a tensor itself (GET /model). */
export interface PreprocessDescription {
  channels: number;
  height: number;
  width: number;
  channelOrder: 'gray' | 'BGR';
  rawScale: number;
  scale: number;
  meanValue: number[];
  meanFile?: string;
  /** Images are resized to this size before the centre crop (crop_size with a mean_file of that size). */
  resizeTo: [number, number];
  cropSize: number;
}

export class Preprocessor {
  private readonly transformer: DataTransformer;
  private readonly rawScale: number;
  private readonly srcH: number;
  private readonly srcW: number;
  readonly notes: string[] = [];
  readonly description: PreprocessDescription;

  /** `shape` is the net input's [C, H, W]; `transform` the TEST transform_param (undefined: none). */
  constructor(shape: readonly number[], transform: TransformationParameter | undefined, o: PreprocessOptions = {}) {
    const [c, h, w] = shape as [number, number, number];
    const src = paramOf<TransformationParameter>('TransformationParameter', transform);
    const tp = createMessage<TransformationParameter>('TransformationParameter', {});
    if (has(src, 'scale')) tp.scale = src.scale!;
    if (o.scale !== undefined) tp.scale = o.scale;
    const meanFile = o.meanFile ?? (has(src, 'mean_file') ? resolveIn(src.mean_file!, o.baseDirs) : undefined);
    if (o.meanFile && (has(src, 'mean_file') || (src.mean_value ?? []).length)) this.notes.push(`mean ${o.meanFile} replaces the net's ${has(src, 'mean_file') ? 'mean_file' : 'mean_value'}`);
    let srcH = h, srcW = w;
    if (meanFile) {
      const b = new Blob();
      b.fromProto(readProtoBinary<BlobProto>(meanFile, 'BlobProto'), true, meanFile);
      if (b.channels !== c) throw new Error(`${meanFile}: the mean has ${b.channels} channels, the net's input ${c}`);
      tp.mean_file = meanFile;
      [srcH, srcW] = [b.height, b.width];
    } else if ((src.mean_value ?? []).length) {
      const mv = src.mean_value!;
      if (mv.length !== 1 && mv.length !== c) throw new Error(`transform_param: mean_value must be given once or once per channel (${c}), got ${mv.length}`);
      tp.mean_value = [...mv];
    }
    const crop = src.crop_size ?? 0;
    if (crop && meanFile && (srcH < crop || srcW < crop)) throw new Error(`${meanFile}: the mean (${srcH}x${srcW}) is smaller than crop_size ${crop}`);
    if (crop && meanFile && (srcH !== crop || srcW !== crop)) tp.crop_size = crop;
    else if (crop && !meanFile) this.notes.push(`crop_size ${crop}: the size before cropping is unknown (no mean_file), so images are resized straight to ${h}x${w}`);
    if (!tp.crop_size && (srcH !== h || srcW !== w)) throw new Error(`${meanFile}: the mean is ${srcH}x${srcW}, the net's input ${h}x${w}`);
    if (!transform && o.scale === undefined && !o.meanFile) this.notes.push('no transform_param on the input: pixel values 0-255 are fed as they are (give a scale if the net was trained on scaled values)');
    this.rawScale = o.rawScale ?? 255;
    if (!(this.rawScale > 0)) throw new Error(`raw_scale must be > 0, got ${this.rawScale}`);
    this.srcH = srcH;
    this.srcW = srcW;
    // DataTransformer logs "Loading mean file from ..." as Caffe does; here that would be noise on every load.
    const prev = setLogSink({ write: () => undefined });
    try {
      this.transformer = new DataTransformer(tp, TEST, 'preprocessing');
    } finally {
      setLogSink(prev);
    }
    this.description = {
      channels: c, height: h, width: w, channelOrder: c === 3 ? 'BGR' : 'gray', rawScale: this.rawScale,
      scale: tp.scale ?? 1, meanValue: [...(tp.mean_value ?? [])], ...(meanFile ? { meanFile } : {}),
      resizeTo: [srcH, srcW], cropSize: tp.crop_size ?? 0,
    };
  }

  get inputSize(): number {
    const d = this.description;
    return d.channels * d.height * d.width;
  }

  /** The net input values for one image, written into `out` (length C*H*W). */
  apply(img: DecodedImage, out: Float32Array): void {
    const { channels: c } = this.description;
    const raw = imageToPlanar(img, c, this.srcH, this.srcW);
    if (this.rawScale !== 255) {
      const k = this.rawScale / 255;
      for (let i = 0; i < raw.length; i++) raw[i] = raw[i]! * k;
    }
    this.transformer.transform(raw, c, this.srcH, this.srcW, out);
  }
}
