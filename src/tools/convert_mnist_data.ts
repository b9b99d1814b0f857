// convert_mnist_data (Caffe's examples/mnist/convert_mnist_data.cpp): MNIST IDX images + labels -> an LMDB or LevelDB
// of serialized Datums, keys "%08d", committed every 1000 records, with Caffe's log lines. Unlike Caffe it also reads
// gzip IDX files, checks the files (magic, length, matching counts) before creating anything, and builds the database
// under a temporary name that is renamed into place, so a failure never leaves a half database.
import type { Command } from '../cli/command.js';
import { UsageError, type ParsedArgs } from '../cli/flags.js';
import { readIdxPair, type IdxImages, type IdxLabels } from '../io/idx.js';
import { encodeMnistDatum } from '../io/datum.js';
import { checkDbPath, openDb, parseBackend, type Backend, type Db } from '../io/db.js';
import { buildDirAtomic } from '../util/atomic.js';
import { logger } from '../util/log.js';
import { progressBar } from '../util/progress.js';

/** Caffe's caffe::format_int(n, 8). */
export function formatKey(n: number, width = 8): string {
  return String(n).padStart(width, '0');
}

export interface ConvertOptions {
  backend?: Backend;
  /** Show a progress bar on stderr when it is a TTY (default true). */
  progress?: boolean;
}

/** Write already-read IDX data into a new database at `dbPath` (atomically). Returns the number of records. */
export async function writeMnistDb(images: IdxImages, labels: IdxLabels, dbPath: string, opts: ConvertOptions = {}): Promise<number> {
  const backend = opts.backend ?? 'lmdb';
  if (images.count !== labels.count) {
    throw new Error(`${images.file} has ${images.count} images but ${labels.file} has ${labels.count} labels: the counts must match`);
  }
  checkDbPath(dbPath, backend, 'new');
  const { count: num, rows, cols } = images;
  const size = rows * cols;
  let count = 0;
  await buildDirAtomic(dbPath, async (tmp) => {
    const db: Db = await openDb(tmp, backend, 'new', { name: dbPath });
    const bar = progressBar(num, `convert ${dbPath}`, opts.progress === false ? { write: () => true } : process.stderr);
    try {
      const txn = db.newTransaction();
      logger('convert_mnist_data.cpp:88').info(`A total of ${num} items.`);
      logger('convert_mnist_data.cpp:89').info(`Rows: ${rows} Cols: ${cols}`);
      for (let item = 0; item < num; ++item) {
        const pixels = images.pixels.subarray(item * size, (item + 1) * size);
        txn.put(formatKey(item), encodeMnistDatum(pixels, rows, cols, labels.labels[item]!));
        if (++count % 1000 === 0) {
          await txn.commit();
          bar.update(count);
        }
      }
      // write the last batch
      if (count % 1000 !== 0) await txn.commit();
      bar.done(true);
      logger('convert_mnist_data.cpp:108').info(`Processed ${count} files.`);
    } finally {
      bar.done(true);
      await db.close();
    }
    // The target may have appeared meanwhile; renaming over an empty directory would silently replace it.
    checkDbPath(dbPath, backend, 'new');
  });
  return count;
}

/** convert_mnist_data: read the IDX pair (plain or .gz) and write the database. Returns the number of records. */
export async function convertMnistData(imagesFile: string, labelsFile: string, dbPath: string, opts: ConvertOptions = {}): Promise<number> {
  checkDbPath(dbPath, opts.backend ?? 'lmdb', 'new');
  const { images, labels } = readIdxPair(imagesFile, labelsFile);
  return writeMnistDb(images, labels, dbPath, opts);
}

export const convertMnistDataCommand: Command = {
  summary: 'Convert MNIST IDX images/labels (plain or .gz) to an LMDB/LevelDB of Datums (Caffe: convert_mnist_data)',
  usage: '<input_image_file> <input_label_file> <output_db_path> [--backend=lmdb|leveldb]',
  flags: {
    backend: { type: 'string', default: 'lmdb', help: 'The backend {lmdb, leveldb} for storing the result' },
  },
  async run(args: ParsedArgs): Promise<number> {
    if (args.positional.length !== 3) throw new UsageError('expected 3 arguments: images file, labels file, output db path');
    const [images, labels, db] = args.positional as [string, string, string];
    let backend: Backend;
    try {
      backend = parseBackend(String(args.flags.backend), '--backend');
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    await convertMnistData(images, labels, db, { backend });
    return 0;
  },
};
