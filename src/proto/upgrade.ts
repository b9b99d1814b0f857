// Caffe's upgrade_proto.cpp: bring deprecated net and solver definitions up to the current schema, in Caffe's
// order and with Caffe's log lines: V0 layers -> V1, old data-layer transform fields -> transform_param,
// V1 `layers` -> V2 `layer`, `input`/`input_dim`/`input_shape` -> an Input layer, old 3-param BatchNorm layers,
// and the solver's `solver_type` enum -> `type` string.
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import { has, messageType } from './caffe.js';
import { parseTextProto } from './textformat.js';
import { logger } from '../util/log.js';

const log = logger('upgrade_proto.cpp:0');

type Msg = Record<string, any>;

// ---------------------------------------------------------------------------------------------------- helpers

function fieldOf(m: Msg, name: string): protobuf.Field {
  const t = m.$type as protobuf.Type | undefined;
  const f = t?.fields[name];
  if (!f) throw new Error(`internal: no field '${name}' in ${t ? t.fullName : 'a plain object'}`);
  return f.resolve();
}

/** Deep copy of a message (protobuf's CopyFrom). */
export function cloneMessage<T extends object>(m: T, type?: protobuf.Type): T {
  const t = type ?? ((m as Msg).$type as protobuf.Type);
  const out = t.create() as Msg;
  for (const f of t.fieldsArray) {
    f.resolve();
    if (!has(m, f.name)) continue;
    const rt = f.resolvedType;
    const cp = (v: any) => (rt instanceof protobuf.Type ? cloneMessage(v, rt) : v instanceof Uint8Array ? Buffer.from(v) : v);
    const v = (m as Msg)[f.name];
    out[f.name] = f.repeated ? (v as unknown[]).map(cp) : cp(v);
  }
  return out as T;
}

/** protobuf's mutable_<field>(): the sub-message, created when unset. */
function mutable(m: Msg, name: string): Msg {
  if (!has(m, name)) m[name] = (fieldOf(m, name).resolvedType as protobuf.Type).create();
  return m[name];
}

function add(m: Msg, name: string, v: unknown): void {
  if (!Object.prototype.hasOwnProperty.call(m, name) || !Array.isArray(m[name])) m[name] = [];
  m[name].push(v);
}

function addMessage(m: Msg, name: string): Msg {
  const s = (fieldOf(m, name).resolvedType as protobuf.Type).create() as Msg;
  add(m, name, s);
  return s;
}

/** Set a scalar field, or append when the field is repeated (set_x / add_x). */
function setOrAdd(m: Msg, name: string, v: unknown): void {
  if (fieldOf(m, name).repeated) add(m, name, v);
  else m[name] = v;
}

function clear(m: Msg, name: string): void {
  if (fieldOf(m, name).repeated) m[name] = [];
  else delete m[name];
}

const list = (m: Msg, name: string): any[] => (Array.isArray(m[name]) ? m[name] : []);

function enumName(m: Msg, field: string, v: number): string | undefined {
  return (fieldOf(m, field).resolvedType as protobuf.Enum).valuesById[v];
}

function enumValue(typeName: string, field: string, name: string): number {
  const e = messageType(typeName).fields[field]!.resolve().resolvedType as protobuf.Enum;
  return e.values[name]!;
}

// ---------------------------------------------------------------------------------------------------- V0 -> V1

export function netNeedsV0ToV1Upgrade(net: Msg): boolean {
  return list(net, 'layers').some((l) => has(l, 'layer'));
}

export function netNeedsV1ToV2Upgrade(net: Msg): boolean {
  return list(net, 'layers').length > 0;
}

const V0_TYPES: Record<string, string> = {
  accuracy: 'ACCURACY', bnll: 'BNLL', concat: 'CONCAT', conv: 'CONVOLUTION', data: 'DATA', dropout: 'DROPOUT',
  euclidean_loss: 'EUCLIDEAN_LOSS', flatten: 'FLATTEN', hdf5_data: 'HDF5_DATA', hdf5_output: 'HDF5_OUTPUT',
  im2col: 'IM2COL', images: 'IMAGE_DATA', infogain_loss: 'INFOGAIN_LOSS', innerproduct: 'INNER_PRODUCT', lrn: 'LRN',
  multinomial_logistic_loss: 'MULTINOMIAL_LOGISTIC_LOSS', pool: 'POOLING', relu: 'RELU', sigmoid: 'SIGMOID',
  softmax: 'SOFTMAX', softmax_loss: 'SOFTMAX_LOSS', split: 'SPLIT', tanh: 'TANH', window_data: 'WINDOW_DATA',
};

