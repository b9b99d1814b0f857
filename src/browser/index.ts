// tscaffe's engine in a browser: load a deploy net (prototxt text + .caffemodel bytes) and classify one input at a
// time, with the same Net, layers and protobuf decoding as Node, on the 'wasm' kernels (single-threaded, see
// wasm_runtime.ts), the TypeScript reference backend, or WebGPU (the same WGSL kernels as Node's -gpu; the host parts
// on the wasm or TypeScript kernels).
//
// Bundling: this module's import graph is free of Node modules once the bundler applies package.json's "browser"
// field, which swaps the two Node-only registries for portable ones (src/layers/index.ts -> portable.ts, without the
// Data and InfogainLoss layers; src/backend/wasm/runtime.ts -> wasm_runtime_default.ts, without worker threads).
// In Node (the tests) the same code runs on the Node modules, so the results can be compared with the Node Net.
//
// Nets: the current format with Input layers (what `tscaffe` and Caffe write; the platform's deploy nets). Older files
// (V0/V1 `layers`, `input:` fields) need `tscaffe upgrade_net_proto_text` first: the upgrader reads files and stays in
// Node.
import type { LayerParameter, NetParameter, TransformationParameter } from '../proto/types.generated.js';
import { decodeMessage, has, paramOf } from '../proto/caffe.js';
import { parseTextProto } from '../proto/textformat.js';
import { Net } from '../net/net.js';
import { TEST } from '../layers/layer.js';
import { setBackend, type Backend } from '../backend/backend.js';
import { createTsBackend } from '../backend/ts/index.js';
import { createWasmBackend } from '../backend/wasm/index.js';
import type { SimdVariant } from '../backend/wasm/kernel_runtime.js';
import { createBrowserRuntime, fetchKernelBytes, type KernelBytes, type MemoryKind } from './wasm_runtime.js';
import { WebGpuDevice } from '../backend/webgpu/gpu_device.js';

export { kernelsForUnsharedMemory, type KernelBytes, type MemoryKind } from './wasm_runtime.js';

export type BackendName = 'wasm' | 'ts' | 'webgpu';

export interface LoadModelOptions {
  /** The deploy net's prototxt text. */
  deployPrototxt: string;
  /** The .caffemodel bytes. */
  weights: Uint8Array;
  /**
   * 'wasm' (default; the TypeScript backend where this browser has no WebAssembly SIMD), 'ts', 'webgpu' (an error
   * without a WebGPU adapter) or 'auto' (WebGPU where the browser has an adapter, else as 'wasm').
   */
  backend?: BackendName | 'auto';
  /** The wasm kernels' bytes (default: fetched from beside the bundle). */
  kernels?: KernelBytes;
  /** The wasm heap: shared where possible (default 'auto') or unshared of fixed size. */
  memory?: MemoryKind | 'auto';
  /**
   * First size of an unshared heap, bytes (default 32 MiB + twice the weights); a net that needs more is built again
   * in a heap 4 times larger, up to 1 GiB.
   */
  memoryBytes?: number;
  /** Names the files in error messages (default 'deploy prototxt' and 'weights'). */
  names?: { prototxt?: string; weights?: string };
}

/** How raw pixel values (0..255) become the net's input, from the Input layer's transform_param (deploy.ts keeps it). */
export interface InputTransform {
  scale: number;
  /** Subtracted before scaling: one value, or one per channel; empty: none. */
  meanValue: number[];
}

export interface Model {
  /** The net's input shape [C, H, W] (one image). */
  inputShape: number[];
  /** The backend that runs it, the wasm kernel build and memory in use. */
  backend: BackendName;
  /** The WebGPU adapter, when the backend is 'webgpu'. */
  adapter?: string;
  simd?: SimdVariant;
  memory?: MemoryKind;
  /** Why the backend is not the one asked for, if it is not. */
  note?: string;
  transform: InputTransform;
  /** The name of the input and output blobs. */
  input: string;
  output: string;
  /** Raw pixel values (C*H*W, 0..255) to the net's input values: transform applied. */
  toInput(raw: ArrayLike<number>): Float32Array;
  /** Class probabilities for one input (C*H*W values as the net takes them; see toInput). */
  predict(input: Float32Array): Promise<Float32Array>;
  /** Release the model's device (WebGPU); the model cannot predict afterwards. */
  close(): void;
}

