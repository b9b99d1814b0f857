// Caffe's LossParameter normalization modes and LossLayer::GetNormalizer. No imports: the CPU loss layers
// (loss_util.ts) and the WebGPU loss kernels (backend/webgpu/kernels.ts) share it.
export const FULL = 0;
export const VALID = 1;
export const BATCH_SIZE = 2;
export const NONE = 3;

/** Caffe's LossLayer::GetNormalizer: never below 1. validCount -1: no ignore_label, every position counts. */
export function normalizer(mode: number, outer: number, inner: number, validCount: number): number {
  let n: number;
  switch (mode) {
    case FULL: n = outer * inner; break;
    case VALID: n = validCount === -1 ? outer * inner : validCount; break;
    case BATCH_SIZE: n = outer; break;
    case NONE: n = 1; break;
    default: throw new Error(`unknown loss normalization mode ${mode}`);
  }
  return Math.max(1, n);
}
