// The layer cases shared by the backend comparisons (layers_backends.test.ts: ts vs wasm; layers_webgpu.test.ts: ts vs
// the WebGPU device paths): every registered layer type on odd sizes (N=3 then N=2 after a reshape, C=5, H=7, W=9), with
// seeded inputs, weights and top gradients; runCase returns every top, bottom gradient, parameter and parameter
// gradient. File-based sources: Data reads a copy of the test LMDB, ImageData and HDF5Data files written by
// prepareCaseFiles; HDF5Output writes a scratch file.
import { writeFileSync } from 'node:fs';
import { PNG } from 'pngjs';
import assert from 'node:assert/strict';
import path from 'node:path';
import { backend, createBackend, setBackend, type Backend } from '../src/backend/backend.js';
import { createWasmBackend, type WasmBackend } from '../src/backend/wasm/index.js';
import { Blob } from '../src/blob/blob.js';
import { createLayer, layerTypes } from '../src/layers/layer.js';
import '../src/layers/index.js';
import { parseTextProto } from '../src/proto/textformat.js';
import type { LayerParameter } from '../src/proto/types.generated.js';
import { setQuiet } from '../src/util/log.js';
import { setRandomSeed } from '../src/util/rng.js';
import { loadHdf5, writeFloatDataset, writeHdf5Atomic } from '../src/io/hdf5.js';
import { copyVector, removeDir } from './helpers.js';
import type { WebGpuDevice } from '../src/backend/webgpu/gpu_device.js';
import { backwardLayerOnDevice, forwardLayerOnDevice, syncBlobsToHost } from '../src/net/device_pass.js';

/** How a bottom is filled: uniform in [-1, 1), in [0.5, 2), in [0, 1), 0/1, or integer labels in [0, classes). */
type Kind = 'u' | 'pos' | 'prob' | 'bin' | 'lab';
interface Input { shape: number[]; kind: Kind; classes?: number; noGrad?: boolean }
const u = (...shape: number[]): Input => ({ shape, kind: 'u' });
const pos = (...shape: number[]): Input => ({ shape, kind: 'pos' });
const prob = (...shape: number[]): Input => ({ shape, kind: 'prob' });
const bin = (...shape: number[]): Input => ({ shape, kind: 'bin', noGrad: true });
const lab = (classes: number, ...shape: number[]): Input => ({ shape, kind: 'lab', classes, noGrad: true });
/** An input that gets no gradient (targets, reference shapes, the infogain matrix). */
const ng = (i: Input): Input => ({ ...i, noGrad: true });

export interface Case {
  /** LayerParameter text (name added); its `type` is the registered type the case covers. */
  proto: string;
  /** Bottoms for batch size n (run with n = 3, then reshaped to n = 2). */
  bottoms: (n: number) => Input[];
  tops?: number;
  /** Top 0 is bottom 0 (in-place computation). */
  inPlace?: boolean;
  /** No backward pass (the layer has no gradient, as in Caffe). */
  noBackward?: boolean;
  /** Refill the parameter blobs after setup with values in [lo, hi) (e.g. BatchNorm's statistics). */
  params?: [number, number];
  /** On the two-thread backend at least one GEMM must be split over the threads. */
  parallel?: boolean;
  /** The bottom gradients are zero by definition (Silence). */
  zeroGrad?: boolean;
}

export const N = 3, C = 5, H = 7, W = 9;
const F = 'weight_filler { type: "gaussian" std: 0.3 } bias_filler { type: "gaussian" std: 0.3 }';
const img = (c = C, h = H, w = W) => (n: number) => [u(n, c, h, w)];

