// A Caffe net (deploy form, or a train_test net turned into one) as an ONNX model (opset 13). The net is built with
// tscaffe's Net so every blob shape is Caffe's, and each layer is converted by the table below; a net is exported
// only when every layer converts, else one error names each layer that cannot.
import type { LayerParameter, NetParameter, NetState } from '../../proto/types.generated.js';
import { createMessage, decodeMessage, encodeMessage } from '../../proto/caffe.js';
import { filterNet } from '../../net/filter.js';
import { Net } from '../../net/net.js';
import { setLogSink } from '../../util/log.js';
import { deriveDeployNet } from '../../inference/deploy.js';
import { OnnxGraph, type Dim } from './graph.js';
import { type Converter, type LayerCtx, UnmappableError } from './context.js';
import {
  batchNormConverter, biasConverter, canFoldScale, convolutionConverter, deconvolutionConverter, innerProductConverter,
  lrnConverter, poolingConverter, preluConverter, scaleConverter,
} from './convert_nn.js';
import {
  absvalConverter, bnllConverter, clipConverter, concatConverter, cropConverter, dropoutConverter, eltwiseConverter,
  eluConverter, expConverter, flattenConverter, logConverter, powerConverter, reluConverter, reshapeConverter,
  sigmoidConverter, silenceConverter, sliceConverter, softmaxConverter, splitConverter, swishConverter, tanhConverter,
  thresholdConverter, tileConverter,
} from './convert_misc.js';

const TEST = 1;

const converters: Record<string, Converter> = {
  Convolution: convolutionConverter, Deconvolution: deconvolutionConverter, InnerProduct: innerProductConverter,
  Pooling: poolingConverter, BatchNorm: batchNormConverter, Scale: scaleConverter, Bias: biasConverter,
  PReLU: preluConverter, LRN: lrnConverter, ReLU: reluConverter, ELU: eluConverter, Sigmoid: sigmoidConverter,
  TanH: tanhConverter, AbsVal: absvalConverter, BNLL: bnllConverter, Dropout: dropoutConverter, Power: powerConverter,
  Exp: expConverter, Log: logConverter, Clip: clipConverter, Swish: swishConverter, Threshold: thresholdConverter,
  Softmax: softmaxConverter, Concat: concatConverter, Eltwise: eltwiseConverter, Split: splitConverter,
  Silence: silenceConverter, Flatten: flattenConverter, Reshape: reshapeConverter, Slice: sliceConverter,
  Tile: tileConverter, Crop: cropConverter,
};

/** The Caffe layer types the exporter converts (Input included). */
export const exportableLayerTypes: readonly string[] = ['Input', ...Object.keys(converters)];

const DATA_TYPES = new Set(['Data', 'ImageData', 'MemoryData', 'HDF5Data', 'WindowData', 'DummyData']);

export interface OnnxExport {
  bytes: Uint8Array;
  inputs: { name: string; dims: Dim[] }[];
  outputs: { name: string; dims: Dim[] }[];
  /** True when the model only takes the batch size the net was built with (some layer folds the batch axis). */
  fixedBatch: boolean;
  nodeCount: number;
  /** What was changed to make a deploy net of a train_test net (one line each); empty for a deploy net. */
  notes: string[];
}

export interface ExportOptions {
  /** Named in the model's doc string and in error messages. */
  source?: string;
  producerVersion?: string;
  /** Blobs to expose as graph outputs besides the net's outputs (their final values; for checks and debugging). */
  extraOutputs?: string[];
  /** [C,H,W] or [N,C,H,W] of the image input when a train_test net is turned into a deploy net. */
  inputShape?: number[];
  /** Lines for the model's doc string (how the deploy net was derived). */
  notes?: string[];
}

function testLayers(param: NetParameter): LayerParameter[] {
  const p = decodeMessage<NetParameter>('NetParameter', encodeMessage('NetParameter', param));
  p.state = createMessage<NetState>('NetState', { ...(p.state ?? {}), phase: TEST });
  // filterNet logs Caffe's "NetState phase differed" line per skipped layer: not news here.
  const prev = setLogSink({ write: () => undefined });
  try {
    return filterNet(p);
  } finally {
    setLogSink(prev);
  }
}

/** Each layer of the (TEST-phase) net that cannot be converted, as "layer 'x' (Type): why". */
export function unexportableLayers(layers: LayerParameter[]): string[] {
  const out: string[] = [];
  for (const l of layers) {
    const type = l.type ?? '';
    if (type === 'Input') continue;
    const conv = converters[type];
    const why = conv ? conv.check?.(l) : 'no ONNX equivalent';
    if (why) out.push(`layer '${l.name ?? ''}' (${type}): ${why}`);
  }
  return out;
}

/**
 * The deploy net to export: `param` itself when its TEST phase has no data or loss layers, else the deploy net
 * derived from it (inference/deploy.ts: data layers become Input layers, the loss a Softmax).
 */
async function deployParam(param: NetParameter, what: string, inputShape?: number[]): Promise<{ net: NetParameter; notes: string[] }> {
  const layers = testLayers(param);
  const trainTest = layers.some((l) => DATA_TYPES.has(l.type ?? '') || (l.type ?? '').endsWith('Loss') || l.type === 'Accuracy');
  if (!trainTest) {
    if (inputShape) throw new Error(`${what}: a deploy net's Input layers give the input shapes; an input shape is only for a train_test net`);
    return { net: param, notes: [] };
  }
  const d = await deriveDeployNet(param, { inputShape });
  return { net: d.net, notes: d.notes };
}