// V0 field -> { V0 layer type (or '*' for any) -> [V1 param message, its field] }, in Caffe's order.
const V0_FIELDS: [string, Record<string, [string, string]>, string?][] = [
  ['num_output', { conv: ['convolution_param', 'num_output'], innerproduct: ['inner_product_param', 'num_output'] }],
  ['biasterm', { conv: ['convolution_param', 'bias_term'], innerproduct: ['inner_product_param', 'bias_term'] }],
  ['weight_filler', { conv: ['convolution_param', 'weight_filler'], innerproduct: ['inner_product_param', 'weight_filler'] }],
  ['bias_filler', { conv: ['convolution_param', 'bias_filler'], innerproduct: ['inner_product_param', 'bias_filler'] }],
  ['pad', { conv: ['convolution_param', 'pad'], pool: ['pooling_param', 'pad'] }],
  ['kernelsize', { conv: ['convolution_param', 'kernel_size'], pool: ['pooling_param', 'kernel_size'] }],
  ['group', { conv: ['convolution_param', 'group'] }],
  ['stride', { conv: ['convolution_param', 'stride'], pool: ['pooling_param', 'stride'] }],
  ['pool', { pool: ['pooling_param', 'pool'] }],
  ['dropout_ratio', { dropout: ['dropout_param', 'dropout_ratio'] }],
  ['local_size', { lrn: ['lrn_param', 'local_size'] }],
  ['alpha', { lrn: ['lrn_param', 'alpha'] }],
  ['beta', { lrn: ['lrn_param', 'beta'] }],
  ['k', { lrn: ['lrn_param', 'k'] }],
  ['source', {
    data: ['data_param', 'source'], hdf5_data: ['hdf5_data_param', 'source'], images: ['image_data_param', 'source'],
    window_data: ['window_data_param', 'source'], infogain_loss: ['infogain_loss_param', 'source'],
  }],
  ['scale', { '*': ['transform_param', 'scale'] }],
  ['meanfile', { '*': ['transform_param', 'mean_file'] }],
  ['batchsize', {
    data: ['data_param', 'batch_size'], hdf5_data: ['hdf5_data_param', 'batch_size'],
    images: ['image_data_param', 'batch_size'], window_data: ['window_data_param', 'batch_size'],
  }],
  ['cropsize', { '*': ['transform_param', 'crop_size'] }],
  ['mirror', { '*': ['transform_param', 'mirror'] }],
  ['rand_skip', { data: ['data_param', 'rand_skip'], images: ['image_data_param', 'rand_skip'] }],
  ['shuffle_images', { images: ['image_data_param', 'shuffle'] }, 'shuffle'],
  ['new_height', { images: ['image_data_param', 'new_height'] }],
  ['new_width', { images: ['image_data_param', 'new_width'] }],
  ['concat_dim', { concat: ['concat_param', 'concat_dim'] }],
  ['det_fg_threshold', { window_data: ['window_data_param', 'fg_threshold'] }],
  ['det_bg_threshold', { window_data: ['window_data_param', 'bg_threshold'] }],
  ['det_fg_fraction', { window_data: ['window_data_param', 'fg_fraction'] }],
  ['det_context_pad', { window_data: ['window_data_param', 'context_pad'] }],
  ['det_crop_mode', { window_data: ['window_data_param', 'crop_mode'] }],
  ['hdf5_output_param', { hdf5_output: ['', 'hdf5_output_param'] }],
];

/** UpgradeV0PaddingLayers: drop V0 "padding" layers, moving their pad into the conv/pool layer they feed. */
function upgradeV0PaddingLayers(net: Msg): Msg {
  const out = cloneMessage(net);
  out.layers = [];
  const lastTop = new Map<string, number>();
  for (const name of list(net, 'input')) lastTop.set(name, -1);
  const layers = list(net, 'layers');
  layers.forEach((conn: Msg, i: number) => {
    const lp: Msg = has(conn, 'layer') ? conn.layer : {};
    if (lp.type !== 'padding') out.layers.push(cloneMessage(conn));
    list(conn, 'bottom').forEach((blob: string, j: number) => {
      const topIdx = lastTop.get(blob);
      if (topIdx === undefined) throw new Error(`Unknown blob input ${blob} to layer ${j}`);
      if (topIdx === -1) return;
      const source: Msg = layers[topIdx];
      if (!has(source, 'layer') || source.layer.type !== 'padding') return;
      if (lp.type !== 'conv' && lp.type !== 'pool') {
        throw new Error(`Padding layer input to non-convolutional / non-pooling layer type ${lp.type}`);
      }
      if (list(conn, 'bottom').length !== 1) throw new Error('Conv Layer takes a single blob as input.');
      if (list(source, 'bottom').length !== 1) throw new Error('Padding Layer takes a single blob as input.');
      if (list(source, 'top').length !== 1) throw new Error('Padding Layer produces a single blob as output.');
      const last: Msg = out.layers[out.layers.length - 1];
      mutable(last, 'layer').pad = source.layer.pad;
      last.bottom[j] = source.bottom[0];
    });
    for (const blob of list(conn, 'top')) lastTop.set(blob, i);
  });
  return out;
}

