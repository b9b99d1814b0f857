// A numerical gradient checker like Caffe's GradientChecker: the objective is 0.5 * sum of squares of the tops (so each
// top's diff is its data); every checked bottom and parameter element is perturbed by +/- step and the centred
// difference compared with the analytic gradient from backward().
import assert from 'node:assert/strict';
import { Blob } from '../src/blob/blob.js';
import type { Layer } from '../src/layers/layer.js';
import { setRandomSeed } from '../src/util/rng.js';
import { createLayer } from '../src/layers/layer.js';
import '../src/layers/index.js';
import '../src/backend/all.js';
import { createMessage } from '../src/proto/caffe.js';
import type { LayerParameter } from '../src/proto/types.generated.js';

export interface GradientCheckOptions {
  step?: number;
  threshold?: number;
  /** Bottom indices to check (default: all). */
  bottoms?: number[];
  /** Check parameter blobs too (default true). */
  params?: boolean;
  /** Skip elements whose input is within kinkRange of kink (non-differentiable points, e.g. ReLU at 0). */
  kink?: number;
  kinkRange?: number;
  /** Only check this top (default: objective over all tops). */
  topIndex?: number;
  /** Check at most this many elements per blob, spread evenly (speed). */
  maxElements?: number;
  seed?: number;
}

function objective(top: Blob[], topIndex?: number): number {
  let s = 0;
  top.forEach((t, i) => {
    if (topIndex !== undefined && i !== topIndex) return;
    for (const v of t.data) s += 0.5 * v * v;
  });
  return s;
}

/** Build a layer from a LayerParameter (plain object or text-like props). */
export function makeLayer(props: object, phase = 0): Layer {
  return createLayer(createMessage<LayerParameter>('LayerParameter', { phase, ...props }));
}

/** Fill a blob with uniform values in [lo, hi) from a seeded generator. */
export function fillUniform(b: Blob, lo = -1, hi = 1, seed = 1): Blob {
  let s = seed >>> 0 || 1;
  const d = b.data;
  for (let i = 0; i < d.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    d[i] = lo + ((s >>> 8) / 16777216) * (hi - lo);
  }
  return b;
}

export function checkGradient(layer: Layer, bottom: Blob[], top: Blob[], opts: GradientCheckOptions = {}): void {
  const step = opts.step ?? 1e-2;
  const threshold = opts.threshold ?? 1e-2;
  const seed = opts.seed ?? 1701;
  const checkBottoms = opts.bottoms ?? bottom.map((_, i) => i);
  setRandomSeed(seed);
  layer.setUp(bottom, top);
  const run = () => {
    setRandomSeed(seed);
    layer.reshape(bottom, top);
    layer.forward(bottom, top);
    return objective(top, opts.topIndex);
  };
  run();
  top.forEach((t, i) => {
    if (opts.topIndex !== undefined && i !== opts.topIndex) t.diff.fill(0);
    else t.diff.set(t.data);
  });
  for (const p of layer.blobs) p.diff.fill(0);
  for (const b of bottom) b.diff.fill(0);
  const propagate = bottom.map((_, i) => checkBottoms.includes(i));
  layer.backward(top, propagate, bottom);
  const blobs: { blob: Blob; what: string }[] = [];
  for (const i of checkBottoms) blobs.push({ blob: bottom[i]!, what: `bottom ${i}` });
  if (opts.params ?? true) layer.blobs.forEach((b, i) => blobs.push({ blob: b, what: `param ${i}` }));
  const analytic = blobs.map(({ blob }) => Float32Array.from(blob.diff));
  blobs.forEach(({ blob, what }, bi) => {
    const n = blob.count();
    const stride = opts.maxElements && n > opts.maxElements ? Math.ceil(n / opts.maxElements) : 1;
    for (let k = 0; k < n; k += stride) {
      const d = blob.data;
      const x = d[k]!;
      if (opts.kink !== undefined && Math.abs(x - opts.kink) < (opts.kinkRange ?? step * 2)) continue;
      d[k] = x + step;
      const fp = run();
      blob.data[k] = x - step;
      const fm = run();
      blob.data[k] = x;
      const est = (fp - fm) / (2 * step);
      const got = analytic[bi]![k]!;
      const scale = Math.max(Math.abs(est), Math.abs(got), 1);
      assert.ok(Math.abs(est - got) <= threshold * scale,
        `${layer.type} ${what}[${k}]: analytic ${got} vs numeric ${est}`);
    }
  });
  run();
}

/** Fill with distinct values spaced `gap` apart in a seeded shuffled order (max-type layers: no ties under +/- step). */
export function fillDistinct(b: Blob, gap = 0.05, seed = 3): Blob {
  const n = b.count();
  const order = Array.from({ length: n }, (_, i) => i);
  let s = seed >>> 0 || 1;
  for (let i = n - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  order.forEach((v, i) => { b.data[i] = (v - n / 2) * gap; });
  return b;
}
