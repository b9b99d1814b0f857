// The deploy net of a trained model: what Caffe's hand-written deploy.prototxt files are, derived from a train_test
// (or an existing deploy) NetParameter. The TEST phase is selected (net/filter.ts); each data layer (Data, ImageData,
// MemoryData, HDF5Data, WindowData, DummyData) becomes an Input layer of the images' shape, keeping its TEST
// transform_param on the Input layer as the description of how to preprocess images (Caffe ignores transform_param
// there, so the file still loads in Caffe); SoftmaxWithLoss becomes a Softmax "prob" (SigmoidCrossEntropyLoss a
// Sigmoid); layers that the output does not depend on (Accuracy, label consumers, auxiliary heads) are dropped.
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { BlobProto, LayerParameter, NetParameter, NetState, TransformationParameter } from '../proto/types.generated.js';
import { createMessage, decodeMessage, encodeMessage, has, paramOf } from '../proto/caffe.js';
import { readProtoBinary } from '../proto/io.js';
import { upgradeNetParameter } from '../proto/upgrade.js';
import { filterNet } from '../net/filter.js';
import { Blob } from '../blob/blob.js';
import { openDb } from '../io/db.js';
import { decodeDatum } from '../io/datum.js';
import { setLogSink } from '../util/log.js';

const TEST = 1;
/** MNIST's image shape: the shape assumed when nothing in the net or its data tells it. */
export const MNIST_SHAPE: readonly [number, number, number] = [1, 28, 28];

const DATA_TYPES = new Set(['Data', 'ImageData', 'MemoryData', 'HDF5Data', 'WindowData', 'DummyData']);
/** Losses that take probabilities: their first bottom (a Softmax's output) is already the prediction. */
const PROBABILITY_LOSSES = new Set(['InfogainLoss', 'MultinomialLogisticLoss']);

export interface DeployOptions {
  /** The input shape [C,H,W] or [N,C,H,W]: wins over everything derived from the net and its data. */
  inputShape?: readonly number[];
  /** Batch size of the Input layer (default 1; ignored when inputShape gives N). */
  batch?: number;
  /**
   * Folders that relative data sources and mean files resolve against, the first where the path exists (default:
   * the current directory, as in Caffe; tools add the prototxt's own folder after it).
   */
  baseDirs?: string[];
  /** Open a local LMDB/LevelDB data source to read one Datum's shape (default true). */
  readDb?: boolean;
  /** NetState level and stages for the TEST filtering. */
  level?: number;
  stages?: string[];
}

export interface DeployNet {
  net: NetParameter;
  /** The image input blob (the first Input layer's first top). */
  input: string;
  /** The blob with the class probabilities (e.g. "prob"), or the raw scores when the net has no softmax-like loss. */
  output: string;
  /** Whether `output` holds probabilities (a Softmax or Sigmoid), not raw scores. */
  outputIsProbability: boolean;
  /** Shape of the image input: [N, C, H, W]. */
  inputShape: number[];
  /** The TEST transform_param of the data layer (also kept on the Input layer): how to preprocess images. */
  transform: TransformationParameter | undefined;
  /** What changed, one line each ("data layer 'mnist' (Data) -> Input 'data' 1x1x28x28 ..."). */
  notes: string[];
}

/** Deep copy through the wire format (keeps unknown fields, gives fresh message instances). */
function cloneNet(p: NetParameter): NetParameter {
  return decodeMessage<NetParameter>('NetParameter', encodeMessage('NetParameter', p));
}

/** filterNet logs Caffe's "NetState ... differed" lines for every skipped layer: noise here, so they are dropped. */
function filterQuietly(p: NetParameter): LayerParameter[] {
  const prev = setLogSink({ write: () => undefined });
  try {
    return filterNet(p);
  } finally {
    setLogSink(prev);
  }
}

