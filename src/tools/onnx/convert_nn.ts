// Converters for Caffe's layers with learned weights or windows: Convolution, Deconvolution, InnerProduct, Pooling,
// BatchNorm (+ a following Scale folded in), Scale, Bias, PReLU, LRN.
import type {
  BatchNormParameter, BiasParameter, ConvolutionParameter, InnerProductParameter, LayerParameter, LRNParameter,
  PoolingParameter, PReLUParameter, ScaleParameter,
} from '../../proto/types.generated.js';
import { has, paramOf } from '../../proto/caffe.js';
import type { Layer } from '../../layers/layer.js';
import { broadcastShape, canonical, type Converter, type LayerCtx, prod, unmappable, affine } from './context.js';

const MAX = 0, AVE = 1;
const ACROSS_CHANNELS = 0;

function pick(list: readonly number[] | undefined, i: number, dflt: number): number {
  if (!list || list.length === 0) return dflt;
  return list.length === 1 ? list[0]! : list[i]!;
}

function convAttrs(c: LayerCtx) {
  const cp = paramOf<ConvolutionParameter>('ConvolutionParameter', c.layer.param.convolution_param);
  const w = c.layer.blobs[0]!;
  const rank = c.bottomShapes[0]!.length;
  if (rank !== 4 || canonical(cp.axis ?? 1, rank) !== 1) unmappable('only 2-D convolution over axis 1 of an N x C x H x W blob');
  const hw = has(cp, 'stride_h') || has(cp, 'stride_w');
  const strides = hw ? [cp.stride_h ?? 1, cp.stride_w ?? 1] : [pick(cp.stride, 0, 1), pick(cp.stride, 1, 1)];
  const ph = has(cp, 'pad_h') || has(cp, 'pad_w');
  const pads = ph ? [cp.pad_h ?? 0, cp.pad_w ?? 0] : [pick(cp.pad, 0, 0), pick(cp.pad, 1, 0)];
  return {
    kernel_shape: [w.shape[2]!, w.shape[3]!],
    strides,
    pads: [pads[0]!, pads[1]!, pads[0]!, pads[1]!],
    dilations: [pick(cp.dilation, 0, 1), pick(cp.dilation, 1, 1)],
    group: cp.group ?? 1,
  };
}

/** Convolution (Conv) and Deconvolution (ConvTranspose: Caffe's weight layout C_in x C_out/group x kH x kW is ONNX's). */
function convolution(opType: 'Conv' | 'ConvTranspose'): Converter {
  return {
    emit(c) {
      const attrs = convAttrs(c);
      const [w, b] = c.layer.blobs;
      const inputs = [c.g.floats(`${c.layer.name}_W`, w!.shape, w!.data)];
      if (b) inputs.push(c.g.floats(`${c.layer.name}_B`, b.shape, b.data));
      c.bottoms.forEach((x, i) => c.g.node(opType, [x, ...inputs], [c.tops[i]!], attrs));
    },
  };
}

export const convolutionConverter = convolution('Conv');
export const deconvolutionConverter = convolution('ConvTranspose');

export const innerProductConverter: Converter = {
  emit(c) {
    const ip = paramOf<InnerProductParameter>('InnerProductParameter', c.layer.param.inner_product_param);
    const shape = c.bottomShapes[0]!;
    const axis = canonical(ip.axis ?? 1, shape.length);
    const K = prod(shape.slice(axis));
    const [w, b] = c.layer.blobs;
    const N = ip.num_output ?? 0;
    const transpose = ip.transpose ?? false; // Caffe's weights are N x K, or K x N with transpose
    const name = c.layer.name;
    if (axis <= 1) {
      let x = c.bottoms[0]!;
      if (axis === 0) {
        c.fixBatch();
        x = c.g.op('Reshape', [x, c.g.int64s(`${name}_shape`, [1, K])], `${name}_flat`);
      } else if (shape.length !== 2) {
        x = c.g.op('Flatten', [x], `${name}_flat`, { axis: 1 });
      }
      const inputs = [x, c.g.floats(`${name}_W`, w!.shape, w!.data)];
      if (b) inputs.push(c.g.floats(`${name}_B`, [N], b.data));
      if (axis === 1) {
        c.g.node('Gemm', inputs, [c.tops[0]!], { transB: transpose ? 0 : 1 });
      } else {
        const y = c.g.op('Gemm', inputs, `${name}_gemm`, { transB: transpose ? 0 : 1 });
        c.g.node('Reshape', [y, c.g.int64s(`${name}_out_shape`, [N])], [c.tops[0]!]);
      }
      return;
    }
    // axis > 1: the leading axes stay, the rest fold into K; MatMul broadcasts over the leading axes.
    const x = c.g.op('Reshape', [c.bottoms[0]!, c.g.int64s(`${name}_shape`, [0, ...shape.slice(1, axis), K])], `${name}_flat`);
    let wt = w!.data;
    if (!transpose) {
      wt = new Float32Array(K * N);
      for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) wt[k * N + n] = w!.data[n * K + k]!;
    }
    const y = c.g.op('MatMul', [x, c.g.floats(`${name}_Wt`, [K, N], wt)], `${name}_matmul`);
    if (b) c.g.node('Add', [y, c.g.floats(`${name}_B`, [N], b.data)], [c.tops[0]!]);
    else c.g.node('Identity', [y], [c.tops[0]!]);
  },
};