export const CASES: Case[] = [
  // Vision layers: pad, stride, dilation, group, rectangular kernels, the offset-table path (no padding), the padded
  // path, and images big enough for the GEMMs to be split over two threads.
  { proto: `type: "Convolution" convolution_param { num_output: 7 kernel_size: 3 ${F} }`, bottoms: img() },
  { proto: `type: "Convolution" convolution_param { num_output: 6 kernel_size: 3 pad: 1 stride: 2 ${F} }`, bottoms: img() },
  { proto: `type: "Convolution" convolution_param { num_output: 3 kernel_h: 2 kernel_w: 3 dilation: 2 pad: 2 ${F} }`, bottoms: img() },
  { proto: `type: "Convolution" convolution_param { num_output: 9 kernel_size: 3 pad: 1 group: 3 ${F} }`, bottoms: img(6) },
  { proto: `type: "Convolution" convolution_param { num_output: 5 kernel_size: 1 bias_term: false ${F} }`, bottoms: img() },
  { proto: `type: "Convolution" convolution_param { num_output: 4 kernel_h: 3 kernel_w: 4 pad_h: 1 pad_w: 0 stride_h: 3 stride_w: 2 ${F} }`, bottoms: img() },
  { proto: `type: "Convolution" convolution_param { num_output: 5 kernel_size: 3 group: 5 stride: 2 dilation: 3 ${F} }`, bottoms: img() },
  { proto: `type: "Convolution" convolution_param { num_output: 4 kernel_size: 2 ${F} }`, bottoms: (n) => [u(n, C, H, W), u(n, C, H, W)], tops: 2 },
  { proto: `type: "Convolution" convolution_param { num_output: 16 kernel_size: 3 pad: 1 ${F} }`, bottoms: img(C, 27, 29), parallel: true },
  { proto: `type: "Convolution" convolution_param { num_output: 17 kernel_size: 3 group: 1 ${F} }`, bottoms: img(C, 27, 29), parallel: true },
  { proto: `type: "Convolution" convolution_param { num_output: 12 kernel_size: 3 pad: 1 group: 2 ${F} }`, bottoms: img(6, 27, 29), parallel: true },
  { proto: `type: "Deconvolution" convolution_param { num_output: 4 kernel_size: 3 stride: 2 ${F} }`, bottoms: img() },
  { proto: `type: "Deconvolution" convolution_param { num_output: 5 kernel_size: 4 stride: 2 pad: 1 group: 5 ${F} }`, bottoms: img() },
  { proto: `type: "Deconvolution" convolution_param { num_output: 3 kernel_h: 3 kernel_w: 2 dilation: 2 bias_term: false ${F} }`, bottoms: img() },
  { proto: `type: "Deconvolution" convolution_param { num_output: 6 kernel_size: 3 stride: 2 pad: 1 ${F} }`, bottoms: img(8, 13, 15), parallel: true },
  { proto: 'type: "Pooling" pooling_param { pool: MAX kernel_size: 3 stride: 2 }', bottoms: img() },
  { proto: 'type: "Pooling" pooling_param { pool: MAX kernel_size: 2 stride: 2 }', bottoms: img(C, H, 29) },
  { proto: 'type: "Pooling" pooling_param { pool: MAX kernel_h: 2 kernel_w: 3 stride_h: 1 stride_w: 2 pad_h: 1 pad_w: 1 }', bottoms: img(), tops: 2 },
  { proto: 'type: "Pooling" pooling_param { pool: MAX kernel_size: 3 stride: 3 pad: 1 }', bottoms: img(C, 11, 29) },
  { proto: 'type: "Pooling" pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 }', bottoms: img() },
  { proto: 'type: "Pooling" pooling_param { pool: AVE kernel_h: 3 kernel_w: 2 stride: 1 }', bottoms: img() },
  { proto: 'type: "Pooling" pooling_param { pool: AVE global_pooling: true }', bottoms: img() },
  { proto: 'type: "Pooling" pooling_param { pool: MAX global_pooling: true }', bottoms: img() },
  { proto: `type: "InnerProduct" inner_product_param { num_output: 7 ${F} }`, bottoms: img() },
  { proto: `type: "InnerProduct" inner_product_param { num_output: 6 transpose: true ${F} }`, bottoms: img() },
  { proto: `type: "InnerProduct" inner_product_param { num_output: 3 axis: 2 ${F} }`, bottoms: img() },
  { proto: `type: "InnerProduct" inner_product_param { num_output: 5 bias_term: false transpose: true axis: -1 ${F} }`, bottoms: img() },
  { proto: `type: "InnerProduct" inner_product_param { num_output: 67 ${F} }`, bottoms: img(C, 13, 27), parallel: true },
  { proto: `type: "InnerProduct" inner_product_param { num_output: 67 transpose: true ${F} }`, bottoms: img(C, 13, 27), parallel: true },
  // Neurons
  { proto: 'type: "ReLU"', bottoms: img() },
  { proto: 'type: "ReLU" relu_param { negative_slope: 0.1 }', bottoms: img() },
  { proto: 'type: "ReLU" relu_param { negative_slope: 0.3 }', bottoms: img(), inPlace: true },
  { proto: 'type: "Sigmoid"', bottoms: img() },
  { proto: 'type: "TanH"', bottoms: img(), inPlace: true },
  { proto: 'type: "AbsVal"', bottoms: img() },
  { proto: 'type: "BNLL"', bottoms: img() },
  { proto: 'type: "ELU" elu_param { alpha: 0.5 }', bottoms: img(), inPlace: true },
  { proto: 'type: "Exp" exp_param { base: 2 scale: 0.5 shift: 0.1 }', bottoms: img() },
  { proto: 'type: "Exp"', bottoms: img(), inPlace: true },
  { proto: 'type: "Log" log_param { base: 10 scale: 2 shift: 1 }', bottoms: (n) => [pos(n, C, H, W)] },
  { proto: 'type: "Log"', bottoms: (n) => [pos(n, C, H, W)] },
  { proto: 'type: "Power" power_param { power: 2 scale: 0.5 shift: 1 }', bottoms: img() },
  { proto: 'type: "Power" power_param { power: 0.5 scale: 1.5 shift: 2 }', bottoms: img() },
  { proto: 'type: "Threshold" threshold_param { threshold: 0.2 }', bottoms: img(), noBackward: true },
  { proto: 'type: "Swish" swish_param { beta: 1.3 }', bottoms: img() },
  { proto: 'type: "Clip" clip_param { min: -0.5 max: 0.4 }', bottoms: img() },
  { proto: 'type: "PReLU" prelu_param { filler { type: "uniform" min: 0.1 max: 0.9 } }', bottoms: img() },
  { proto: 'type: "PReLU" prelu_param { channel_shared: true }', bottoms: img(), inPlace: true },
  { proto: 'type: "Dropout" dropout_param { dropout_ratio: 0.3 } phase: TRAIN', bottoms: img() },
  { proto: 'type: "Dropout" phase: TRAIN', bottoms: img(), inPlace: true },
  { proto: 'type: "Dropout" phase: TEST', bottoms: img() },
  { proto: 'type: "Bias" bias_param { filler { type: "gaussian" std: 1 } }', bottoms: img() },
  { proto: 'type: "Bias" bias_param { axis: 1 num_axes: 2 filler { type: "gaussian" std: 1 } }', bottoms: img(), inPlace: true },
  { proto: 'type: "Bias" bias_param { axis: 2 }', bottoms: (n) => [u(n, C, H, W), u(H, W)] },
  { proto: 'type: "Scale" scale_param { filler { type: "gaussian" std: 1 } bias_term: true bias_filler { type: "gaussian" std: 1 } }', bottoms: img() },
  { proto: 'type: "Scale" scale_param { axis: 1 num_axes: -1 filler { type: "gaussian" std: 1 } }', bottoms: img() },
  { proto: 'type: "Scale" scale_param { filler { type: "gaussian" std: 1 } bias_term: true }', bottoms: img(), inPlace: true },
  { proto: 'type: "Scale" scale_param { bias_term: true bias_filler { type: "gaussian" std: 1 } }', bottoms: (n) => [u(n, C, H, W), u(C, H)] },
  { proto: 'type: "Embed" embed_param { num_output: 5 input_dim: 11 weight_filler { type: "gaussian" std: 1 } bias_filler { type: "gaussian" std: 1 } }', bottoms: (n) => [lab(11, n, 7)] },
  { proto: 'type: "Embed" embed_param { num_output: 3 input_dim: 7 bias_term: false weight_filler { type: "gaussian" std: 1 } }', bottoms: (n) => [lab(7, n, 3, 3)] },
  // Normalization
  { proto: 'type: "LRN" lrn_param { local_size: 3 alpha: 0.5 beta: 0.75 k: 2 }', bottoms: img() },
  { proto: 'type: "LRN" lrn_param { local_size: 5 }', bottoms: img() },
  { proto: 'type: "LRN" lrn_param { local_size: 3 alpha: 2 beta: 0.5 norm_region: WITHIN_CHANNEL }', bottoms: img() },
  { proto: 'type: "BatchNorm" phase: TRAIN', bottoms: img() },
  { proto: 'type: "BatchNorm" phase: TRAIN', bottoms: img(), inPlace: true },
  { proto: 'type: "LRN" lrn_param { local_size: 3 alpha: 0.5 beta: 0.75 k: 2 }', bottoms: img(), inPlace: true },
  { proto: 'type: "BatchNorm" batch_norm_param { use_global_stats: true eps: 0.001 }', bottoms: img(), params: [0.5, 1.5] },
  { proto: 'type: "BatchNorm" batch_norm_param { moving_average_fraction: 0.9 } phase: TRAIN', bottoms: (n) => [u(n, C)] },
  { proto: 'type: "MVN"', bottoms: img() },
  { proto: 'type: "MVN" mvn_param { normalize_variance: false }', bottoms: img() },
  { proto: 'type: "MVN" mvn_param { across_channels: true eps: 0.01 }', bottoms: img() },
  { proto: 'type: "MVN"', bottoms: img(), inPlace: true },
  { proto: 'type: "Softmax"', bottoms: img() },
  { proto: 'type: "Softmax" softmax_param { axis: -1 }', bottoms: img() },
  { proto: 'type: "Softmax" softmax_param { axis: 2 }', bottoms: img() },
  // Shape and routing
  { proto: 'type: "Eltwise" eltwise_param { coeff: 0.5 coeff: -2 coeff: 1.5 }', bottoms: (n) => [u(n, C, H, W), u(n, C, H, W), u(n, C, H, W)] },
  { proto: 'type: "Eltwise" eltwise_param { operation: PROD }', bottoms: (n) => [u(n, C, H, W), u(n, C, H, W), u(n, C, H, W)] },
  { proto: 'type: "Eltwise" eltwise_param { operation: PROD stable_prod_grad: false }', bottoms: (n) => [pos(n, C, H, W), pos(n, C, H, W)] },
  { proto: 'type: "Eltwise" eltwise_param { operation: MAX }', bottoms: (n) => [u(n, C, H, W), u(n, C, H, W), u(n, C, H, W)] },
  { proto: 'type: "Concat"', bottoms: (n) => [u(n, 2, H, W), u(n, C, H, W), u(n, 1, H, W)] },
  { proto: 'type: "Concat" concat_param { axis: 0 }', bottoms: (n) => [u(n, C, H), u(2, C, H)] },
  { proto: 'type: "Concat" concat_param { axis: -1 }', bottoms: (n) => [u(n, C, H, 3), u(n, C, H, W)] },
  { proto: 'type: "Slice" slice_param { slice_point: 2 slice_point: 3 }', bottoms: img(), tops: 3 },
  { proto: 'type: "Slice" slice_param { axis: -1 }', bottoms: img(), tops: 3 },
  { proto: 'type: "Split"', bottoms: img(), tops: 3 },
  { proto: 'type: "Flatten"', bottoms: img() },
  { proto: 'type: "Flatten" flatten_param { axis: 1 end_axis: 2 }', bottoms: img() },
  { proto: 'type: "Reshape" reshape_param { shape { dim: 0 dim: -1 dim: 9 } }', bottoms: img() },
  { proto: 'type: "Reshape" reshape_param { shape { dim: 7 dim: 3 } axis: 2 num_axes: -1 }', bottoms: (n) => [u(n, C, H, 3)] },
  { proto: 'type: "Crop" crop_param { axis: 2 offset: 1 offset: 2 }', bottoms: (n) => [u(n, C, H, W), ng(u(1, 1, 4, 5))] },
  { proto: 'type: "Crop" crop_param { axis: 1 offset: 1 offset: 0 offset: 3 }', bottoms: (n) => [u(n, C, H, W), ng(u(n, 3, 5, 5))] },
  { proto: 'type: "Tile" tile_param { tiles: 3 }', bottoms: img() },
  { proto: 'type: "Tile" tile_param { axis: -1 tiles: 2 }', bottoms: img() },
  { proto: 'type: "Reduction"', bottoms: img() },
  { proto: 'type: "Reduction" reduction_param { operation: ASUM axis: 1 }', bottoms: img() },
  { proto: 'type: "Reduction" reduction_param { operation: SUMSQ axis: 2 coeff: -0.5 }', bottoms: img() },
  { proto: 'type: "Reduction" reduction_param { operation: MEAN axis: -1 coeff: 2 }', bottoms: img() },
  { proto: 'type: "Silence"', bottoms: (n) => [u(n, C, H, W), u(n, 3)], tops: 0, zeroGrad: true },
  { proto: 'type: "ArgMax" argmax_param { out_max_val: true top_k: 2 }', bottoms: (n) => [u(n, C, 3)], noBackward: true },
  { proto: 'type: "ArgMax" argmax_param { axis: 1 top_k: 3 }', bottoms: img(), noBackward: true },
  // Ties (few distinct values): the larger index wins, as Caffe's sort of (value, index) pairs.
  { proto: 'type: "ArgMax" argmax_param { top_k: 5 }', bottoms: (n) => [lab(3, n, 2, 4)], noBackward: true },
  { proto: 'type: "ArgMax" argmax_param { axis: -1 top_k: 3 }', bottoms: (n) => [lab(3, n, C, 6)], noBackward: true },
  // Losses and accuracy (labels get no gradient)
  { proto: 'type: "SoftmaxWithLoss"', bottoms: (n) => [u(n, C, H, W), lab(C, n, H, W)] },
  { proto: 'type: "SoftmaxWithLoss" loss_param { ignore_label: 2 normalization: VALID }', bottoms: (n) => [u(n, C, H, W), lab(C, n, H, W)], tops: 2 },
  { proto: 'type: "SoftmaxWithLoss" loss_param { normalization: BATCH_SIZE } softmax_param { axis: -1 }', bottoms: (n) => [u(n, C, W), lab(W, n, C)] },
  { proto: 'type: "Accuracy"', bottoms: (n) => [u(n, C), lab(C, n)], noBackward: true },
  { proto: 'type: "Accuracy" accuracy_param { top_k: 2 ignore_label: 1 }', bottoms: (n) => [u(n, C, H, W), lab(C, n, H, W)], tops: 2, noBackward: true },
  { proto: 'type: "EuclideanLoss"', bottoms: (n) => [u(n, C, H), u(n, C, H)] },
  { proto: 'type: "EuclideanLoss" loss_weight: 2.5', bottoms: (n) => [u(n, C * H), u(n, C * H)] },
  { proto: 'type: "HingeLoss"', bottoms: (n) => [u(n, C, H), lab(C * H, n)] },
  { proto: 'type: "HingeLoss" hinge_loss_param { norm: L2 }', bottoms: (n) => [u(n, C), lab(C, n)] },
  { proto: 'type: "ContrastiveLoss" contrastive_loss_param { margin: 2 }', bottoms: (n) => [u(n, C, 1, 1), u(n, C, 1, 1), bin(n, 1, 1, 1)] },
  { proto: 'type: "ContrastiveLoss" contrastive_loss_param { margin: 1.5 legacy_version: true }', bottoms: (n) => [u(n, C), u(n, C), bin(n)] },
  { proto: 'type: "InfogainLoss"', bottoms: (n) => [u(n, C), lab(C, n), ng(pos(C, C))] },
  { proto: 'type: "InfogainLoss" loss_param { ignore_label: 3 }', bottoms: (n) => [u(n, C, 3, 3), lab(C, n, 3, 3), ng(pos(1, 1, C, C))], tops: 2 },
  { proto: 'type: "SigmoidCrossEntropyLoss"', bottoms: (n) => [u(n, C, H), ng(prob(n, C, H))] },
  { proto: 'type: "SigmoidCrossEntropyLoss" loss_param { normalization: BATCH_SIZE }', bottoms: (n) => [u(n, C, H, W), bin(n, C, H, W)] },
  // big enough for the device's loss sum to take several workgroups; half the targets ignored
  { proto: 'type: "SigmoidCrossEntropyLoss" loss_param { ignore_label: 1 normalization: VALID }', bottoms: (n) => [u(n, 40, 35), bin(n, 40, 35)] },
  // Sources: no bottoms, one pass per batch; the Data layer reads a scratch copy of the test LMDB.
  { proto: 'type: "Input" input_param { shape { dim: 3 dim: 5 dim: 7 } }', bottoms: () => [] },
  { proto: 'type: "DummyData" dummy_data_param { shape { dim: 3 dim: 5 dim: 7 } shape { dim: 9 } data_filler { type: "gaussian" std: 2 } data_filler { type: "constant" value: 0.5 } }', bottoms: () => [], tops: 2 },
  { proto: 'type: "Parameter" parameter_param { shape { dim: 5 dim: 7 } }', bottoms: () => [], params: [-1, 1] },
  { proto: 'type: "Data" phase: TEST data_param { source: "$LMDB" batch_size: 3 backend: LMDB } transform_param { crop_size: 11 scale: 0.0039 mean_value: 33 }', bottoms: () => [], tops: 2 },
  { proto: 'type: "ImageData" phase: TEST image_data_param { source: "$IMAGES" batch_size: 3 new_height: 9 new_width: 7 } transform_param { crop_size: 5 scale: 0.0039 mean_value: 33 mean_value: 40 mean_value: 50 }', bottoms: () => [], tops: 2 },
  { proto: 'type: "HDF5Data" top: "data" top: "label" hdf5_data_param { source: "$HDF5" batch_size: 3 }', bottoms: () => [], tops: 2 },
  { proto: 'type: "HDF5Output" bottom: "d" bottom: "l" hdf5_output_param { file_name: "$H5OUT" }', bottoms: (n) => [u(n, C, H), lab(C, n)], tops: 0, noBackward: true },
];

