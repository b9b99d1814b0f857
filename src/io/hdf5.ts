// HDF5 files (Caffe's .caffemodel.h5 / .solverstate.h5 snapshots, HDF5Data / HDF5Output layers) through h5wasm, the
// HDF5 C library compiled to WebAssembly. The library loads once, asynchronously (loadHdf5); after that every helper
// here is synchronous, so layers can read in forward(). h5wasm reports HDF5 errors as exceptions (its throwing error
// handler); the helpers rethrow them naming the file and the object.
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { Dataset, File as H5File, Group } from 'h5wasm/node';
import { logger } from '../util/log.js';

type H5Lib = typeof import('h5wasm/node').default;
export type { H5File, Group as H5Group };

let lib: H5Lib | undefined;
let loading: Promise<H5Lib> | undefined;

/** Load h5wasm (once); every other helper needs it loaded. */
export function loadHdf5(): Promise<H5Lib> {
  loading ??= import('h5wasm/node').then(async (m) => {
    const mod = await m.default.ready;
    mod.activate_throwing_error_handler();
    lib = m.default;
    return lib;
  });
  return loading;
}

function h5(): H5Lib {
  if (!lib) throw new Error('internal: HDF5 used before loadHdf5() resolved');
  return lib;
}

/** The first line of an HDF5 error message (h5wasm's carry the whole HDF5 error stack). */
function why(e: unknown): string {
  const msg = String((e as Error)?.message ?? e);
  const lines = msg.split('\n').map((l) => l.trim()).filter(Boolean);
  const detail = lines.filter((l) => /^#\d+:/.test(l)).pop();
  return (detail ? detail.replace(/^#\d+:.*? in /, '') : lines[0] ?? msg).slice(0, 300);
}

/** Open an existing HDF5 file for reading; a missing or non-HDF5 file gives an error naming it. */
export function openHdf5(file: string): H5File {
  if (!existsSync(file)) throw new Error(`${file}: no such file`);
  try {
    const f = new (h5().File)(file, 'r');
    if (f.file_id < 0n) throw new Error('cannot open');
    return f;
  } catch (e) {
    throw new Error(`${file}: cannot open as an HDF5 file (${why(e)})`);
  }
}

/**
 * Write an HDF5 file atomically: `build` fills a new file under a temp name, which is renamed into place when it is
 * closed; on failure nothing is left under the final name.
 */
export function writeHdf5Atomic(file: string, build: (f: H5File) => void): void {
  const dir = path.dirname(path.resolve(file));
  mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    const f = new (h5().File)(tmp, 'w');
    try {
      build(f);
    } finally {
      f.close();
    }
    renameSync(tmp, file);
  } catch (e) {
    if (existsSync(tmp)) rmSync(tmp, { force: true });
    throw e instanceof Error && e.message.startsWith(file) ? e : new Error(`${file}: cannot write the HDF5 file (${why(e)})`);
  }
}

/** The names of a group's members, in HDF5's link (name) order, as Caffe's hdf5_get_name_by_idx lists them. */
export function groupKeys(f: H5File, group: string, file: string): string[] {
  const g = f.get(group);
  if (!g || !(g instanceof h5().Group)) throw new Error(`${file}: no group '${group}'`);
  return (g as Group).keys();
}

function dataset(f: H5File, name: string, file: string): Dataset {
  const d = f.get(name);
  if (!d || !(d instanceof h5().Dataset)) throw new Error(`${file}: no dataset '${name}'`);
  return d as Dataset;
}

/** Whether `name` (a path from the root) is a dataset of the file. */
export function hasDataset(f: H5File, name: string): boolean {
  try {
    return f.get(name) instanceof h5().Dataset;
  } catch {
    return false;
  }
}

/**
 * A numeric dataset as float32 (Caffe's hdf5_load_nd_dataset: float and integer classes are read, converted to the
 * blob's float type); other types (strings, compounds) are errors naming the file and dataset.
 */
export function readFloatDataset(f: H5File, name: string, file: string): { shape: number[]; data: Float32Array } {
  return readNumbers(f, name, file, true);
}

/** Caffe logs each datatype class the first time hdf5_load_nd_dataset meets it (LOG_FIRST_N). */
const classLogged = new Set<number>();

function readNumbers(f: H5File, name: string, file: string, asBlob: boolean): { shape: number[]; data: Float32Array } {
  const d = dataset(f, name, file);
  const meta = d.metadata;
  // HDF5 type classes: 0 integer, 1 float
  if (meta.type !== 0 && meta.type !== 1) throw new Error(`${file}: dataset '${name}' has an unsupported datatype (${String(d.dtype)}); expected float or integer`);
  if (asBlob && !classLogged.has(meta.type)) {
    classLogged.add(meta.type);
    logger(meta.type ? 'hdf5.cpp:33' : 'hdf5.cpp:36').info(`Datatype class: ${meta.type ? 'H5T_FLOAT' : 'H5T_INTEGER'}`);
  }
  const v = d.value;
  const shape = d.shape ?? [];
  if (v instanceof Float32Array) return { shape, data: v };
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
    const src = v as unknown as ArrayLike<number | bigint>;
    const out = new Float32Array(src.length);
    for (let i = 0; i < src.length; i++) out[i] = Number(src[i]);
    return { shape, data: out };
  }
  if (typeof v === 'number' || typeof v === 'bigint') return { shape, data: Float32Array.of(Number(v)) };
  throw new Error(`${file}: dataset '${name}' could not be read as numbers`);
}

/** A one-element integer dataset (Caffe's hdf5_load_int). */
export function readInt(f: H5File, name: string, file: string): number {
  const { data } = readNumbers(f, name, file, false);
  if (data.length !== 1) throw new Error(`${file}: dataset '${name}' should hold one integer, it holds ${data.length} values`);
  return data[0]!;
}

/** A string dataset (Caffe's hdf5_load_string). */
export function readString(f: H5File, name: string, file: string): string {
  const v = dataset(f, name, file).value;
  if (typeof v !== 'string') throw new Error(`${file}: dataset '${name}' is not a string`);
  return v;
}

/** Write a float32 dataset (Caffe's hdf5_save_nd_dataset); a blob without axes is stored with shape {1}. */
export function writeFloatDataset(g: Group, name: string, shape: readonly number[], data: Float32Array): void {
  g.create_dataset({ name, data: Float32Array.from(data), shape: shape.length ? [...shape] : [1], dtype: '<f' });
}

/** Write a one-element int32 dataset (Caffe's hdf5_save_int: H5LTmake_dataset_int with dims {1}). */
export function writeInt(g: Group, name: string, value: number): void {
  g.create_dataset({ name, data: Int32Array.of(value), shape: [1], dtype: '<i' });
}

/** Write a scalar fixed-length string (Caffe's hdf5_save_string: H5LTmake_dataset_string, strlen + 1 bytes). */
export function writeString(g: Group, name: string, value: string): void {
  g.create_dataset({ name, data: value, dtype: `S${Buffer.byteLength(value) + 1}` });
}