export const poolingConverter: Converter = {
  check(p: LayerParameter) {
    const pp = paramOf<PoolingParameter>('PoolingParameter', p.pooling_param);
    const pool = pp.pool ?? MAX;
    if (pool !== MAX && pool !== AVE) return 'STOCHASTIC pooling has no ONNX equivalent';
    if ((p.top ?? []).length > 1) return 'the second top (the MAX pooling mask) has no ONNX equivalent';
    return undefined;
  },
  emit(c) {
    const pp = paramOf<PoolingParameter>('PoolingParameter', c.layer.param.pooling_param);
    const [x, y] = [c.bottoms[0]!, c.tops[0]!];
    const isMax = (pp.pool ?? MAX) === MAX;
    if (pp.global_pooling) {
      c.g.node(isMax ? 'GlobalMaxPool' : 'GlobalAveragePool', [x], [y]);
      return;
    }
    const k = has(pp, 'kernel_size') ? [pp.kernel_size!, pp.kernel_size!] : [pp.kernel_h ?? 0, pp.kernel_w ?? 0];
    const p = [has(pp, 'pad_h') ? pp.pad_h! : pp.pad ?? 0, has(pp, 'pad_w') ? pp.pad_w! : pp.pad ?? 0];
    const s = [has(pp, 'stride_h') ? pp.stride_h! : pp.stride ?? 1, has(pp, 'stride_w') ? pp.stride_w! : pp.stride ?? 1];
    const inHW = c.bottomShapes[0]!.slice(2), outHW = c.topShapes[0]!.slice(2);
    emitCaffePool(c, x, y, isMax, k, s, p, inHW, outHW);
  },
};

/**
 * A pooling with exactly Caffe's output size and averages: Caffe rounds the output size up, so the last window may
 * overhang; extra bottom/right padding `e` makes ONNX's floor rounding give the same size (e < kernel - pad). MAX
 * ignores padding on both sides. Caffe's AVE divides by the window clipped to the padded image, counting the pad
 * (`pad`) but not the overhang (`e`): with no overhang that is count_include_pad=1; with both, real zero padding
 * (Pad) then an average that excludes the overhang (count_include_pad=0).
 */
function emitCaffePool(c: LayerCtx, x: string, y: string, isMax: boolean, k: number[], s: number[], p: number[],
  inHW: readonly number[], outHW: readonly number[]): void {
  const e = [0, 1].map((i) => (outHW[i]! - 1) * s[i]! + k[i]! - (inHW[i]! + 2 * p[i]!));
  if (e.some((v, i) => v < 0 || v + p[i]! >= k[i]!)) unmappable(`output size ${outHW.join('x')} is not reachable from ${inHW.join('x')}`);
  const attrs = { kernel_shape: k, strides: s };
  const overhang = e[0]! > 0 || e[1]! > 0;
  const padded = [p[0]!, p[1]!, p[0]! + e[0]!, p[1]! + e[1]!];
  if (isMax) {
    c.g.node('MaxPool', [x], [y], { ...attrs, pads: padded });
  } else if (!overhang || (p[0] === 0 && p[1] === 0)) {
    c.g.node('AveragePool', [x], [y], { ...attrs, pads: padded, count_include_pad: overhang ? 0 : 1 });
  } else {
    const pads = c.g.int64s(`${c.layer.name}_pads`, [0, 0, p[0]!, p[1]!, 0, 0, p[0]!, p[1]!]);
    const xp = c.g.op('Pad', [x, pads], `${c.layer.name}_padded`);
    c.g.node('AveragePool', [xp], [y], { ...attrs, pads: [0, 0, e[0]!, e[1]!], count_include_pad: 0 });
  }
}

export const batchNormConverter: Converter = {
  check(p) {
    const bp = paramOf<BatchNormParameter>('BatchNormParameter', p.batch_norm_param);
    if (has(bp, 'use_global_stats') && !bp.use_global_stats) {
      return 'use_global_stats: false normalizes with each batch\'s own statistics; ONNX BatchNormalization uses the stored ones';
    }
    return undefined;
  },
  emit(c) {
    const bp = paramOf<BatchNormParameter>('BatchNormParameter', c.layer.param.batch_norm_param);
    const [mean, variance, factor] = c.layer.blobs;
    // Caffe keeps running sums: the estimates are blob / blob[2] (0 when blob[2] is 0).
    const f = factor!.data[0] === 0 ? 0 : 1 / factor!.data[0]!;
    const C = mean!.count();
    const m = mean!.data.map((v) => v * f), v = variance!.data.map((v) => v * f);
    const { gamma, beta } = foldedScale(c.fused, C);
    const name = c.layer.name;
    c.g.node('BatchNormalization', [
      c.bottoms[0]!, c.g.floats(`${name}_scale`, [C], gamma), c.g.floats(`${name}_bias`, [C], beta),
      c.g.floats(`${name}_mean`, [C], m), c.g.floats(`${name}_var`, [C], v),
    ], [c.tops[0]!], { epsilon: { float: bp.eps ?? 1e-5 } });
  },
};

