// Caffe's weight fillers (FillerParameter): constant, uniform, gaussian (optionally sparse), positive_unitball,
// xavier, msra, bilinear, drawing from Caffe's engine in Caffe's order (uniform-based ones: Caffe's exact values).
import type { FillerParameter } from '../proto/types.generated.js';
import type { Blob } from '../blob/blob.js';
import { rng } from './rng.js';

const FAN_IN = 0;
const FAN_OUT = 1;
const AVERAGE = 2;

function fanScale(blob: Blob, norm: number | undefined): number {
  const count = blob.count();
  const fanIn = count / Math.max(blob.shape[0] ?? 1, 1);
  // Caffe: fan_out = count / shape(1) for blobs with at least 2 axes.
  const fanOut = blob.numAxes > 1 ? count / Math.max(blob.shape[1]!, 1) : count;
  if (norm === AVERAGE) return (fanIn + fanOut) / 2;
  if (norm === FAN_OUT) return fanOut;
  void FAN_IN;
  return fanIn;
}

export function fillBlob(blob: Blob, p: FillerParameter | undefined): void {
  const type = p?.type ?? 'constant';
  const d = blob.data;
  const r = rng();
  switch (type) {
    case 'constant':
      d.fill(p?.value ?? 0);
      break;
    case 'uniform': {
      const lo = p?.min ?? 0;
      const hi = p?.max ?? 1;
      for (let i = 0; i < d.length; i++) d[i] = r.uniform(lo, hi);
      break;
    }
    case 'gaussian': {
      const mean = p?.mean ?? 0;
      const std = p?.std ?? 1;
      for (let i = 0; i < d.length; i++) d[i] = r.gaussian(mean, std);
      const sparse = p?.sparse ?? -1;
      if (sparse >= 0) {
        // Each output keeps on average `sparse` non-zero inputs.
        const numOutputs = blob.shape[0] ?? 1;
        const nonZeroProb = sparse / (d.length / numOutputs);
        for (let i = 0; i < d.length; i++) d[i]! *= r.bernoulli(nonZeroProb);
      }
      break;
    }
    case 'positive_unitball': {
      for (let i = 0; i < d.length; i++) d[i] = r.uniform(0, 1);
      const num = blob.shape[0] ?? 1;
      const dim = d.length / num;
      for (let i = 0; i < num; i++) {
        let s = 0;
        for (let j = 0; j < dim; j++) s += d[i * dim + j]!;
        for (let j = 0; j < dim; j++) d[i * dim + j]! /= s;
      }
      break;
    }
    case 'xavier': {
      // Caffe: Dtype scale = sqrt(Dtype(3) / n), in float.
      const scale = Math.fround(Math.sqrt(Math.fround(3 / Math.fround(fanScale(blob, p?.variance_norm)))));
      for (let i = 0; i < d.length; i++) d[i] = r.uniform(-scale, scale);
      break;
    }
    case 'msra': {
      const std = Math.sqrt(2 / fanScale(blob, p?.variance_norm));
      for (let i = 0; i < d.length; i++) d[i] = r.gaussian(0, std);
      break;
    }
    case 'bilinear': {
      if (blob.numAxes !== 4 || blob.shape[2] !== blob.shape[3]) {
        throw new Error('bilinear filler needs a 4-D blob with square kernels');
      }
      const k = blob.shape[3]!;
      const f = Math.ceil(k / 2);
      const c = (2 * f - 1 - (f % 2)) / (2 * f);
      for (let i = 0; i < d.length; i++) {
        const x = i % k;
        const y = Math.floor(i / k) % k;
        d[i] = (1 - Math.abs(x / f - c)) * (1 - Math.abs(y / f - c));
      }
      break;
    }
    default:
      throw new Error(`unknown filler type '${type}'`);
  }
}