export const typeOf = (c: Case) => /type: "(\w+)"/.exec(c.proto)![1]!;

let lmdb = '';
let images = '';
let h5list = '';
/** Writes the files the source layers' cases read; call from `before`, and removeCaseFiles from `after`. */
export async function prepareCaseFiles(): Promise<void> {
  setQuiet(true);
  lmdb = copyVector('mnist_test64_lmdb');
  // four small colour PNGs for the ImageData case
  for (let k = 0; k < 4; k++) {
    const png = new PNG({ width: 11, height: 6 });
    for (let i = 0; i < png.data.length; i++) png.data[i] = i % 4 === 3 ? 255 : (i * 37 + k * 11) % 256;
    writeFileSync(path.join(path.dirname(lmdb), `img${k}.png`), PNG.sync.write(png, { colorType: 2 }));
  }
  images = path.join(path.dirname(lmdb), 'images.txt');
  writeFileSync(images, [0, 1, 2, 3].map((k) => `${path.join(path.dirname(lmdb), `img${k}.png`)} ${k}`).join('\n'));
  // two HDF5 files of 2 and 3 items (5 x 7 each) for the HDF5Data case: its batches of 3 cross files and wrap around
  await loadHdf5();
  const h5 = (k: number, n: number) => {
    const file = path.join(path.dirname(lmdb), `d${k}.h5`);
    writeHdf5Atomic(file, (f) => {
      writeFloatDataset(f, 'data', [n, 5, 7], Float32Array.from({ length: n * 35 }, (_, i) => Math.sin(i + 100 * k)));
      writeFloatDataset(f, 'label', [n], Float32Array.from({ length: n }, (_, i) => i + 10 * k));
    });
    return file;
  };
  h5list = path.join(path.dirname(lmdb), 'h5list.txt');
  writeFileSync(h5list, `${h5(0, 2)}\n${h5(1, 3)}\n`);
}
export function removeCaseFiles(): void {
  removeDir(path.dirname(lmdb)); // the scratch folder copyVector made
}

