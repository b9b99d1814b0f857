// Images for inference: PNG (pngjs) and JPEG (jpeg-js) decoding, conversion to the net's channel count in Caffe's
// channel order (BGR for colour, as OpenCV loads images for Caffe; grey by OpenCV's BT.601 weights), and resizing to
// the net's input size. Pixel values stay 0-255 floats (Caffe's raw_scale 255 convention).
import { readFileSync } from 'node:fs';
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';

export interface DecodedImage {
  width: number;
  height: number;
  /** width x height x 3 interleaved R, G, B (0-255); alpha is composited over black. */
  rgb: Uint8Array;
  /** The file stored grey levels only (R = G = B). */
  gray: boolean;
  format: 'png' | 'jpeg';
}

/** Largest image accepted, in pixels (a decoded 50 Mpx image is 200 MB of RGBA). */
export const MAX_IMAGE_PIXELS = 50_000_000;

export class ImageError extends Error {}

function sniff(b: Uint8Array): 'png' | 'jpeg' | string {
  const at = (...xs: number[]) => xs.every((x, i) => b[i] === x);
  if (at(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'png';
  if (at(0xff, 0xd8, 0xff)) return 'jpeg';
  if (at(0x47, 0x49, 0x46, 0x38)) return 'a GIF image';
  if (at(0x42, 0x4d)) return 'a BMP image';
  if (at(0x52, 0x49, 0x46, 0x46) && b[8] === 0x57 && b[9] === 0x45) return 'a WebP image';
  if (at(0x49, 0x49, 0x2a, 0) || at(0x4d, 0x4d, 0, 0x2a)) return 'a TIFF image';
  return b.length === 0 ? 'empty' : 'not an image';
}

function checkSize(what: string, w: number, h: number): void {
  if (!(w > 0 && h > 0)) throw new ImageError(`${what}: the image has no pixels (${w}x${h})`);
  if (w * h > MAX_IMAGE_PIXELS) throw new ImageError(`${what}: ${w}x${h} is larger than the ${MAX_IMAGE_PIXELS}-pixel limit`);
}

/** RGBA -> RGB with alpha composited over black (a digit drawn on a transparent canvas reads as MNIST's white on black). */
function fromRgba(rgba: Uint8Array, w: number, h: number): { rgb: Uint8Array; gray: boolean } {
  const n = w * h;
  const rgb = new Uint8Array(n * 3);
  let gray = true;
  for (let i = 0; i < n; i++) {
    const a = rgba[i * 4 + 3]!;
    let r = rgba[i * 4]!, g = rgba[i * 4 + 1]!, b = rgba[i * 4 + 2]!;
    if (a !== 255) {
      r = Math.round((r * a) / 255);
      g = Math.round((g * a) / 255);
      b = Math.round((b * a) / 255);
    }
    rgb[i * 3] = r;
    rgb[i * 3 + 1] = g;
    rgb[i * 3 + 2] = b;
    if (r !== g || g !== b) gray = false;
  }
  return { rgb, gray };
}

/** Decode PNG or JPEG bytes; `what` (a file name, "request body") starts every error message. */
export function decodeImage(bytes: Uint8Array, what = 'image'): DecodedImage {
  const kind = sniff(bytes);
  if (kind === 'png') {
    // IHDR's width and height (big-endian at bytes 16 and 20): refuse huge images before decoding them.
    if (bytes.length >= 24) {
      const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      checkSize(what, dv.getUint32(16), dv.getUint32(20));
    }
    let png;
    try {
      png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    } catch (e) {
      throw new ImageError(`${what}: not a readable PNG image (${(e as Error).message})`);
    }
    checkSize(what, png.width, png.height);
    return { width: png.width, height: png.height, ...fromRgba(png.data, png.width, png.height), format: 'png' };
  }
  if (kind === 'jpeg') {
    let img;
    try {
      img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6, maxMemoryUsageInMB: 1024 });
    } catch (e) {
      throw new ImageError(`${what}: not a readable JPEG image (${(e as Error).message})`);
    }
    checkSize(what, img.width, img.height);
    return { width: img.width, height: img.height, ...fromRgba(img.data, img.width, img.height), format: 'jpeg' };
  }
  if (kind === 'empty') throw new ImageError(`${what}: empty, not an image`);
  throw new ImageError(`${what}: unsupported image format (${kind}); PNG and JPEG are supported`);
}

