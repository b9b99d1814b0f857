// Caffe's Net debug_info (net.cpp ForwardDebugInfo / BackwardDebugInfo and the norms after Backward): the mean absolute
// value of each top blob and parameter after a layer's forward, of each bottom diff and parameter diff after its
// backward, and the L1/L2 norms of all learnable parameters after a backward pass. The solver turns it on for the
// display iterations when its debug_info is set.
import type { Blob } from '../blob/blob.js';
import { fmtG } from '../util/format.js';
import { logger } from '../util/log.js';
import type { Net } from './net.js';

const log = logger('net.cpp:0');

function absMean(a: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]!);
  return a.length ? s / a.length : 0;
}

function sums(b: Blob): { asumData: number; asumDiff: number; sumsqData: number; sumsqDiff: number } {
  let asumData = 0, asumDiff = 0, sumsqData = 0;
  for (const v of b.cpuData) { asumData += Math.abs(v); sumsqData += v * v; }
  for (const v of b.cpuDiff) asumDiff += Math.abs(v);
  return { asumData, asumDiff, sumsqData, sumsqDiff: b.sumsqDiff() };
}

export function forwardDebugInfo(net: Net, li: number): void {
  const name = net.layerNames[li]!;
  net.topVecs[li]!.forEach((t, ti) => {
    log.info(`    [Forward] Layer ${name}, top blob ${net.blobNames[net.topIds[li]![ti]!]} data: ${fmtG(absMean(t.cpuData))}`);
  });
  net.layers[li]!.blobs.forEach((p, pi) => {
    log.info(`    [Forward] Layer ${name}, param blob ${net.paramDisplayNames[net.paramIds[li]![pi]!]} data: ${fmtG(absMean(p.cpuData))}`);
  });
}

export function backwardDebugInfo(net: Net, li: number): void {
  const name = net.layerNames[li]!;
  net.bottomVecs[li]!.forEach((b, bi) => {
    if (!net.bottomNeedBackward[li]![bi]) return;
    log.info(`    [Backward] Layer ${name}, bottom blob ${net.blobNames[net.bottomIds[li]![bi]!]} diff: ${fmtG(absMean(b.cpuDiff))}`);
  });
  const layer = net.layers[li]!;
  layer.blobs.forEach((p, pi) => {
    if (!layer.paramPropagateDown[pi]) return;
    log.info(`    [Backward] Layer ${name}, param blob ${pi} diff: ${fmtG(absMean(p.cpuDiff))}`);
  });
}

export function paramsDebugInfo(net: Net): void {
  let asumData = 0, asumDiff = 0, sumsqData = 0, sumsqDiff = 0;
  for (const p of net.learnableParams) {
    const s = sums(p);
    asumData += s.asumData; asumDiff += s.asumDiff; sumsqData += s.sumsqData; sumsqDiff += s.sumsqDiff;
  }
  log.error(`    [Backward] All net params (data, diff): L1 norm = (${fmtG(asumData)}, ${fmtG(asumDiff)}); ` +
    `L2 norm = (${fmtG(Math.sqrt(sumsqData))}, ${fmtG(Math.sqrt(sumsqDiff))})`);
}