let seed = 1;
function rand(): number {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
  return (seed >>> 8) / 16777216;
}
function fillInput(b: Blob, inp: Input): void {
  const d = b.data;
  for (let i = 0; i < d.length; i++) {
    const r = rand();
    d[i] = inp.kind === 'u' ? 2 * r - 1 : inp.kind === 'pos' ? 0.5 + 1.5 * r : inp.kind === 'prob' ? r
      : inp.kind === 'bin' ? (r < 0.5 ? 0 : 1) : Math.floor(r * inp.classes!);
  }
}

export interface Result { what: string; shape: readonly number[]; values: Float32Array }

/**
 * Set up and run one case under `be` (passes with N = 3, then 2): everything the layer computed, copied out. With `gpu`,
 * the passes run as a device net runs them (device paths where the layer has them), the host parts on `be`.
 */
export async function runCase(c: Case, be: Backend, gpu?: WebGpuDevice): Promise<Result[]> {
  const prev = backend();
  const lossBuffer = gpu?.kernels.createBuffer(1);
  setBackend(be); // blobs allocate through the active backend: make the layer and blobs after switching
  const out: Result[] = [];
  const keep = (what: string, b: Blob, diff: boolean) =>
    out.push({ what, shape: [...b.shape], values: Float32Array.from(diff ? b.diff : b.data) });
  try {
    seed = 12345;
    setRandomSeed(1701); // fillers
    const layer = createLayer(parseTextProto<LayerParameter>(`name: "l" ${c.proto.replace('$LMDB', lmdb).replace('$IMAGES', images).replace('$HDF5', h5list).replace('$H5OUT', path.join(path.dirname(lmdb), 'out.h5'))}`, 'LayerParameter'));
    await layer.init();
    try {
      const specs = c.bottoms(N);
      const bottom = specs.map((s) => new Blob(s.shape));
      const top = c.inPlace ? [bottom[0]!] : Array.from({ length: c.tops ?? 1 }, () => new Blob());
      bottom.forEach((b, i) => fillInput(b, specs[i]!));
      layer.setUp(bottom, top);
      const probe = top[0] ?? bottom[0];
      if ('inMemory' in be && probe) assert.ok((be as WasmBackend).inMemory(probe.data), 'blobs were not allocated in wasm memory');
      if (c.params) for (const p of layer.blobs) for (let i = 0; i < p.count(); i++) p.data[i] = c.params[0] + rand() * (c.params[1] - c.params[0]);
      layer.blobs.forEach((p, i) => keep(`param ${i} after setup`, p, false));
      for (const n of [N, 2]) {
        if (n !== N) {
          const s2 = c.bottoms(n);
          bottom.forEach((b, i) => { b.reshape(s2[i]!.shape); fillInput(b, s2[i]!); });
        }
        setRandomSeed(7 + n); // Dropout's mask, DummyData's fillers
        await layer.prefetch();
        if (gpu) {
          await forwardLayerOnDevice(layer, bottom, top, gpu, lossBuffer!, false);
          await syncBlobsToHost([...top, ...layer.blobs]);
        } else layer.forwardWithLoss(bottom, top);
        top.forEach((t, i) => keep(`N=${n} top ${i}`, t, false));
        if (!c.noBackward) {
          // Stale values in the bottom gradients first: backward must overwrite them the same way under every backend.
          bottom.forEach((b) => { for (let k = 0; k < b.count(); k++) b.diff[k] = 10 * rand(); });
          // Loss tops keep their loss weight as the gradient (as in a net); the others get a seeded gradient.
          top.forEach((t, i) => {
            if (layer.lossWeights[i]) t.diff.fill(layer.lossWeights[i]!);
            else for (let k = 0; k < t.count(); k++) t.diff[k] = 2 * rand() - 1;
          });
          for (const p of layer.blobs) p.diff.fill(0);
          const propagate = specs.map((s) => !s.noGrad);
          if (gpu) {
            await backwardLayerOnDevice(layer, top, propagate, bottom, gpu);
            await syncBlobsToHost([...bottom, ...layer.blobs]);
          } else layer.backward(top, propagate, bottom);
          bottom.forEach((b, i) => { if (propagate[i]) keep(`N=${n} bottom ${i} diff`, b, true); });
          layer.blobs.forEach((p, i) => keep(`N=${n} param ${i} diff`, p, true));
        }
        layer.blobs.forEach((p, i) => keep(`N=${n} param ${i}`, p, false)); // BatchNorm's running statistics
      }
    } finally {
      await layer.close();
    }
  } finally {
    setBackend(prev);
  }
  return out;
}

/** |got - want| <= 1e-4 (|want| + max |want| over the array): relative, with a floor at the array's scale. */
export function compare(got: Result[], want: Result[], label: string): void {
  assert.deepEqual(got.map((r) => r.what), want.map((r) => r.what), `${label}: different results`);
  want.forEach((w, k) => {
    const g = got[k]!;
    assert.deepEqual(g.shape, w.shape, `${label} ${w.what}: shape`);
    let scale = 0;
    for (const v of w.values) if (Number.isFinite(v)) scale = Math.max(scale, Math.abs(v));
    for (let i = 0; i < w.values.length; i++) {
      const a = g.values[i]!, b = w.values[i]!;
      if (Number.isNaN(a) && Number.isNaN(b)) continue;
      if (!(a === b || Math.abs(a - b) <= 1e-4 * (Math.abs(b) + scale))) {
        assert.fail(`${label} ${w.what} [${i}] of shape [${w.shape.join(',')}]: ${a} vs reference ${b}`);
      }
    }
  });
}

