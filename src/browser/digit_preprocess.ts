// A drawn digit made into an MNIST image, as LeCun et al. made MNIST from NIST's scans: the ink's bounding box scaled
// (aspect ratio kept, area-averaged, so edges come out grey as in MNIST) to fit a 20x20 box, then placed in a 28x28
// field so that its centre of mass is the field's centre (14, 14), white ink on black, values 0..255. The model's own
// input transform (e.g. scale 0.00390625) is not applied here: see Model.toInput (index.ts).
// Pure functions on pixel arrays, so they run in Node (tests) as in the page (web/src/draw/).

/** An image as the canvas gives it (ImageData: RGBA, 4 bytes a pixel) or one gray byte a pixel. */
export interface PixelImage {
  width: number;
  height: number;
  data: ArrayLike<number>;
}

export interface DigitOptions {
  /** Side of the box the ink's bounding box is scaled to fit (default 20, MNIST's). */
  box?: number;
  /** Side of the output field (default 28). */
  size?: number;
  /** Ink (0..255, after background removal) below which a pixel does not count for the bounding box (default 24). */
  threshold?: number;
}

export interface Digit {
  /** size*size values 0..255, row-major: the net's 1 x size x size input before its transform. */
  pixels: Float32Array;
  /** The ink's bounding box in the source image (pixels, right/bottom exclusive). */
  box: { left: number; top: number; right: number; bottom: number };
  /** Source pixels per output pixel is 1 / scale. */
  scale: number;
  /** Whether the source had dark ink on a light background (it was inverted). */
  inverted: boolean;
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s[s.length >> 1] ?? 0;
}

/**
 * Ink per pixel, 0..255 (255 = full stroke). The background is told by the image's border: a transparent one (an
 * untouched canvas) makes the ink the opacity; a light one is inverted (black on white); the border's level is
 * subtracted, so an off-white or dark-grey paper reads as no ink.
 */
export function inkOf(img: PixelImage): { ink: Float32Array; inverted: boolean } {
  const { width: w, height: h, data } = img;
  const n = w * h;
  const channels = data.length === n ? 1 : data.length === 4 * n ? 4 : 0;
  if (!channels || n === 0) throw new Error(`image: ${data.length} values for ${w}x${h} pixels (want 1 or 4 per pixel)`);
  const border: number[] = [];
  for (let x = 0; x < w; x++) border.push(x, (h - 1) * w + x);
  for (let y = 1; y < h - 1; y++) border.push(y * w, y * w + w - 1);
  const gray = new Float32Array(n);
  let transparent = false;
  if (channels === 4) {
    transparent = median(border.map((i) => data[4 * i + 3]!)) < 128;
    for (let i = 0; i < n; i++) {
      gray[i] = transparent ? data[4 * i + 3]! : 0.299 * data[4 * i]! + 0.587 * data[4 * i + 1]! + 0.114 * data[4 * i + 2]!;
    }
  } else {
    for (let i = 0; i < n; i++) gray[i] = data[i]!;
  }
  const bg = transparent ? 0 : median(border.map((i) => gray[i]!));
  const inverted = bg > 127.5;
  const level = inverted ? 255 - bg : bg;
  const span = Math.max(1, 255 - level);
  const ink = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const v = inverted ? 255 - gray[i]! : gray[i]!;
    ink[i] = Math.min(255, Math.max(0, ((v - level) * 255) / span));
  }
  return { ink, inverted };
}

/**
 * The MNIST-style image of the digit drawn in `img`, or null when nothing is drawn (no pixel reaches the threshold).
 */
export function preprocessDigit(img: PixelImage, o: DigitOptions = {}): Digit | null {
  const boxSide = o.box ?? 20, size = o.size ?? 28, threshold = o.threshold ?? 24;
  const { width: w, height: h } = img;
  const { ink, inverted } = inkOf(img);
  let left = w, top = h, right = 0, bottom = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (ink[y * w + x]! < threshold) continue;
      if (x < left) left = x;
      if (x >= right) right = x + 1;
      if (y < top) top = y;
      if (y >= bottom) bottom = y + 1;
    }
  }
  if (right <= left) return null;
  const bw = right - left, bh = bottom - top;
  const scale = boxSide / Math.max(bw, bh);
  // Centre of mass of the ink in the box (pixel centres at +0.5); ink below the threshold counts too, as it is drawn.
  let mass = 0, mx = 0, my = 0;
  for (let y = top; y < bottom; y++) {
    for (let x = left; x < right; x++) {
      const v = ink[y * w + x]!;
      mass += v;
      mx += v * (x + 0.5);
      my += v * (y + 0.5);
    }
  }
  // Output pixel X covers source columns [sx0 + X / scale, sx0 + (X + 1) / scale): the centre of mass lands on size / 2.
  const sx0 = mx / mass - size / 2 / scale;
  const sy0 = my / mass - size / 2 / scale;
  const cols = areaWeights(sx0, scale, size, left, right);
  const rows = areaWeights(sy0, scale, size, top, bottom);
  // Separable box filter: rows of the box first (size x bh), then columns.
  const tmp = new Float32Array(size * bh);
  for (let y = top; y < bottom; y++) {
    for (let X = 0; X < size; X++) {
      let s = 0;
      for (const [x, wgt] of cols[X]!) s += ink[y * w + x]! * wgt;
      tmp[(y - top) * size + X] = s;
    }
  }
  const pixels = new Float32Array(size * size);
  for (let Y = 0; Y < size; Y++) {
    for (let X = 0; X < size; X++) {
      let s = 0;
      for (const [y, wgt] of rows[Y]!) s += tmp[(y - top) * size + X]! * wgt;
      pixels[Y * size + X] = Math.min(255, s);
    }
  }
  return { pixels, box: { left, top, right, bottom }, scale, inverted };
}

/**
 * For each of `size` output pixels, the source pixels in [lo, hi) it covers and their weights (overlap length times
 * scale: the area average, so a fully covered output pixel of uniform ink keeps that ink).
 */
function areaWeights(start: number, scale: number, size: number, lo: number, hi: number): [number, number][][] {
  const out: [number, number][][] = [];
  for (let X = 0; X < size; X++) {
    const a = start + X / scale, b = start + (X + 1) / scale;
    const list: [number, number][] = [];
    for (let x = Math.max(lo, Math.floor(a)); x < Math.min(hi, Math.ceil(b)); x++) {
      const overlap = Math.min(b, x + 1) - Math.max(a, x);
      if (overlap > 0) list.push([x, overlap * scale]);
    }
    out.push(list);
  }
  return out;
}
