// tscaffe's engine in a Web Worker, for the draw page (engines.ts talks to it). Two reasons for a worker: inference
// never stalls drawing, and protobufjs (which the engine decodes Caffe's files with) compiles its codecs with
// new Function(): the page's Content-Security-Policy forbids that ('unsafe-eval'), while this worker script is served
// without one, so the page stays under the strict policy and the worker, which holds no token and no DOM, may eval.
import { loadModel, type Model } from '../../../src/browser/index.js';

export interface LoadRequest {
  id: number;
  kind: 'load';
  prototxt: string;
  weights: Uint8Array;
  backend?: 'ts' | 'wasm' | 'webgpu' | 'auto';
  what: string;
}

export interface PredictRequest {
  id: number;
  kind: 'predict';
  /** 28x28 (the net's C*H*W) raw pixel values 0..255. */
  digit: Float32Array;
}

export interface LoadedInfo {
  inputShape: number[];
  backend: Model['backend'];
  simd?: Model['simd'];
  memory?: Model['memory'];
  adapter?: string;
  note?: string;
}

export type Reply = { id: number; ok: true; info?: LoadedInfo; probabilities?: Float32Array } | { id: number; ok: false; error: string };

const scope = self as unknown as {
  postMessage(msg: Reply, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent<LoadRequest | PredictRequest>) => void) | null;
};

let model: Model | undefined;

scope.onmessage = async (e) => {
  const r = e.data;
  try {
    if (r.kind === 'load') {
      model?.close();
      model = await loadModel({
        deployPrototxt: r.prototxt, weights: r.weights, ...(r.backend ? { backend: r.backend } : {}), names: { prototxt: 'deploy net', weights: r.what },
      });
      const { inputShape, backend, simd, memory, adapter, note } = model;
      scope.postMessage({ id: r.id, ok: true, info: { inputShape, backend, ...(simd ? { simd } : {}), ...(memory ? { memory } : {}), ...(adapter ? { adapter } : {}), ...(note ? { note } : {}) } });
    } else {
      if (!model) throw new Error('no model loaded');
      const p = await model.predict(model.toInput(r.digit));
      scope.postMessage({ id: r.id, ok: true, probabilities: p }, [p.buffer]);
    }
  } catch (err) {
    scope.postMessage({ id: r.id, ok: false, error: (err as Error).message ?? String(err) });
  }
};
