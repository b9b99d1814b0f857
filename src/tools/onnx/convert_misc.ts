// Converters for Caffe's weightless layers: neurons (elementwise functions), Softmax, Concat, Eltwise, and the layers
// that only move data (Dropout at inference, Split, Flatten, Reshape, Slice, Tile, Crop, Silence).
import type {
  ClipParameter, ConcatParameter, CropParameter, EltwiseParameter, ELUParameter, ExpParameter, FlattenParameter,
  LogParameter, PowerParameter, ReLUParameter, ReshapeParameter, SliceParameter, SoftmaxParameter, SwishParameter,
  ThresholdParameter, TileParameter,
} from '../../proto/types.generated.js';
import { has, paramOf } from '../../proto/caffe.js';
import { affine, canonical, type Converter, type LayerCtx, unmappable, writeTop } from './context.js';

const PROD = 0, SUM = 1, MAX = 2;
const FLOAT = 1; // TensorProto.DataType.FLOAT, for Cast

/** A one-node elementwise map bottom -> top. */
function unary(opType: string, attrs: (c: LayerCtx) => Record<string, number | { float: number }> = () => ({})): Converter {
  return { emit: (c) => c.g.node(opType, [c.bottoms[0]!], [c.tops[0]!], attrs(c)) };
}

export const reluConverter: Converter = {
  emit(c) {
    const slope = paramOf<ReLUParameter>('ReLUParameter', c.layer.param.relu_param).negative_slope ?? 0;
    if (slope === 0) c.g.node('Relu', [c.bottoms[0]!], [c.tops[0]!]);
    else c.g.node('LeakyRelu', [c.bottoms[0]!], [c.tops[0]!], { alpha: { float: slope } });
  },
};

export const eluConverter = unary('Elu', (c) => ({ alpha: { float: paramOf<ELUParameter>('ELUParameter', c.layer.param.elu_param).alpha ?? 1 } }));
export const sigmoidConverter = unary('Sigmoid');
export const tanhConverter = unary('Tanh');
export const absvalConverter = unary('Abs');
/** BNLL: log(1 + e^x), which is Softplus. */
export const bnllConverter = unary('Softplus');
/** Dropout scales at training time only: identity at inference. */
export const dropoutConverter = unary('Identity');

export const powerConverter: Converter = {
  emit(c) {
    const p = paramOf<PowerParameter>('PowerParameter', c.layer.param.power_param);
    const v = affine(c, c.bottoms[0]!, p.scale ?? 1, p.shift ?? 0);
    const power = p.power ?? 1;
    if (power === 1) writeTop(c, v);
    else c.g.node('Pow', [v, c.g.scalar(`${c.layer.name}_power`, power)], [c.tops[0]!]);
  },
};

/** Exp: base^(shift + scale x) = e^(ln(base) (shift + scale x)); base -1 means e. */
export const expConverter: Converter = {
  emit(c) {
    const p = paramOf<ExpParameter>('ExpParameter', c.layer.param.exp_param);
    const base = p.base ?? -1;
    if (base !== -1 && !(base > 0)) unmappable('base must be strictly positive (or -1 for e)');
    const ln = base === -1 ? 1 : Math.log(base);
    c.g.node('Exp', [affine(c, c.bottoms[0]!, ln * (p.scale ?? 1), ln * (p.shift ?? 0))], [c.tops[0]!]);
  },
};

/** Log: log_base(shift + scale x) = ln(shift + scale x) / ln(base); base -1 means e. */
export const logConverter: Converter = {
  emit(c) {
    const p = paramOf<LogParameter>('LogParameter', c.layer.param.log_param);
    const base = p.base ?? -1;
    if (base !== -1 && !(base > 0)) unmappable('base must be strictly positive (or -1 for e)');
    const ln = c.g.op('Log', [affine(c, c.bottoms[0]!, p.scale ?? 1, p.shift ?? 0)], `${c.layer.name}_ln`);
    if (base === -1) writeTop(c, ln);
    else c.g.node('Mul', [ln, c.g.scalar(`${c.layer.name}_base_scale`, 1 / Math.log(base))], [c.tops[0]!]);
  },
};