function upgradeV0LayerParameter(conn: Msg, out: Msg): boolean {
  let ok = true;
  for (const b of list(conn, 'bottom')) add(out, 'bottom', b);
  for (const t of list(conn, 'top')) add(out, 'top', t);
  if (!has(conn, 'layer')) return ok;
  const v0: Msg = conn.layer;
  if (has(v0, 'name')) out.name = v0.name;
  const type: string = v0.type;
  if (has(v0, 'type')) {
    const v1 = V0_TYPES[type];
    if (!v1) throw new Error(`Unknown layer name: ${type}`);
    out.type = enumValue('V1LayerParameter', 'type', v1);
  }
  for (const b of list(v0, 'blobs')) add(out, 'blobs', cloneMessage(b));
  for (const x of list(v0, 'blobs_lr')) add(out, 'blobs_lr', x);
  for (const x of list(v0, 'weight_decay')) add(out, 'weight_decay', x);
  for (const [field, targets, logName] of V0_FIELDS) {
    if (!has(v0, field)) continue;
    const target = targets[type] ?? targets['*'];
    if (!target) {
      log.error(`Unknown parameter ${logName ?? field} for layer type ${type}`);
      ok = false;
      continue;
    }
    let v = v0[field];
    if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array)) v = cloneMessage(v);
    if (field === 'pool') {
      const name = enumName(v0, 'pool', v);
      if (name === undefined) {
        log.error(`Unknown pool method ${v}`);
        ok = false;
        continue;
      }
      v = enumValue('PoolingParameter', 'pool', name);
    }
    const [param, sub] = target;
    setOrAdd(param ? mutable(out, param) : out, sub, v);
  }
  return ok;
}

/** UpgradeV0Net: V0 layer connections (`layers { layer { type: "conv" ... } }`) -> V1LayerParameters. */
function upgradeV0Net(v0WithPadding: Msg): { net: Msg; ok: boolean } {
  const v0 = upgradeV0PaddingLayers(v0WithPadding);
  const net = messageType('NetParameter').create() as Msg;
  let ok = true;
  if (has(v0, 'name')) net.name = v0.name;
  for (const conn of list(v0, 'layers')) ok = upgradeV0LayerParameter(conn, addMessage(net, 'layers')) && ok;
  for (const x of list(v0, 'input')) add(net, 'input', x);
  for (const x of list(v0, 'input_dim')) add(net, 'input_dim', x);
  if (has(v0, 'force_backward')) net.force_backward = v0.force_backward;
  return { net, ok };
}

// ---------------------------------------------------------------------------------------------------- data params

const DATA_LAYERS: [string, string][] = [
  ['DATA', 'data_param'],
  ['IMAGE_DATA', 'image_data_param'],
  ['WINDOW_DATA', 'window_data_param'],
];
const TRANSFORM_FIELDS = ['scale', 'mean_file', 'crop_size', 'mirror'];

export function netNeedsDataUpgrade(net: Msg): boolean {
  return list(net, 'layers').some((l: Msg) =>
    DATA_LAYERS.some(
      ([t, p]) => l.type === enumValue('V1LayerParameter', 'type', t) && has(l, p) && TRANSFORM_FIELDS.some((f) => has(l[p], f)),
    ),
  );
}