/** C, H, W of one Datum of a local LMDB/LevelDB, or a reason why not. */
async function datumShape(source: string, backend: 'lmdb' | 'leveldb'): Promise<[number, number, number] | string> {
  let db;
  try {
    db = await openDb(source, backend, 'read', { quiet: true });
  } catch (e) {
    return (e as Error).message;
  }
  try {
    const cursor = await db.newCursor();
    if (!cursor.valid()) return `${source}: the database is empty`;
    const d = decodeDatum(cursor.value(), source);
    await cursor.close();
    if (d.encoded) return `${source}: encoded (compressed image) Datums do not tell their shape`;
    return [d.channels, d.height, d.width];
  } catch (e) {
    return (e as Error).message;
  } finally {
    await db.close().catch(() => undefined);
  }
}

function meanShape(file: string): [number, number, number] | string {
  try {
    const b = new Blob();
    b.fromProto(readProtoBinary<BlobProto>(file, 'BlobProto'), true, file);
    return [b.channels, b.height, b.width];
  } catch (e) {
    return (e as Error).message;
  }
}

/** `p` resolved against the first of `dirs` where it exists (else against the first one). */
export function resolveIn(p: string, dirs: readonly string[] | undefined): string {
  const ds = dirs?.length ? dirs : [process.cwd()];
  for (const d of ds) {
    const r = path.resolve(d, p);
    if (existsSync(r)) return r;
  }
  return path.resolve(ds[0]!, p);
}

function parseShapeOption(s: readonly number[], batch: number): number[] {
  if ((s.length !== 3 && s.length !== 4) || s.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new Error(`input shape must be C,H,W or N,C,H,W of positive integers, got [${s.join(', ')}]`);
  }
  return s.length === 3 ? [batch, ...s] : [...s];
}

/** The [N, C, H, W] a data layer produces at TEST, with the notes on how it was found. */
async function dataLayerShape(l: LayerParameter, o: DeployOptions, batch: number, notes: string[]): Promise<number[]> {
  const name = `data layer '${l.name ?? ''}' (${l.type})`;
  if (o.inputShape) return parseShapeOption(o.inputShape, batch);
  const tp = paramOf<TransformationParameter>('TransformationParameter', l.transform_param);
  const crop = tp.crop_size ?? 0;
  let chw: [number, number, number] | undefined;
  let why = '';
  switch (l.type) {
    case 'MemoryData': {
      const m = l.memory_data_param;
      if (m?.channels && m.height && m.width) chw = [m.channels, m.height, m.width];
      else why = 'memory_data_param lacks channels/height/width';
      break;
    }
    case 'DummyData': {
      const d = l.dummy_data_param;
      const s = d?.shape?.[0]?.dim?.map(Number);
      if (s && s.length === 4) chw = [s[1]!, s[2]!, s[3]!];
      else if (d?.channels?.length && d.height?.length && d.width?.length) chw = [d.channels[0]!, d.height[0]!, d.width[0]!];
      else why = 'dummy_data_param gives no 4-D shape';
      break;
    }
    case 'ImageData': {
      const ip = l.image_data_param;
      const c = ip?.is_color === false ? 1 : 3;
      if (ip?.new_height && ip.new_width) chw = [c, ip.new_height, ip.new_width];
      else if (crop) chw = [c, crop, crop];
      else why = 'image_data_param has no new_height/new_width and there is no crop_size';
      break;
    }
    case 'WindowData': {
      const wc = l.window_data_param?.crop_size ?? 0;
      if (crop || wc) chw = [3, crop || wc, crop || wc];
      else why = 'no crop_size';
      break;
    }
    case 'Data': {
      const dp = l.data_param;
      const source = dp?.source ? resolveIn(dp.source, o.baseDirs) : '';
      if (source && o.readDb !== false) {
        const r = await datumShape(source, (dp?.backend ?? 0) === 1 ? 'lmdb' : 'leveldb');
        if (typeof r === 'string') why = `no Datum read (${r})`;
        else {
          chw = r;
          notes.push(`${name}: image shape ${r.join('x')} from the first Datum of ${dp!.source}`);
        }
      } else why = source ? 'reading the database was turned off' : 'no data_param.source';
      break;
    }
    default:
      why = `a ${l.type} layer does not tell its shape`;
  }
  if (!chw && has(tp, 'mean_file')) {
    const r = meanShape(resolveIn(tp.mean_file!, o.baseDirs));
    if (typeof r === 'string') why += `; mean_file unreadable (${r})`;
    else {
      chw = r;
      notes.push(`${name}: image shape ${r.join('x')} from its mean_file ${tp.mean_file}`);
    }
  }
  const mv = tp.mean_value ?? [];
  let [c, h, w] = chw ?? [mv.length > 1 ? mv.length : MNIST_SHAPE[0], crop || MNIST_SHAPE[1], crop || MNIST_SHAPE[2]];
  if (tp.force_gray) c = 1;
  else if (tp.force_color) c = 3;
  if (!chw) {
    notes.push(`${name}: ${why || 'shape unknown'}; ASSUMED ${c}x${h}x${w} (MNIST's ${MNIST_SHAPE.join('x')} where crop_size, ` +
      'mean_value or force_color/force_gray do not tell; give the input shape explicitly if that is wrong)');
  }
  if (crop) {
    if (h < crop || w < crop) notes.push(`${name}: crop_size ${crop} is larger than the images (${h}x${w})`);
    h = w = crop;
  }
  return [batch, c, h, w];
}

