// A small ONNX graph builder over npm's onnx-proto (protobufjs-generated ONNX schema, IR 8): nodes, float/int64
// initializers, graph inputs/outputs, and the encoded ModelProto bytes.
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/** ONNX IR version 7 goes with opset 13 (onnx 1.8); onnxruntime-node 1.30 reads both. */
export const IR_VERSION = 7;
/** Opset 13: Softmax/Concat/Split take Caffe's single-axis meaning; Clip, Pad, Split and ReduceSum take inputs. */
export const OPSET = 13;

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;
const A = onnx.AttributeProto.AttributeType;

export type AttrValue = number | number[] | string | { float: number } | { floats: number[] };

/** A dimension: a fixed size, or a symbolic name (the batch dimension, `N`). */
export type Dim = number | string;

function attribute(name: string, v: AttrValue): onnxProto.onnx.IAttributeProto {
  if (typeof v === 'string') return { name, type: A.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: A.INTS, ints: v };
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`ONNX attribute ${name}: ${v} is not an integer (use { float })`);
    return { name, type: A.INT, i: v };
  }
  if ('floats' in v) return { name, type: A.FLOATS, floats: v.floats };
  return { name, type: A.FLOAT, f: v.float };
}

function valueInfo(name: string, dims: readonly Dim[]): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

export class OnnxGraph {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private readonly inputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly outputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly used = new Set<string>();

  constructor(readonly name: string) {}

  /** A value name not used yet, from `base` (suffixed when taken). */
  fresh(base: string): string {
    let n = base;
    for (let i = 1; this.used.has(n); i++) n = `${base}_${i}`;
    this.used.add(n);
    return n;
  }

  /** Reserve a name chosen elsewhere (graph inputs, a layer's final top name). */
  reserve(name: string): string {
    if (this.used.has(name)) throw new Error(`ONNX value name '${name}' used twice`);
    this.used.add(name);
    return name;
  }

  node(opType: string, inputs: string[], outputs: string[], attrs: Record<string, AttrValue | undefined> = {}, name?: string): void {
    const attribute_ = Object.entries(attrs)
      .filter((e): e is [string, AttrValue] => e[1] !== undefined)
      .map(([k, v]) => attribute(k, v));
    this.nodes.push({ opType, input: inputs, output: outputs, name: name ?? outputs[0], attribute: attribute_ });
  }

  /** Emit `opType(inputs)` into a fresh value named from `base`; returns its name. */
  op(opType: string, inputs: string[], base: string, attrs: Record<string, AttrValue | undefined> = {}): string {
    const out = this.fresh(base);
    this.node(opType, inputs, [out], attrs);
    return out;
  }

  /** A float32 initializer (a constant tensor) named from `base`; returns its name. */
  floats(base: string, dims: readonly number[], data: Float32Array | readonly number[]): string {
    const n = dims.reduce((a, b) => a * b, 1);
    if (data.length !== n) throw new Error(`initializer ${base}: ${data.length} values for shape [${dims.join(',')}]`);
    const f32 = data instanceof Float32Array ? data : Float32Array.from(data);
    // raw_data is little-endian float32, as a Float32Array's bytes are on every platform Node runs on.
    const raw = new Uint8Array(f32.buffer.slice(f32.byteOffset, f32.byteOffset + f32.byteLength));
    const name = this.fresh(base);
    this.initializers.push({ name, dims: [...dims], dataType: FLOAT, rawData: raw });
    return name;
  }

  /** A scalar float constant (broadcasts against anything). */
  scalar(base: string, v: number): string {
    return this.floats(base, [], [v]);
  }

  /** A 1-D int64 initializer (shapes, pads, axes). */
  int64s(base: string, values: readonly number[]): string {
    const raw = new Uint8Array(values.length * 8);
    const view = new DataView(raw.buffer);
    values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
    const name = this.fresh(base);
    this.initializers.push({ name, dims: [values.length], dataType: INT64, rawData: raw });
    return name;
  }

  /** Declare a graph input (its name reserved by the caller). */
  input(name: string, dims: readonly Dim[]): void {
    this.inputs.push(valueInfo(name, dims));
  }

  output(name: string, dims: readonly Dim[]): void {
    this.outputs.push(valueInfo(name, dims));
  }

  get nodeCount(): number {
    return this.nodes.length;
  }

  /** The serialized ModelProto. */
  encode(producerVersion: string, docString = ''): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: IR_VERSION,
      opsetImport: [{ domain: '', version: OPSET }],
      producerName: 'tscaffe',
      producerVersion,
      docString,
      graph: {
        name: this.name,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

/** Decode a model (tests, inspection). */
export function decodeModel(bytes: Uint8Array): onnxProto.onnx.ModelProto {
  return onnx.ModelProto.decode(bytes);
}