const MiB = 1 << 20;

function fail(what: string, msg: string): never {
  throw new Error(`${what}: ${msg}`);
}

/** The net to build: batch 1 on every Input layer; old formats refused with the command that upgrades them. */
function deployNet(text: string, what: string): { param: NetParameter; input: LayerParameter } {
  const param = parseTextProto<NetParameter>(text, 'NetParameter', what);
  const upgrade = 'upgrade it with `tscaffe upgrade_net_proto_text` first';
  if ((param.layers ?? []).length) fail(what, `uses the deprecated V0/V1 'layers' field: ${upgrade}`);
  if ((param.input ?? []).length) fail(what, `uses the deprecated 'input' fields instead of an Input layer: ${upgrade}`);
  const inputs = (param.layer ?? []).filter((l) => l.type === 'Input');
  if (!inputs.length) fail(what, 'has no Input layer (a deploy net takes its images through one)');
  for (const l of inputs) {
    for (const s of paramOf('InputParameter', l.input_param).shape ?? []) if (s.dim?.length) s.dim[0] = 1;
  }
  return { param, input: inputs[0]! };
}

function inputTransform(tp: TransformationParameter | undefined, channels: number, what: string): InputTransform {
  const t = paramOf<TransformationParameter>('TransformationParameter', tp);
  if (has(t, 'mean_file')) fail(what, `the input's transform_param names mean_file ${t.mean_file}, which a browser cannot read; give mean_value instead`);
  const meanValue = [...(t.mean_value ?? [])];
  if (meanValue.length > 1 && meanValue.length !== channels) {
    fail(what, `transform_param: mean_value must be given once or once per channel (${channels}), got ${meanValue.length}`);
  }
  return { scale: t.scale ?? 1, meanValue };
}

/** Whether `blob` is made by a Softmax or Sigmoid layer (else predict() applies a softmax to the raw scores). */
function producesProbabilities(net: Net, blob: string): boolean {
  for (let i = net.layers.length - 1; i >= 0; i--) {
    const l = net.layers[i]!;
    if ((l.param.top ?? []).includes(blob)) return l.param.type === 'Softmax' || l.param.type === 'Sigmoid';
  }
  return false;
}

function softmax(x: Float32Array): Float32Array {
  let max = -Infinity;
  for (const v of x) max = Math.max(max, v);
  let sum = 0;
  const y = x.map((v) => Math.exp(v - max));
  for (const v of y) sum += v;
  return y.map((v) => v / sum);
}

interface Engine {
  backend: Backend;
  name: BackendName;
  simd?: SimdVariant;
  memory?: MemoryKind;
}

async function buildNet(param: NetParameter, weights: NetParameter, engine: Engine, what: string): Promise<Net> {
  setBackend(engine.backend);
  const net = await Net.create(param, TEST, { verbose: false });
  net.copyTrainedLayersFrom(weights, what);
  return net;
}

// heap.ts's RangeError, as Net passes it on (prefixed with the layer's name).
const outOfMemory = (e: unknown) => e instanceof Error && /wasm backend: out of memory/.test(e.message);