function inputLayer(name: string, top: string, shape: number[], tp: TransformationParameter | undefined): LayerParameter {
  const l = createMessage<LayerParameter>('LayerParameter', { name, type: 'Input', top: [top], input_param: { shape: [{ dim: shape }] } });
  if (tp) l.transform_param = tp;
  return l;
}

/** Layers (in order) that `output` depends on; in-place layers on a needed blob count. */
function neededLayers(layers: LayerParameter[], output: string): boolean[] {
  const needed = new Set([output]);
  const keep = layers.map(() => false);
  for (let i = layers.length - 1; i >= 0; i--) {
    const l = layers[i]!;
    if (!(l.top ?? []).some((t) => needed.has(t))) continue;
    keep[i] = true;
    for (const b of l.bottom ?? []) needed.add(b);
  }
  return keep;
}

/**
 * Derive the deploy net of `param` (a train_test or deploy NetParameter; V0/V1 nets are upgraded). Async because a
 * Data layer's database may be opened to read one Datum's shape.
 */
export async function deriveDeployNet(param: NetParameter, o: DeployOptions = {}): Promise<DeployNet> {
  const batch = o.batch ?? 1;
  if (!Number.isInteger(batch) || batch <= 0) throw new Error(`batch must be a positive integer, got ${batch}`);
  let p = cloneNet(param);
  if ((p.layers ?? []).length) p = upgradeNetParameter(p);
  const state = createMessage<NetState>('NetState', p.state ?? {});
  state.phase = TEST;
  if (o.level !== undefined) state.level = o.level;
  if (o.stages !== undefined) state.stage = o.stages;
  p.state = state;
  const notes: string[] = [];
  const all = p.layer ?? [];
  const filtered = filterQuietly(p);
  const skipped = all.filter((l) => !filtered.includes(l)).map((l) => `'${l.name ?? ''}' (${l.type})`);
  if (skipped.length) notes.push(`TEST phase: left out ${skipped.length} layer${skipped.length > 1 ? 's' : ''} of other phases/stages: ${skipped.join(', ')}`);

  const layers: LayerParameter[] = [];
  const labelBlobs = new Set<string>();
  let input: string | undefined, inputShape: number[] | undefined, transform: TransformationParameter | undefined;
  let output: { blob: string; prob: boolean } | undefined;
  const taken = new Set(filtered.flatMap((l) => [...(l.top ?? []), l.name ?? '']));
  // The last softmax-like loss is the prediction (GoogLeNet's auxiliary heads come before it): it gets "prob".
  const isProbLoss = (t?: string) => t === 'SoftmaxWithLoss' || t === 'SigmoidCrossEntropyLoss';
  const mainLoss = [...filtered].reverse().find((l) => isProbLoss(l.type));

  for (const l of filtered) {
    const name = l.name ?? '';
    const type = l.type ?? '';
    if (DATA_TYPES.has(type)) {
      const [top, ...rest] = l.top ?? [];
      if (!top) throw new Error(`data layer '${name}' has no top blob`);
      rest.forEach((t) => labelBlobs.add(t));
      const shape = await dataLayerShape(l, o, batch, notes);
      const tp = has(l, 'transform_param') ? l.transform_param : undefined;
      layers.push(inputLayer(top, top, shape, tp));
      notes.push(`data layer '${name}' (${type}) -> Input '${top}' ${shape.join('x')}` +
        (tp ? ', TEST transform_param kept on it for preprocessing' : '') + (rest.length ? `; label top${rest.length > 1 ? 's' : ''} ${rest.join(', ')} dropped` : ''));
      if (!input) [input, inputShape, transform] = [top, shape, tp];
      continue;
    }
    // `p` is a private copy: kept layers are changed in place (their include/exclude rules are settled now).
    l.include = [];
    l.exclude = [];
    if (type === 'Input') {
      layers.push(l);
      if (!input && (l.top ?? []).length) {
        const dims = l.input_param?.shape?.[0]?.dim?.map(Number) ?? [];
        [input, inputShape] = [l.top![0]!, o.inputShape ? parseShapeOption(o.inputShape, batch) : dims];
        transform = has(l, 'transform_param') ? l.transform_param : undefined;
        if (o.inputShape) {
          l.input_param = createMessage('InputParameter', { shape: [{ dim: inputShape }] });
          notes.push(`Input '${name}': shape set to ${inputShape.join('x')}`);
        }
      }
      continue;
    }
    const bottoms = l.bottom ?? [];
    if (isProbLoss(type)) {
      const soft = type === 'SoftmaxWithLoss';
      const top = l === mainLoss && !taken.has('prob') ? 'prob' : `${name}_prob`;
      const props: Record<string, unknown> = { name: top, type: soft ? 'Softmax' : 'Sigmoid', bottom: [bottoms[0]], top: [top] };
      if (soft && has(l, 'softmax_param')) props.softmax_param = l.softmax_param;
      layers.push(createMessage<LayerParameter>('LayerParameter', props));
      notes.push(`loss layer '${name}' (${type}) -> ${soft ? 'Softmax' : 'Sigmoid'} '${top}' over '${bottoms[0]}'`);
      if (l === mainLoss) output = { blob: top, prob: true };
      continue;
    }
    if (type.endsWith('Loss')) {
      // Other losses (Euclidean, Hinge, Contrastive, ...): their first bottom, the raw prediction, is the output.
      notes.push(`loss layer '${name}' (${type}) dropped; '${bottoms[0]}' is the output`);
      if (!mainLoss) output = { blob: bottoms[0]!, prob: PROBABILITY_LOSSES.has(type) };
      continue;
    }
    layers.push(l);
  }
  if (!input || !inputShape) {
    const staged = all.some((l) => [...(l.include ?? []), ...(l.exclude ?? [])].some((r) => (r.stage ?? []).length || (r.not_stage ?? []).length));
    throw new Error(`net '${p.name ?? ''}': no data or Input layer in the TEST phase, so there is no image input` +
      (staged ? ' (its layers have stage rules: give the stage, e.g. -stage test-on-test)' : ''));
  }
  if (!output) {
    // No loss (e.g. a deploy net already): the last layer's top is the output, as in Caffe's deploy files.
    const last = [...layers].reverse().find((l) => l.type !== 'Input' && (l.top ?? []).length);
    if (!last) throw new Error(`net '${p.name ?? ''}': no layer after the input, so there is no output blob`);
    output = { blob: last.top![0]!, prob: last.type === 'Softmax' || last.type === 'Sigmoid' };
  }
  const keep = neededLayers(layers, output.blob);
  const kept = layers.filter((l, i) => keep[i] || (l.type === 'Input' && l.top?.[0] === input));
  const dropped = layers.filter((l) => !kept.includes(l)).map((l) => `'${l.name ?? ''}' (${l.type})`);
  if (dropped.length) notes.push(`dropped layers the output '${output.blob}' does not depend on: ${dropped.join(', ')}`);
  for (const l of kept) {
    const uses = (l.bottom ?? []).filter((b) => labelBlobs.has(b));
    if (uses.length) throw new Error(`layer '${l.name ?? ''}' (${l.type}) feeds the output '${output.blob}' but reads the label blob '${uses[0]}', which a deploy net does not have`);
  }
  const net = createMessage<NetParameter>('NetParameter', { name: p.name ?? '', layer: kept });
  return { net, input, output: output.blob, outputIsProbability: output.prob, inputShape, transform, notes };
}
