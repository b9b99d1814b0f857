// MNIST IDX files (http://yann.lecun.com/exdb/mnist/): big-endian header, then raw unsigned bytes.
//   images (idx3-ubyte): magic 2051 (0x00000803), count, rows, cols, then count*rows*cols pixels
//   labels (idx1-ubyte): magic 2049 (0x00000801), count, then count labels
// Plain or gzip-compressed (detected by the gzip magic bytes 1f 8b, not by the file name).
// Every problem is reported as one Error line that starts with the file name.
import { readFileSync, openSync, readSync, closeSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

export const IDX_IMAGES_MAGIC = 2051;
export const IDX_LABELS_MAGIC = 2049;

export interface IdxImages {
  file: string;
  count: number;
  rows: number;
  cols: number;
  /** count*rows*cols pixels, image after image, row-major (a view into the file's bytes). */
  pixels: Uint8Array;
}

export interface IdxLabels {
  file: string;
  count: number;
  /** count label bytes (a view into the file's bytes). */
  labels: Uint8Array;
}

export interface IdxHeader {
  kind: 'images' | 'labels';
  count: number;
  rows: number;
  cols: number;
}

const hex = (n: number) => '0x' + (n >>> 0).toString(16).padStart(8, '0');

function isGzip(b: Uint8Array): boolean {
  return b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;
}

/** The file's bytes, gunzipped when they start with the gzip magic. */
export function readMaybeGzip(file: string): Buffer {
  let raw: Buffer;
  try {
    raw = readFileSync(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') throw new Error(`${file}: no such file`);
    if (err.code === 'EISDIR') throw new Error(`${file}: is a directory, not an IDX file`);
    throw new Error(`${file}: cannot read (${err.message})`);
  }
  if (!isGzip(raw)) return raw;
  try {
    return gunzipSync(raw);
  } catch (e) {
    throw new Error(`${file}: corrupt or truncated gzip data (${(e as Error).message})`);
  }
}

function kindName(magic: number): string {
  if (magic === IDX_IMAGES_MAGIC) return '; it looks like an IDX image file';
  if (magic === IDX_LABELS_MAGIC) return '; it looks like an IDX label file';
  if (magic === 0x03080000 || magic === 0x01080000) return '; it looks like a little-endian IDX file, which MNIST files never are';
  return '';
}

function checkMagic(file: string, b: Uint8Array, expected: number, what: string): void {
  if (b.length < 4) throw new Error(`${file}: not an IDX ${what} file (only ${b.length} bytes, too short for a header)`);
  const magic = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0, false);
  if (magic !== expected) {
    throw new Error(`${file}: not an IDX ${what} file (magic ${hex(magic)} = ${magic}, expected ${expected}${kindName(magic)})`);
  }
}

/** Parse an in-memory IDX image file (already gunzipped). */
export function parseIdxImages(file: string, b: Uint8Array): IdxImages {
  checkMagic(file, b, IDX_IMAGES_MAGIC, 'image');
  if (b.length < 16) throw new Error(`${file}: truncated IDX image file (header needs 16 bytes, file has ${b.length})`);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const count = dv.getUint32(4, false);
  const rows = dv.getUint32(8, false);
  const cols = dv.getUint32(12, false);
  const need = count * rows * cols;
  if (b.length - 16 < need) {
    throw new Error(
      `${file}: truncated IDX image file (header says ${count} images of ${rows}x${cols} = ${need} bytes, but only ${b.length - 16} bytes follow)`,
    );
  }
  return { file, count, rows, cols, pixels: b.subarray(16, 16 + need) };
}

/** Parse an in-memory IDX label file (already gunzipped). */
export function parseIdxLabels(file: string, b: Uint8Array): IdxLabels {
  checkMagic(file, b, IDX_LABELS_MAGIC, 'label');
  if (b.length < 8) throw new Error(`${file}: truncated IDX label file (header needs 8 bytes, file has ${b.length})`);
  const count = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(4, false);
  if (b.length - 8 < count) {
    throw new Error(`${file}: truncated IDX label file (header says ${count} labels, but only ${b.length - 8} bytes follow)`);
  }
  return { file, count, labels: b.subarray(8, 8 + count) };
}

/** Read an IDX images file (idx3-ubyte, magic 2051), plain or gzip. */
export function readIdxImages(file: string): IdxImages {
  return parseIdxImages(file, readMaybeGzip(file));
}

/** Read an IDX labels file (idx1-ubyte, magic 2049), plain or gzip. */
export function readIdxLabels(file: string): IdxLabels {
  return parseIdxLabels(file, readMaybeGzip(file));
}

/**
 * The header only (kind and count), cheaply: reads 16 bytes of a plain file (a gzip file is decompressed).
 * Checks the magic but not the length.
 */
export function readIdxHeader(file: string): IdxHeader {
  let head: Buffer = Buffer.alloc(16);
  let n = 0;
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new Error(err.code === 'ENOENT' ? `${file}: no such file` : `${file}: cannot read (${err.message})`);
  }
  try {
    n = readSync(fd, head, 0, 16, 0);
  } finally {
    closeSync(fd);
  }
  head = head.subarray(0, n);
  if (isGzip(head)) head = readMaybeGzip(file).subarray(0, 16);
  if (head.length < 4) throw new Error(`${file}: not an IDX file (only ${head.length} bytes)`);
  const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const magic = dv.getUint32(0, false);
  if (magic === IDX_IMAGES_MAGIC) {
    if (head.length < 16) throw new Error(`${file}: truncated IDX image file (header needs 16 bytes)`);
    return { kind: 'images', count: dv.getUint32(4, false), rows: dv.getUint32(8, false), cols: dv.getUint32(12, false) };
  }
  if (magic === IDX_LABELS_MAGIC) {
    if (head.length < 8) throw new Error(`${file}: truncated IDX label file (header needs 8 bytes)`);
    return { kind: 'labels', count: dv.getUint32(4, false), rows: 0, cols: 0 };
  }
  throw new Error(`${file}: not an IDX file (magic ${hex(magic)}, expected ${IDX_IMAGES_MAGIC} or ${IDX_LABELS_MAGIC})`);
}

/** Read a matching images/labels pair; the counts must agree (Caffe: CHECK_EQ(num_items, num_labels)). */
export function readIdxPair(imagesFile: string, labelsFile: string): { images: IdxImages; labels: IdxLabels } {
  const images = readIdxImages(imagesFile);
  const labels = readIdxLabels(labelsFile);
  if (images.count !== labels.count) {
    throw new Error(
      `${imagesFile} has ${images.count} images but ${labelsFile} has ${labels.count} labels: the counts must match`,
    );
  }
  return { images, labels };
}