export const clipConverter: Converter = {
  emit(c) {
    const p = paramOf<ClipParameter>('ClipParameter', c.layer.param.clip_param);
    const lo = c.g.scalar(`${c.layer.name}_min`, p.min ?? 0), hi = c.g.scalar(`${c.layer.name}_max`, p.max ?? 0);
    c.g.node('Clip', [c.bottoms[0]!, lo, hi], [c.tops[0]!]);
  },
};

/** Swish: x * sigmoid(beta x). */
export const swishConverter: Converter = {
  emit(c) {
    const beta = paramOf<SwishParameter>('SwishParameter', c.layer.param.swish_param).beta ?? 1;
    const x = c.bottoms[0]!;
    const s = c.g.op('Sigmoid', [affine(c, x, beta, 0)], `${c.layer.name}_sigmoid`);
    c.g.node('Mul', [x, s], [c.tops[0]!]);
  },
};

/** Threshold: 1 where x > threshold, else 0. */
export const thresholdConverter: Converter = {
  emit(c) {
    const t = paramOf<ThresholdParameter>('ThresholdParameter', c.layer.param.threshold_param).threshold ?? 0;
    const gt = c.g.op('Greater', [c.bottoms[0]!, c.g.scalar(`${c.layer.name}_threshold`, t)], `${c.layer.name}_gt`);
    c.g.node('Cast', [gt], [c.tops[0]!], { to: FLOAT });
  },
};

export const softmaxConverter: Converter = {
  emit(c) {
    const axis = canonical(paramOf<SoftmaxParameter>('SoftmaxParameter', c.layer.param.softmax_param).axis ?? 1, c.bottomShapes[0]!.length);
    // Opset 13's Softmax normalizes along one axis, as Caffe's does.
    c.g.node('Softmax', [c.bottoms[0]!], [c.tops[0]!], { axis });
  },
};

export const concatConverter: Converter = {
  emit(c) {
    const p = paramOf<ConcatParameter>('ConcatParameter', c.layer.param.concat_param);
    const axis = has(p, 'concat_dim') ? p.concat_dim! : canonical(p.axis ?? 1, c.bottomShapes[0]!.length);
    c.g.node('Concat', c.bottoms, [c.tops[0]!], { axis });
  },
};

export const eltwiseConverter: Converter = {
  check(p) {
    const e = paramOf<EltwiseParameter>('EltwiseParameter', p.eltwise_param);
    const coeff = e.coeff ?? [];
    if (coeff.length && (e.operation ?? SUM) !== SUM) return 'coeff is only for SUM';
    if (coeff.length && coeff.length !== (p.bottom ?? []).length) return 'give one coeff per bottom';
    return undefined;
  },
  emit(c) {
    const e = paramOf<EltwiseParameter>('EltwiseParameter', c.layer.param.eltwise_param);
    const op = e.operation ?? SUM;
    const name = c.layer.name;
    if (op === MAX) {
      c.g.node('Max', c.bottoms, [c.tops[0]!]);
    } else if (op === PROD) {
      let v = c.bottoms[0]!;
      for (let i = 1; i < c.bottoms.length - 1; i++) v = c.g.op('Mul', [v, c.bottoms[i]!], `${name}_prod`);
      c.g.node('Mul', [v, c.bottoms[c.bottoms.length - 1]!], [c.tops[0]!]);
    } else {
      const coeff = e.coeff ?? [];
      const terms = c.bottoms.map((b, i) =>
        (coeff[i] ?? 1) === 1 ? b : c.g.op('Mul', [b, c.g.scalar(`${name}_coeff${i}`, coeff[i]!)], `${name}_term${i}`));
      c.g.node('Sum', terms, [c.tops[0]!]);
    }
  },
};

