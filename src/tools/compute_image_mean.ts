// compute_image_mean (Caffe's tools/compute_image_mean.cpp): the per-pixel mean of every Datum in a database, written
// as a BlobProto (num 1, channels, height, width, float data). Arithmetic follows Caffe exactly, in float32: each pixel
// is summed into the float BlobProto data (sum = float(sum + pixel)), then divided by the count; the logged
// per-channel mean_value sums the mean pixels in float and divides by H*W. The file is byte-identical to Caffe's.
import type { Command } from '../cli/command.js';
import { UsageError, type ParsedArgs } from '../cli/flags.js';
import { decodeDatum, datumValueCount } from '../io/datum.js';
import { openDb, parseBackend, type Backend } from '../io/db.js';
import { encodeMessage } from '../proto/caffe.js';
import { writeFileAtomic } from '../util/atomic.js';
import { fmtG } from '../util/format.js';
import { logger } from '../util/log.js';

const f32 = Math.fround;

export interface ImageMean {
  count: number;
  channels: number;
  height: number;
  width: number;
  /** channels*height*width mean values (float32). */
  mean: Float32Array;
  /** Per-channel mean of the mean image, as Caffe logs it. */
  meanValues: number[];
  /** The serialized BlobProto. */
  blobProto: Uint8Array;
}

/** Caffe's BlobProto for a mean: num=1, channels, height, width, data (packed floats); field order as C++ writes. */
export function encodeMeanBlobProto(channels: number, height: number, width: number, mean: Float32Array): Uint8Array {
  return encodeMessage('BlobProto', { num: 1, channels, height, width, data: Array.from(mean) });
}

/** Compute the mean image of the database at `dbPath`; writes it to `outFile` when given. */
export async function computeImageMean(dbPath: string, backend: Backend = 'lmdb', outFile?: string): Promise<ImageMean> {
  const db = await openDb(dbPath, backend, 'read');
  let sum: Float32Array;
  let channels: number, height: number, width: number;
  let count = 0;
  try {
    const cursor = await db.newCursor();
    if (!cursor.valid()) throw new Error(`${dbPath}: the database is empty; no mean to compute`);
    const first = decodeDatum(cursor.value(), `${dbPath} record ${cursor.key().toString('latin1')}`);
    ({ channels, height, width } = first);
    const dataSize = channels * height * width;
    sum = new Float32Array(datumValueCount(first));
    logger('compute_image_mean.cpp:74').info('Starting iteration');
    const progressLog = logger('compute_image_mean.cpp:103');
    while (cursor.valid()) {
      const what = `${dbPath} record ${cursor.key().toString('latin1')}`;
      const datum = decodeDatum(cursor.value(), what);
      if (datum.encoded) throw new Error(`${what}: encoded (compressed image) Datums are not supported by tscaffe`);
      const size = datumValueCount(datum);
      if (size !== dataSize) throw new Error(`${what}: Incorrect data field size ${size} (expected ${dataSize})`);
      if (datum.data.length !== 0) {
        const d = datum.data;
        for (let i = 0; i < size; ++i) sum[i] = sum[i]! + d[i]!; // Float32Array stores round to float
      } else {
        const d = datum.floatData;
        for (let i = 0; i < size; ++i) sum[i] = sum[i]! + d[i]!;
      }
      ++count;
      if (count % 10000 === 0) progressLog.info(`Processed ${count} files.`);
      await cursor.next();
    }
  } finally {
    await db.close();
  }
  if (count % 10000 !== 0) logger('compute_image_mean.cpp:109').info(`Processed ${count} files.`);
  const mean = new Float32Array(sum.length);
  for (let i = 0; i < sum.length; ++i) mean[i] = f32(sum[i]! / count);
  const blobProto = encodeMeanBlobProto(channels, height, width, mean);
  if (outFile !== undefined) {
    logger('compute_image_mean.cpp:116').info(`Write to ${outFile}`);
    writeFileAtomic(outFile, blobProto);
  }
  const dim = height * width;
  const meanValues: number[] = [];
  logger('compute_image_mean.cpp:122').info(`Number of channels: ${channels}`);
  for (let c = 0; c < channels; ++c) {
    let m = 0;
    for (let i = 0; i < dim; ++i) m = f32(m + (mean[dim * c + i] ?? 0));
    meanValues.push(f32(m / dim));
    logger('compute_image_mean.cpp:127').info(`mean_value channel [${c}]: ${fmtG(meanValues[c]!)}`);
  }
  return { count, channels, height, width, mean, meanValues, blobProto };
}

export const computeImageMeanCommand: Command = {
  summary: 'Compute the mean image of a Datum database and save it as a BlobProto (Caffe: compute_image_mean)',
  usage: '<input_db> [<output_file.binaryproto>] [--backend=lmdb|leveldb]',
  flags: {
    backend: { type: 'string', default: 'lmdb', help: 'The backend {leveldb, lmdb} containing the images' },
  },
  async run(args: ParsedArgs): Promise<number> {
    if (args.positional.length < 1 || args.positional.length > 2) {
      throw new UsageError('expected an input database and optionally an output file');
    }
    let backend: Backend;
    try {
      backend = parseBackend(String(args.flags.backend), '--backend');
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    await computeImageMean(args.positional[0]!, backend, args.positional[1]);
    return 0;
  },
};