/** Load a deploy net and its weights; the returned model's predict() runs one input through them. */
export async function loadModel(o: LoadModelOptions): Promise<Model> {
  const protoName = o.names?.prototxt ?? 'deploy prototxt';
  const weightsName = o.names?.weights ?? 'weights';
  const { param, input: inputLayer } = deployNet(o.deployPrototxt, protoName);
  const channels = paramOf('InputParameter', inputLayer.input_param).shape?.[0]?.dim?.[1] ?? 1;
  const transform = inputTransform(inputLayer.transform_param, channels, protoName);
  const weights = decodeMessage<NetParameter>('NetParameter', o.weights, weightsName);
  if ((weights.layers ?? []).length && !(weights.layer ?? []).length) {
    fail(weightsName, 'holds V1 layers: upgrade it with `tscaffe upgrade_net_proto_binary` first');
  }

  let net: Net | undefined;
  let engine: Engine | undefined;
  let note: string | undefined;
  let gpu: WebGpuDevice | null = null;
  const asked = o.backend ?? 'wasm';
  if (asked === 'webgpu' || asked === 'auto') {
    gpu = await WebGpuDevice.open(0).catch((e: Error) => {
      if (asked === 'webgpu') throw e;
      note = `WebGPU is unavailable here (${e.message})`;
      return null;
    });
    if (!gpu && asked === 'webgpu') throw new Error('backend webgpu: this browser offers no WebGPU adapter');
    if (!gpu) note ??= 'this browser offers no WebGPU adapter';
  }
  if (asked !== 'ts') {
    try {
      const kernels = o.kernels ?? (await fetchKernelBytes());
      // An unshared heap cannot grow: start at a size the weights suggest, and retry larger if the net needs more.
      let memoryBytes = o.memoryBytes ?? 32 * MiB + 2 * o.weights.length;
      for (;;) {
        const rt = createBrowserRuntime(kernels, { memory: o.memory ?? 'auto', memoryBytes });
        engine = { backend: createWasmBackend({ runtime: rt.runtime }), name: 'wasm', simd: rt.simd, memory: rt.memory };
        try {
          net = await buildNet(param, weights, engine, weightsName);
          break;
        } catch (e) {
          if (!outOfMemory(e) || rt.memory === 'shared' || memoryBytes >= 1024 * MiB) throw e;
          memoryBytes *= 4;
        }
      }
    } catch (e) {
      if (asked === 'wasm' || !(e instanceof Error) || !/WebAssembly|wasm/.test(e.message)) throw e;
      note = `the wasm backend is unavailable here (${e.message}); using the TypeScript backend`;
      net = undefined;
    }
  }
  if (!net) {
    engine = { backend: createTsBackend(), name: 'ts' };
    net = await buildNet(param, weights, engine, weightsName);
  }
  const eng = engine!;
  const theNet = net;
  if (gpu) theNet.useDevice(gpu);

  const inputName = inputLayer.top?.[0] ?? fail(protoName, `Input layer '${inputLayer.name}' has no top`);
  const inputBlob = theNet.blobByName(inputName)!;
  const outputs = theNet.outputBlobNames;
  if (!outputs.length) fail(protoName, 'the net has no output blob');
  const output = outputs.includes('prob') ? 'prob' : outputs[outputs.length - 1]!;
  const outputBlob = theNet.blobByName(output)!;
  const isProb = producesProbabilities(theNet, output);
  const inputShape = inputBlob.shape.slice(1);
  const size = inputBlob.count(1);
  const classes = outputBlob.count(1);
  const plane = size / (inputShape[0] ?? 1);
  const f = Math.fround;

  return {
    inputShape, backend: gpu ? 'webgpu' : eng.name, transform, input: inputName, output,
    ...(gpu ? { adapter: gpu.description.name } : {}),
    ...(eng.simd ? { simd: eng.simd } : {}), ...(eng.memory ? { memory: eng.memory } : {}), ...(note ? { note } : {}),

    toInput(raw) {
      if (raw.length !== size) throw new Error(`input has ${raw.length} values, the net takes ${inputShape.join('x')} = ${size}`);
      const out = new Float32Array(size);
      const { scale, meanValue } = transform;
      // Caffe's DataTransformer order and float32 arithmetic: (pixel - mean) * scale.
      for (let i = 0; i < size; i++) {
        const m = meanValue.length ? meanValue[meanValue.length === 1 ? 0 : Math.floor(i / plane)]! : 0;
        out[i] = f(f(raw[i]! - m) * scale);
      }
      return out;
    },

    async predict(x) {
      if (x.length !== size) throw new Error(`input has ${x.length} values, the net takes ${inputShape.join('x')} = ${size}`);
      setBackend(eng.backend); // layers use the active backend: make it this model's (another model may have run since)
      await inputBlob.syncToHost(); // an in-place layer on a device may have written it there
      inputBlob.data.set(x);
      await theNet.forwardFromTo();
      await outputBlob.syncToHost();
      const y = outputBlob.cpuData.slice(0, classes);
      return isProb ? y : softmax(y);
    },

    close() {
      gpu?.destroy();
    },
  };
}
