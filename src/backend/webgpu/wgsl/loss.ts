// The losses the solver reads, with Caffe's semantics (src/layers/softmax_loss.ts, accuracy.ts): over an (outer,
// channels, inner) array, label j (truncated to an integer, like Caffe's static_cast<int>) belongs to position
// (j / inner, j % inner). A label equal to ignore (when hasIgnore) is skipped; a label outside [0, channels) cannot
// throw on the device, so it makes the result NaN. Partial kernels of reduce.ts's two-pass scheme: a sums the loss
// (or the correct predictions), b counts the valid labels.
import { partialKernel, shared, treeSum } from './reduce.js';
import type { KernelDef } from './shader.js';

const labelFields = [['channels', 'u32'], ['inner', 'u32'], ['hasIgnore', 'u32'], ['ignore', 'i32'], ['nan', 'f32']] as const;

// Item j's label l (valid or not) and the base of its column of scores (channel c at base + c * inner).
const labelOf = `
    let l = i32($label[j]);
    let base = (j / p.inner) * p.channels * p.inner + j % p.inner;
    if (p.hasIgnore == 0u || l != p.ignore) {
      b += 1.0;
      if (l < 0 || l >= i32(p.channels)) { a += p.nan; } else {`;

/** rwg: the partial kernels' workgroup (a power of two); wg: the 1-D kernels' (see GpuKernels.wg). */
export const lossKernels = (rwg: number, wg: number) => ({
  // -log(max(prob[label], FLT_MIN)) summed over the valid labels.
  nll: partialKernel('nll_partial', ['prob', 'label'], labelFields, `${labelOf}
        a -= log(max($prob[base + u32(l) * p.inner], 1.17549435e-38));
      }
    }`, rwg),
  // Correct when fewer than topK classes other than the label score >= the label's score (ties count against it).
  accuracy: partialKernel('accuracy_partial', ['x', 'label'], [...labelFields, ['topK', 'i32']], `${labelOf}
        let v = $x[base + u32(l) * p.inner];
        var higher = -1;
        for (var c = 0u; c < p.channels && higher < p.topK; c++) { if ($x[base + c * p.inner] >= v) { higher++; } }
        if (higher < p.topK) { a += 1.0; }
      }
    }`, rwg),
  // Accuracy's second top: out[k] = the fraction of class k's valid labels that are correct (0 without any); one
  // workgroup per class k (split over x and y), over every position.
  accuracyPerClass: {
    name: 'accuracy_per_class', operands: ['x', 'label', 'out'], fields: [['n', 'u32'], ...labelFields, ['topK', 'i32']],
    workgroup: [rwg, 1, 1], prelude: shared(rwg),
    body: `
  let k = wid.y * nwg.x + wid.x;
  let m = select(0u, p.n, k < p.channels);
  var a = 0.0; var b = 0.0;
  for (var j = lid.x; j < m; j += ${rwg}u) {
    let l = i32($label[j]);
    if (l == i32(k) && (p.hasIgnore == 0u || l != p.ignore)) {
      b += 1.0;
      let base = (j / p.inner) * p.channels * p.inner + j % p.inner;
      let v = $x[base + k * p.inner];
      var higher = -1;
      for (var c = 0u; c < p.channels && higher < p.topK; c++) { if ($x[base + c * p.inner] >= v) { higher++; } }
      if (higher < p.topK) { a += 1.0; }
    }
  }${treeSum(rwg)}
  if (lid.x == 0u && k < p.channels) { $out[k] = select(sa[0] / sb[0], 0.0, sb[0] == 0.0); }`,
  } satisfies KernelDef,
  // dx = (prob - onehot(label)) * topDiff[0] * rnorm[0]; zero at ignored positions. One invocation per element.
  softmaxLossBackward: {
    name: 'softmax_loss_bwd', operands: ['prob', 'label', 'topDiff', 'rnorm', 'dx'],
    fields: [['n', 'u32'], ['channels', 'u32'], ['inner', 'u32'], ['hasIgnore', 'u32'], ['ignore', 'i32']],
    workgroup: [wg, 1, 1],
    body: `
  if (i >= p.n) { return; }
  let c = (i / p.inner) % p.channels;
  let l = i32($label[(i / (p.inner * p.channels)) * p.inner + i % p.inner]);
  var d = 0.0;
  if (p.hasIgnore == 0u || l != p.ignore) { d = ($prob[i] - select(0.0, 1.0, i32(c) == l)) * $topDiff[0] * $rnorm[0]; }
  $dx[i] = d;`,
  } satisfies KernelDef,
});
