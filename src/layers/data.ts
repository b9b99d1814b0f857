// Data: batches of Datum records from an LMDB or LevelDB (data_param), transformed by transform_param. The next batch
// is read while the current one trains; the database wraps around at its end like Caffe's DataLayer.
import type { DataParameter } from '../proto/types.generated.js';
import { paramOf } from '../proto/caffe.js';
import type { Blob } from '../blob/blob.js';
import { DatumBatchReader } from '../io/db.js';
import { decodeDatumBatch, type DatumBatch } from '../io/datum.js';
import { logger } from '../util/log.js';
import { DataTransformer } from './data_transformer.js';
import { rng } from '../util/rng.js';
import { Layer, registerLayer } from './layer.js';

const LEVELDB = 0;

export class DataLayer extends Layer {
  private reader: DatumBatchReader | undefined;
  private pending: Promise<Buffer[]> | undefined;
  private batch: DatumBatch | undefined;
  private transformer!: DataTransformer;
  private batchSize = 0;

  override exactNumBottomBlobs(): number { return 0; }
  override minTopBlobs(): number { return 1; }
  override maxTopBlobs(): number { return 2; }

  override async init(): Promise<void> {
    const dp = paramOf<DataParameter>('DataParameter', this.param.data_param);
    const source = dp.source ?? '';
    if (!source) throw new Error(`Layer ${this.name}: data_param.source is required`);
    this.batchSize = dp.batch_size ?? 0;
    if (this.batchSize <= 0) throw new Error(`Layer ${this.name}: data_param.batch_size must be > 0`);
    this.transformer = new DataTransformer(this.param.transform_param, this.phase, `layer ${this.name}`);
    // Caffe's draws at a prefetching data layer's setup: InitRand, InitRand again, then the prefetch thread's seed.
    this.transformer.initRand();
    this.transformer.initRand();
    rng().nextU32();
    const backend = (dp.backend ?? LEVELDB) === LEVELDB ? 'leveldb' : 'lmdb';
    const l = logger('data_layer.cpp:73');
    this.reader = await DatumBatchReader.open(source, backend, {
      name: source,
      onRestart: () => l.info('Restarting data prefetching from start.'),
    });
    const records = await this.reader.db.count(this.batchSize);
    if (records < this.batchSize) {
      await this.reader.close();
      throw new Error(`Layer ${this.name}: data_param.batch_size ${this.batchSize} is larger than the database ${source} (${records} records)`);
    }
    this.pending = this.readShard();
    this.batch = decodeDatumBatch(await this.pending, source);
    this.pending = undefined;
  }

  /** The next batch of this replica: of every `count` consecutive batches, the one at `index` (Caffe's multi-GPU reader). */
  private async readShard(): Promise<Buffer[]> {
    const { index, count } = this.shard;
    if (count === 1) return this.reader!.readBatch(this.batchSize);
    const all = await this.reader!.readBatch(this.batchSize * count);
    return all.slice(index * this.batchSize, (index + 1) * this.batchSize);
  }

  override layerSetUp(_bottom: Blob[], top: Blob[]): void {
    const b = this.batch!;
    const [c, h, w] = this.transformer.outputShape(b.channels, b.height, b.width);
    top[0]!.reshape([this.batchSize, c, h, w]);
    logger('data_layer.cpp:45').info(`output data size: ${this.batchSize},${c},${h},${w}`);
    if (top.length > 1) top[1]!.reshape([this.batchSize]);
  }

  reshape(): void {}

  override async prefetch(): Promise<void> {
    if (!this.batch) {
      if (!this.pending) this.pending = this.readShard();
      const dp = paramOf<DataParameter>('DataParameter', this.param.data_param);
      this.batch = decodeDatumBatch(await this.pending, dp.source ?? '');
      this.pending = undefined;
    }
  }

  forward(_bottom: Blob[], top: Blob[]): void {
    const b = this.batch;
    if (!b) throw new Error(`Layer ${this.name}: forward before the batch was fetched (call net.forward(), which awaits prefetch)`);
    const [c, h, w] = this.transformer.outputShape(b.channels, b.height, b.width);
    const t = top[0]!;
    if (!t.sameShape([this.batchSize, c, h, w])) {
      throw new Error(`Layer ${this.name}: record shape changed to ${b.channels}x${b.height}x${b.width}`);
    }
    const inSize = b.channels * b.height * b.width;
    const outSize = c * h * w;
    for (let i = 0; i < this.batchSize; i++) {
      this.transformer.transform(b.data.subarray(i * inSize, (i + 1) * inSize), b.channels, b.height, b.width,
        t.data.subarray(i * outSize, (i + 1) * outSize));
    }
    if (top.length > 1) top[1]!.data.set(b.labels);
    this.batch = undefined;
    // Start reading the next batch now; it completes while this one trains.
    this.pending = this.readShard();
  }

  backward(): void {}

  override async close(): Promise<void> {
    if (this.pending) await this.pending.catch(() => undefined);
    await this.reader?.close();
  }
}

registerLayer('Data', DataLayer);