/** Convert a net with its weights: `weights` is a trained NetParameter (.caffemodel), copied by layer name. */
export async function exportOnnx(param: NetParameter, weights: NetParameter | undefined, opts: ExportOptions = {}): Promise<OnnxExport> {
  const what = opts.source ?? (param.name || 'net');
  const { net: deploy, notes } = await deployParam(param, what, opts.inputShape);
  const problems = unexportableLayers(testLayers(deploy));
  if (problems.length) throw new Error(`${what}: cannot export to ONNX: ${problems.join('; ')}`);
  const net = await Net.create(deploy, TEST, { verbose: false });
  try {
    if (weights) net.copyTrainedLayersFrom(weights);
    const out = netToOnnx(net, what, { ...opts, notes });
    return { ...out, notes };
  } finally {
    await net.close();
  }
}

/** Convert a built net (its current weights). */
export function netToOnnx(net: Net, what: string, opts: ExportOptions = {}): Omit<OnnxExport, 'notes'> {
  const g = new OnnxGraph(net.name || 'net');
  const L = net.layers.length;
  // Which layer writes which blob: a blob written in place several times gets one ONNX value per write; the last
  // write (or an Input's) keeps the Caffe blob name, earlier ones are named "blob@layer".
  const lastWriter = new Map<number, number>();
  const inputBlobs = new Set<number>();
  for (let li = 0; li < L; li++) {
    for (const id of net.topIds[li]!) {
      lastWriter.set(id, li);
      if (net.layers[li]!.type === 'Input') inputBlobs.add(id);
    }
  }
  const topName = (li: number, id: number): string => {
    const plain = net.layers[li]!.type === 'Input' || (lastWriter.get(id) === li && !inputBlobs.has(id));
    return g.reserve(plain ? net.blobNames[id]! : `${net.blobNames[id]}@${net.layerNames[li]}`);
  };
  // Readers of each layer's output (for folding a BatchNorm's Scale): the layer index that last wrote each blob.
  const readers = new Map<number, number[]>();
  const writer = new Map<number, number>();
  for (let li = 0; li < L; li++) {
    for (const id of net.bottomIds[li]!) {
      const w = writer.get(id);
      if (w !== undefined) readers.set(w, [...(readers.get(w) ?? []), li]);
    }
    for (const id of net.topIds[li]!) writer.set(id, li);
  }

  const current = new Map<number, string>();
  const inputs: { name: string; shape: number[] }[] = [];
  const errors: string[] = [];
  let fixedBatch = false;
  for (let li = 0; li < L; li++) {
    const layer = net.layers[li]!;
    const topIds = net.topIds[li]!;
    if (layer.type === 'Input') {
      for (const id of topIds) {
        const name = topName(li, id);
        inputs.push({ name, shape: [...net.blobs[id]!.shape] });
        current.set(id, name);
      }
      continue;
    }
    const next = net.layers[li + 1];
    const fold = layer.type === 'BatchNorm' && next !== undefined && canFoldScale(next) &&
      (readers.get(li) ?? []).length === 1 && readers.get(li)![0] === li + 1;
    const outLayer = fold ? li + 1 : li;
    const outIds = net.topIds[outLayer]!;
    const tops = outIds.map((id) => topName(outLayer, id));
    const aliases = new Map<number, string>();
    const ctx: LayerCtx = {
      g, layer, tops,
      bottoms: net.bottomIds[li]!.map((id) => current.get(id)!),
      bottomShapes: net.bottomVecs[li]!.map((b) => [...b.shape]),
      topShapes: net.topVecs[outLayer]!.map((b) => [...b.shape]),
      fixBatch: () => { fixedBatch = true; },
      alias: (i, name) => aliases.set(i, name),
      fused: fold ? next : undefined,
    };
    try {
      converters[layer.type]!.emit(ctx);
    } catch (e) {
      if (!(e instanceof UnmappableError)) throw e;
      errors.push(`layer '${layer.name}' (${layer.type}): ${e.message}`);
    }
    outIds.forEach((id, i) => current.set(id, aliases.get(i) ?? tops[i]!));
    if (fold) li++;
  }
  if (errors.length) throw new Error(`${what}: cannot export to ONNX: ${errors.join('; ')}`);

  const dims = (shape: readonly number[]): Dim[] => (fixedBatch || shape.length === 0 ? [...shape] : ['N', ...shape.slice(1)]);
  const ins = inputs.map((i) => ({ name: i.name, dims: dims(i.shape) }));
  for (const i of ins) g.input(i.name, i.dims);
  const extra = (opts.extraOutputs ?? []).map((b) => {
    const id = net.blobNames.indexOf(b);
    if (id < 0) throw new Error(`${what}: no blob '${b}' to output`);
    return id;
  });
  const outIds = [...new Set([...net.outputBlobIndices, ...extra])];
  const outs = outIds.map((id) => ({ name: current.get(id)!, dims: dims(net.blobs[id]!.shape) }));
  for (const o of outs) g.output(o.name, o.dims);
  const doc = [`Exported by tscaffe from ${what}`, ...(opts.notes ?? []).map((n) => `deploy net: ${n}`)].join('\n');
  const bytes = g.encode(opts.producerVersion ?? '', doc);
  return { bytes, inputs: ins, outputs: outs, fixedBatch, nodeCount: g.nodeCount };
}