/** UpgradeNetDataTransformation: scale/mean_file/crop_size/mirror of V1 data layers -> transform_param. */
export function upgradeNetDataTransformation(net: Msg): void {
  for (const l of list(net, 'layers') as Msg[]) {
    for (const [t, p] of DATA_LAYERS) {
      if (l.type !== enumValue('V1LayerParameter', 'type', t)) continue;
      const param = mutable(l, p);
      const transform = mutable(l, 'transform_param');
      for (const f of TRANSFORM_FIELDS) {
        if (!has(param, f)) continue;
        transform[f] = param[f];
        delete param[f];
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------- V1 -> V2

const V1_TYPE_NAMES: Record<string, string> = {
  NONE: '', ABSVAL: 'AbsVal', ACCURACY: 'Accuracy', ARGMAX: 'ArgMax', BNLL: 'BNLL', CONCAT: 'Concat',
  CONTRASTIVE_LOSS: 'ContrastiveLoss', CONVOLUTION: 'Convolution', DECONVOLUTION: 'Deconvolution', DATA: 'Data',
  DROPOUT: 'Dropout', DUMMY_DATA: 'DummyData', EUCLIDEAN_LOSS: 'EuclideanLoss', ELTWISE: 'Eltwise', EXP: 'Exp',
  FLATTEN: 'Flatten', HDF5_DATA: 'HDF5Data', HDF5_OUTPUT: 'HDF5Output', HINGE_LOSS: 'HingeLoss', IM2COL: 'Im2col',
  IMAGE_DATA: 'ImageData', INFOGAIN_LOSS: 'InfogainLoss', INNER_PRODUCT: 'InnerProduct', LRN: 'LRN',
  MEMORY_DATA: 'MemoryData', MULTINOMIAL_LOGISTIC_LOSS: 'MultinomialLogisticLoss', MVN: 'MVN', POOLING: 'Pooling',
  POWER: 'Power', RELU: 'ReLU', SIGMOID: 'Sigmoid', SIGMOID_CROSS_ENTROPY_LOSS: 'SigmoidCrossEntropyLoss',
  SILENCE: 'Silence', SOFTMAX: 'Softmax', SOFTMAX_LOSS: 'SoftmaxWithLoss', SPLIT: 'Split', SLICE: 'Slice',
  TANH: 'TanH', WINDOW_DATA: 'WindowData', THRESHOLD: 'Threshold',
};

const V1_PARAMS = [
  'accuracy_param', 'argmax_param', 'concat_param', 'contrastive_loss_param', 'convolution_param', 'data_param',
  'dropout_param', 'dummy_data_param', 'eltwise_param', 'exp_param', 'hdf5_data_param', 'hdf5_output_param',
  'hinge_loss_param', 'image_data_param', 'infogain_loss_param', 'inner_product_param', 'lrn_param',
  'memory_data_param', 'mvn_param', 'pooling_param', 'power_param', 'relu_param', 'sigmoid_param', 'softmax_param',
  'slice_param', 'tanh_param', 'threshold_param', 'window_data_param', 'transform_param', 'loss_param',
];

/** UpgradeV1LayerParameter: one V1 `layers { type: CONVOLUTION ... }` -> a LayerParameter. */
export function upgradeV1LayerParameter(v1: Msg, out: Msg): boolean {
  let ok = true;
  for (const b of list(v1, 'bottom')) add(out, 'bottom', b);
  for (const t of list(v1, 'top')) add(out, 'top', t);
  if (has(v1, 'name')) out.name = v1.name;
  for (const r of list(v1, 'include')) add(out, 'include', cloneMessage(r));
  for (const r of list(v1, 'exclude')) add(out, 'exclude', cloneMessage(r));
  if (has(v1, 'type')) {
    const name = V1_TYPE_NAMES[enumName(v1, 'type', v1.type) ?? ''];
    if (name === undefined) throw new Error(`Unknown V1LayerParameter layer type: ${v1.type}`);
    out.type = name;
  }
  for (const b of list(v1, 'blobs')) add(out, 'blobs', cloneMessage(b));
  const paramSpec = (i: number): Msg => {
    while (list(out, 'param').length <= i) addMessage(out, 'param');
    return out.param[i];
  };
  list(v1, 'param').forEach((name: string, i: number) => (paramSpec(i).name = name));
  list(v1, 'blob_share_mode').forEach((mode: number, i: number) => {
    const name = enumName(v1, 'blob_share_mode', mode);
    if (name === undefined) throw new Error(`Unknown blob_share_mode: ${mode}`);
    paramSpec(i).share_mode = enumValue('ParamSpec', 'share_mode', name);
  });
  list(v1, 'blobs_lr').forEach((x: number, i: number) => (paramSpec(i).lr_mult = x));
  list(v1, 'weight_decay').forEach((x: number, i: number) => (paramSpec(i).decay_mult = x));
  for (const w of list(v1, 'loss_weight')) add(out, 'loss_weight', w);
  for (const p of V1_PARAMS) if (has(v1, p)) out[p] = cloneMessage(v1[p]);
  if (has(v1, 'layer')) {
    log.error('Input NetParameter has V0 layer -- ignoring.');
    ok = false;
  }
  return ok;
}

/** UpgradeV1Net: NetParameter with V1 `layers` -> NetParameter with `layer`. */
function upgradeV1Net(v1: Msg): { net: Msg; ok: boolean } {
  let ok = true;
  if (list(v1, 'layer').length > 0) {
    log.error("Input NetParameter to be upgraded already specifies 'layer' fields; these will be ignored for the upgrade.");
    ok = false;
  }
  const net = cloneMessage(v1);
  net.layers = [];
  net.layer = [];
  list(v1, 'layers').forEach((l: Msg, i: number) => {
    if (!upgradeV1LayerParameter(l, addMessage(net, 'layer'))) {
      log.error(`Upgrade of input layer ${i} failed.`);
      ok = false;
    }
  });
  return { net, ok };
}

// ---------------------------------------------------------------------------------------------------- input, BN

export function netNeedsInputUpgrade(net: Msg): boolean {
  return list(net, 'input').length > 0;
}

/** UpgradeNetInput: `input` + `input_shape`/`input_dim` -> an "Input" layer placed first; input fields cleared. */
export function upgradeNetInput(net: Msg): void {
  const inputs = list(net, 'input');
  const shapes = list(net, 'input_shape');
  const dims = list(net, 'input_dim');
  if (shapes.length > 0 || dims.length > 0) {
    const layer = messageType('LayerParameter').create() as Msg;
    layer.name = 'input';
    layer.type = 'Input';
    const param = mutable(layer, 'input_param');
    inputs.forEach((name: string, i: number) => {
      add(layer, 'top', name);
      if (shapes.length > 0) {
        if (i >= shapes.length) throw new Error(`input '${name}' has no input_shape (${shapes.length} given for ${inputs.length} inputs)`);
        add(param, 'shape', cloneMessage(shapes[i]));
      } else {
        if (dims.length < 4 * (i + 1)) throw new Error(`input '${name}' needs 4 input_dim values (${dims.length} given for ${inputs.length} inputs)`);
        const shape = addMessage(param, 'shape');
        for (let j = 4 * i; j < 4 * i + 4; j++) add(shape, 'dim', dims[j]);
      }
    });
    net.layer = [layer, ...list(net, 'layer')];
  }
  clear(net, 'input');
  clear(net, 'input_shape');
  clear(net, 'input_dim');
}

const isOldBatchNorm = (l: Msg) => l.type === 'BatchNorm' && list(l, 'param').length === 3;

export function netNeedsBatchNormUpgrade(net: Msg): boolean {
  return list(net, 'layer').some(isOldBatchNorm);
}

/** UpgradeNetBatchNorm: BatchNorm layers with 3 param specs get lr_mult and decay_mult 0 on each (Caffe master). */
export function upgradeNetBatchNorm(net: Msg): void {
  for (const l of list(net, 'layer').filter(isOldBatchNorm)) {
    for (const p of l.param as Msg[]) {
      p.lr_mult = 0;
      p.decay_mult = 0;
    }
  }
}

// ---------------------------------------------------------------------------------------------------- net, solver

/** NetNeedsUpgrade (Caffe master): any of the upgrades below applies. */
export function netNeedsUpgrade(net: object): boolean {
  const n = net as Msg;
  return netNeedsV0ToV1Upgrade(n) || netNeedsV1ToV2Upgrade(n) || netNeedsDataUpgrade(n) || netNeedsInputUpgrade(n) || netNeedsBatchNormUpgrade(n);
}

/** UpgradeNetAsNeeded: the upgraded net (a new message when V0/V1 layers were converted) and whether all went well. */
export function upgradeNetAsNeeded<T extends object>(net: T, file = '<net>'): { net: T; success: boolean } {
  let n = net as Msg;
  let success = true;
  if (netNeedsV0ToV1Upgrade(n)) {
    log.info(`Attempting to upgrade input file specified using deprecated V0LayerParameter: ${file}`);
    const r = upgradeV0Net(n);
    n = r.net;
    if (!r.ok) {
      success = false;
      log.error('Warning: had one or more problems upgrading V0NetParameter to NetParameter (see above); continuing anyway.');
    } else log.info('Successfully upgraded file specified using deprecated V0LayerParameter');
    log.warn(
      'Note that future Caffe releases will not support V0NetParameter; use ./build/tools/upgrade_net_proto_text for ' +
        'prototxt and ./build/tools/upgrade_net_proto_binary for model weights upgrade this and any other net protos to the new format.',
    );
  }
  if (netNeedsDataUpgrade(n)) {
    log.info(`Attempting to upgrade input file specified using deprecated transformation parameters: ${file}`);
    upgradeNetDataTransformation(n);
    log.info('Successfully upgraded file specified using deprecated data transformation parameters.');
    log.warn('Note that future Caffe releases will only support transform_param messages for transformation fields.');
  }
  if (netNeedsV1ToV2Upgrade(n)) {
    log.info(`Attempting to upgrade input file specified using deprecated V1LayerParameter: ${file}`);
    const r = upgradeV1Net(n);
    n = r.net;
    if (!r.ok) {
      success = false;
      log.error('Warning: had one or more problems upgrading V1LayerParameter (see above); continuing anyway.');
    } else log.info('Successfully upgraded file specified using deprecated V1LayerParameter');
  }
  if (netNeedsInputUpgrade(n)) {
    log.info(`Attempting to upgrade input file specified using deprecated input fields: ${file}`);
    upgradeNetInput(n);
    log.info('Successfully upgraded file specified using deprecated input fields.');
    log.warn('Note that future Caffe releases will only support input layers and not input fields.');
  }
  if (netNeedsBatchNormUpgrade(n)) {
    log.info(`Attempting to upgrade batch norm layers using deprecated params: ${file}`);
    upgradeNetBatchNorm(n);
    log.info('Successfully upgraded batch norm layers using deprecated params.');
  }
  return { net: n as T, success };
}

/** The net upgraded to the current (V2) NetParameter format; `file` names it in the log lines. */
export function upgradeNetParameter<T extends object>(net: T, file = '<net>'): T {
  return upgradeNetAsNeeded(net, file).net;
}

const SOLVER_TYPES: Record<string, string> = {
  SGD: 'SGD', NESTEROV: 'Nesterov', ADAGRAD: 'AdaGrad', RMSPROP: 'RMSProp', ADADELTA: 'AdaDelta', ADAM: 'Adam',
};

export function solverNeedsTypeUpgrade(solver: object): boolean {
  return has(solver, 'solver_type');
}

/** UpgradeSolverAsNeeded: `solver_type: ADAM` -> `type: "Adam"` (solver_type cleared). Mutates and returns `solver`. */
export function upgradeSolverParameter<T extends object>(solver: T, file = '<solver>'): T {
  const s = solver as Msg;
  if (!solverNeedsTypeUpgrade(s)) return solver;
  log.info(`Attempting to upgrade input file specified using deprecated 'solver_type' field (enum)': ${file}`);
  if (has(s, 'type')) {
    throw new Error(
      `${file}: Failed to upgrade solver: old solver_type field (enum) and new type field (string) cannot be both specified in solver proto text.`,
    );
  }
  const type = SOLVER_TYPES[enumName(s, 'solver_type', s.solver_type) ?? ''];
  if (!type) throw new Error(`${file}: Unknown SolverParameter solver_type: ${s.solver_type}`);
  s.type = type;
  delete s.solver_type;
  log.info("Successfully upgraded file specified using deprecated 'solver_type' field (enum) to 'type' field (string).");
  log.warn("Note that future Caffe releases will only support 'type' field (string) for a solver's type.");
  return solver;
}

/** Read a text file; a missing or unreadable file is a one-line error naming it. */
export function readTextFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`File not found: ${file}`);
    if (code === 'EISDIR') throw new Error(`${file}: is a directory, not a file`);
    throw new Error(`Cannot read ${file}: ${(e as Error).message}`);
  }
}

/** ReadNetParamsFromTextFileOrDie: read, parse (errors name FILE:LINE:COL) and upgrade a net prototxt. */
export function readNetParamsFromTextFile<T extends object = Msg>(file: string): T {
  return upgradeNetParameter(parseTextProto<T>(readTextFile(file), 'NetParameter', file), file);
}

/** ReadSolverParamsFromTextFileOrDie: read, parse and upgrade a solver prototxt. */
export function readSolverParamsFromTextFile<T extends object = Msg>(file: string): T {
  return upgradeSolverParameter(parseTextProto<T>(readTextFile(file), 'SolverParameter', file), file);
}