/** Whether `scale` (the layer after a BatchNorm, reading only its output) can fold into BatchNormalization. */
export function canFoldScale(scale: Layer): boolean {
  const sp = paramOf<ScaleParameter>('ScaleParameter', scale.param.scale_param);
  return scale.type === 'Scale' && (scale.param.bottom ?? []).length === 1 && (sp.axis ?? 1) === 1 && (sp.num_axes ?? 1) === 1;
}

function foldedScale(scale: Layer | undefined, C: number): { gamma: Float32Array; beta: Float32Array } {
  if (!scale) return { gamma: new Float32Array(C).fill(1), beta: new Float32Array(C) };
  const [g, b] = scale.blobs;
  return { gamma: g!.data, beta: b ? b.data : new Float32Array(C) };
}

/**
 * Scale (Mul) and Bias (Add): the parameter is a learned blob or bottom[1], shaped like the bottom's axes
 * [axis, axis + num_axes); reshaped with trailing ones so numpy broadcasting lines it up.
 */
function broadcastOp(opType: 'Mul' | 'Add'): Converter {
  return {
    emit(c) {
      const lp = c.layer.param;
      const sp = opType === 'Mul'
        ? paramOf<ScaleParameter>('ScaleParameter', lp.scale_param)
        : paramOf<BiasParameter>('BiasParameter', lp.bias_param);
      const rank = c.bottomShapes[0]!.length;
      const axis = canonical(sp.axis ?? 1, rank);
      const name = c.layer.name;
      let v: string;
      if (c.bottoms.length > 1) {
        const dims = c.bottomShapes[1]!;
        const shape = broadcastShape(dims, axis, rank);
        if (axis === 0) shape[0] = 0; // Reshape's 0 copies the batch size
        v = c.g.op(opType, [c.bottoms[0]!, c.g.op('Reshape', [c.bottoms[1]!, c.g.int64s(`${name}_shape`, shape)], `${name}_param`)], `${name}_${opType}`);
      } else {
        const p = c.layer.blobs[0]!;
        if (axis === 0) c.fixBatch();
        v = c.g.op(opType, [c.bottoms[0]!, c.g.floats(`${name}_param`, broadcastShape(p.shape, axis, rank), p.data)], `${name}_${opType}`);
      }
      const withBias = opType === 'Mul' && ((sp as ScaleParameter).bias_term ?? false);
      if (withBias) {
        const bias = c.layer.blobs[c.layer.blobs.length - 1]!;
        if (axis === 0) c.fixBatch();
        v = c.g.op('Add', [v, c.g.floats(`${name}_bias`, broadcastShape(bias.shape, axis, rank), bias.data)], `${name}_biased`);
      }
      c.g.node('Identity', [v], [c.tops[0]!]);
    },
  };
}

export const scaleConverter = broadcastOp('Mul');
export const biasConverter = broadcastOp('Add');

export const preluConverter: Converter = {
  emit(c) {
    const pp = paramOf<PReLUParameter>('PReLUParameter', c.layer.param.prelu_param);
    const slope = c.layer.blobs[0]!;
    const rank = c.bottomShapes[0]!.length;
    const shape = pp.channel_shared ? [1] : broadcastShape(slope.shape, 1, rank);
    c.g.node('PRelu', [c.bottoms[0]!, c.g.floats(`${c.layer.name}_slope`, shape, slope.data)], [c.tops[0]!]);
  },
};

export const lrnConverter: Converter = {
  emit(c) {
    const lp = paramOf<LRNParameter>('LRNParameter', c.layer.param.lrn_param);
    const size = lp.local_size ?? 5, alpha = lp.alpha ?? 1, beta = lp.beta ?? 0.75;
    const [x, y] = [c.bottoms[0]!, c.tops[0]!];
    if ((lp.norm_region ?? ACROSS_CHANNELS) === ACROSS_CHANNELS) {
      c.g.node('LRN', [x], [y], { size, alpha: { float: alpha }, beta: { float: beta }, bias: { float: lp.k ?? 1 } });
      return;
    }
    // WITHIN_CHANNEL, as Caffe composes it: x * (1 + alpha * avgpool(x^2, size, pad (size-1)/2))^-beta.
    const name = c.layer.name;
    const pad = (size - 1) >> 1;
    const sq = c.g.op('Mul', [x, x], `${name}_sq`);
    const hw = c.bottomShapes[0]!.slice(2);
    const avg = c.g.fresh(`${name}_avg`);
    emitCaffePool(c, sq, avg, false, [size, size], [1, 1], [pad, pad], hw, hw);
    const denom = c.g.op('Pow', [affine(c, avg, alpha, 1), c.g.scalar(`${name}_power`, -beta)], `${name}_pow`);
    c.g.node('Mul', [x, denom], [y]);
  },
};