/** Split copies its bottom to every top: the tops are the bottom's value itself. */
export const splitConverter: Converter = {
  emit(c) {
    c.tops.forEach((_, i) => c.alias(i, c.bottoms[0]!));
  },
};

/** Silence consumes its bottoms and writes nothing. */
export const silenceConverter: Converter = { emit() {} };

/**
 * Reshape to the top's shape as the net computed it; the batch axis is written as 0 (ONNX: copy the input's) when
 * the layer leaves it alone, so the model takes any batch size.
 */
function reshapeTo(c: LayerCtx, keepsBatch: boolean): void {
  const shape = [...c.topShapes[0]!];
  if (keepsBatch) shape[0] = 0;
  else c.fixBatch();
  c.g.node('Reshape', [c.bottoms[0]!, c.g.int64s(`${c.layer.name}_shape`, shape)], [c.tops[0]!]);
}

export const flattenConverter: Converter = {
  emit(c) {
    const axis = canonical(paramOf<FlattenParameter>('FlattenParameter', c.layer.param.flatten_param).axis ?? 1, c.bottomShapes[0]!.length);
    reshapeTo(c, axis > 0);
  },
};

export const reshapeConverter: Converter = {
  emit(c) {
    const p = paramOf<ReshapeParameter>('ReshapeParameter', c.layer.param.reshape_param);
    const rank = c.bottomShapes[0]!.length;
    let start = p.axis ?? 0;
    if (start < 0) start += rank + 1;
    const dims = (p.shape?.dim ?? []).map(Number);
    reshapeTo(c, start > 0 || dims[0] === 0);
  },
};

export const sliceConverter: Converter = {
  emit(c) {
    const p = paramOf<SliceParameter>('SliceParameter', c.layer.param.slice_param);
    const axis = has(p, 'slice_dim') ? p.slice_dim! : canonical(p.axis ?? 1, c.bottomShapes[0]!.length);
    if (c.tops.length === 1) { writeTop(c, c.bottoms[0]!); return; }
    const sizes = c.topShapes.map((s) => s[axis]!);
    c.g.node('Split', [c.bottoms[0]!, c.g.int64s(`${c.layer.name}_split`, sizes)], c.tops, { axis });
  },
};

export const tileConverter: Converter = {
  emit(c) {
    const p = paramOf<TileParameter>('TileParameter', c.layer.param.tile_param);
    const rank = c.bottomShapes[0]!.length;
    const repeats = new Array<number>(rank).fill(1);
    repeats[canonical(p.axis ?? 1, rank)] = p.tiles ?? 1;
    c.g.node('Tile', [c.bottoms[0]!, c.g.int64s(`${c.layer.name}_repeats`, repeats)], [c.tops[0]!]);
  },
};

/** Crop bottom[0] to bottom[1]'s shape on the axes from `axis` on, at `offset` (one for all, one per axis, or 0). */
export const cropConverter: Converter = {
  emit(c) {
    const p = paramOf<CropParameter>('CropParameter', c.layer.param.crop_param);
    const rank = c.bottomShapes[0]!.length;
    const start = canonical(p.axis ?? 2, rank);
    const off = p.offset ?? [];
    const axes: number[] = [], starts: number[] = [], ends: number[] = [];
    for (let i = start; i < rank; i++) {
      const o = off.length === 0 ? 0 : off.length === 1 ? off[0]! : off[i - start]!;
      axes.push(i); starts.push(o); ends.push(o + c.bottomShapes[1]![i]!);
    }
    if (start === 0) c.fixBatch();
    const n = c.layer.name;
    c.g.node('Slice', [c.bottoms[0]!, c.g.int64s(`${n}_starts`, starts), c.g.int64s(`${n}_ends`, ends), c.g.int64s(`${n}_axes`, axes)], [c.tops[0]!]);
  },
};