/** Read and decode an image file; errors name the file. */
export function readImageFile(file: string): DecodedImage {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
    throw new ImageError(`${file}: cannot read the image (${why})`);
  }
  return decodeImage(bytes, file);
}

/**
 * Per output index along one axis, the source indices and weights that make it. Enlarging (or equal size): bilinear
 * with pixel centres aligned (OpenCV's INTER_LINEAR); shrinking: the average over the covered source area (OpenCV's
 * INTER_AREA), so thin strokes of a large drawing survive the reduction to e.g. 28x28.
 */
function axisWeights(src: number, dst: number, linear: boolean): { idx: Int32Array; w: Float32Array; taps: number } {
  const scale = src / dst;
  if (scale <= 1 || linear) {
    const idx = new Int32Array(dst * 2), w = new Float32Array(dst * 2);
    for (let d = 0; d < dst; d++) {
      let s = (d + 0.5) * scale - 0.5;
      if (s < 0) s = 0;
      let i0 = Math.floor(s);
      if (i0 > src - 1) i0 = src - 1;
      const i1 = Math.min(i0 + 1, src - 1);
      const f = Math.min(s - i0, 1);
      idx[d * 2] = i0; idx[d * 2 + 1] = i1;
      w[d * 2] = 1 - f; w[d * 2 + 1] = f;
    }
    return { idx, w, taps: 2 };
  }
  const taps = Math.ceil(scale) + 1;
  const idx = new Int32Array(dst * taps), w = new Float32Array(dst * taps);
  for (let d = 0; d < dst; d++) {
    const a = d * scale, b = (d + 1) * scale;
    let t = 0;
    for (let i = Math.floor(a); i < b && i < src; i++, t++) {
      const cover = Math.min(b, i + 1) - Math.max(a, i);
      idx[d * taps + t] = i;
      w[d * taps + t] = cover / scale;
    }
  }
  return { idx, w, taps };
}

/**
 * The image as a C x H x W float array of 0-255 values: C = 1 (grey) or 3 (B, G, R: Caffe's order), resized to
 * H x W. `out` (length C*H*W) is written when given. `linear`: bilinear when shrinking too (OpenCV's default
 * INTER_LINEAR, what Caffe's ImageData layer resizes with) instead of area averaging.
 */
export function imageToPlanar(img: DecodedImage, channels: number, height: number, width: number, out?: Float32Array,
  linear = false): Float32Array {
  if (channels !== 1 && channels !== 3) throw new ImageError(`the net takes ${channels}-channel input; images give 1 (grey) or 3 (colour) channels`);
  const { width: sw, height: sh, rgb } = img;
  const n = sw * sh;
  // Source planes in the net's channel order.
  const planes: Float32Array[] = [];
  if (channels === 1) {
    const g = new Float32Array(n);
    if (img.gray) for (let i = 0; i < n; i++) g[i] = rgb[i * 3]!;
    else for (let i = 0; i < n; i++) g[i] = Math.round(0.299 * rgb[i * 3]! + 0.587 * rgb[i * 3 + 1]! + 0.114 * rgb[i * 3 + 2]!);
    planes.push(g);
  } else {
    for (const c of [2, 1, 0]) {
      const p = new Float32Array(n);
      for (let i = 0; i < n; i++) p[i] = rgb[i * 3 + c]!;
      planes.push(p);
    }
  }
  const dst = out ?? new Float32Array(channels * height * width);
  if (dst.length < channels * height * width) throw new Error(`imageToPlanar: output holds ${dst.length} values, needs ${channels * height * width}`);
  if (sw === width && sh === height) {
    planes.forEach((p, c) => dst.set(p, c * n));
    return dst;
  }
  const wx = axisWeights(sw, width, linear), wy = axisWeights(sh, height, linear);
  const tmp = new Float32Array(sh * width);
  planes.forEach((p, c) => {
    // Horizontal pass into tmp (sh x width), then vertical into the output plane.
    for (let y = 0; y < sh; y++) {
      for (let x = 0; x < width; x++) {
        let s = 0;
        for (let t = 0; t < wx.taps; t++) s += wx.w[x * wx.taps + t]! * p[y * sw + wx.idx[x * wx.taps + t]!]!;
        tmp[y * width + x] = s;
      }
    }
    const o = c * height * width;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        let s = 0;
        for (let t = 0; t < wy.taps; t++) s += wy.w[y * wy.taps + t]! * tmp[wy.idx[y * wy.taps + t]! * width + x]!;
        dst[o + y * width + x] = s;
      }
    }
  });
  return dst;
}
