// The layer base class, as Caffe's Layer: configured only by its LayerParameter; setUp checks blob counts, runs
// layerSetUp and reshape and installs loss weights; forward/backward do the math through the backend.
import type { LayerParameter } from '../proto/types.generated.js';
import { Blob } from '../blob/blob.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';

export const TRAIN = 0;
export const TEST = 1;

export abstract class Layer {
  /** Learnable parameters (weights, biases...). */
  blobs: Blob[] = [];
  /** Whether each param blob needs a gradient (set by the net from lr_mult). */
  paramPropagateDown: boolean[] = [];
  /** Loss weight per top (0 for non-loss tops). */
  lossWeights: number[] = [];
  readonly phase: number;
  /** Set by the net before init() in data-parallel training: source layers read only batches index, index + count... */
  shard = { index: 0, count: 1 };

  constructor(readonly param: LayerParameter) {
    this.phase = param.phase ?? TRAIN;
  }

  get name(): string {
    return this.param.name ?? '';
  }

  get type(): string {
    return this.param.type ?? '';
  }

  /** Async preparation before setUp (e.g. a Data layer opening its database). */
  async init(): Promise<void> {}

  /** Awaited by the net before each forward pass: e.g. the Data layer's background prefetch. */
  async prefetch(): Promise<void> {}

  /** Release resources (databases, workers). */
  async close(): Promise<void> {}

  setUp(bottom: Blob[], top: Blob[]): void {
    this.checkBlobCounts(bottom, top);
    this.layerSetUp(bottom, top);
    this.reshape(bottom, top);
    this.setLossWeights(top);
  }

  layerSetUp(_bottom: Blob[], _top: Blob[]): void {}
  abstract reshape(bottom: Blob[], top: Blob[]): void;
  abstract forward(bottom: Blob[], top: Blob[]): void;
  abstract backward(top: Blob[], propagateDown: boolean[], bottom: Blob[]): void;

  /**
   * Optional device paths (Caffe's Forward_gpu/Backward_gpu): record the same math as forward/backward on the device's
   * kernels, on the blobs' device buffers (Blob.deviceData/deviceDiff), never reading anything back. A layer without
   * them runs on the host in a device net: the net brings its blobs to the host first (slow, but correct).
   */
  forwardGpu?(bottom: Blob[], top: Blob[], gpu: WebGpuDevice): void;
  backwardGpu?(top: Blob[], propagateDown: boolean[], bottom: Blob[], gpu: WebGpuDevice): void;

  /** Forward, then the weighted loss of this layer's loss tops (Caffe's Layer::Forward). */
  forwardWithLoss(bottom: Blob[], top: Blob[]): number {
    this.reshape(bottom, top);
    this.forward(bottom, top);
    let loss = 0;
    for (let i = 0; i < top.length; i++) {
      const w = this.lossWeights[i] ?? 0;
      if (w === 0) continue;
      const d = top[i]!.cpuData;
      let s = 0;
      for (let j = 0; j < d.length; j++) s += d[j]!;
      loss += w * s;
    }
    return loss;
  }

  // Blob-count constraints (-1: no constraint), as Caffe's ExactNumBottomBlobs() etc.
  exactNumBottomBlobs(): number { return -1; }
  minBottomBlobs(): number { return -1; }
  maxBottomBlobs(): number { return -1; }
  exactNumTopBlobs(): number { return -1; }
  minTopBlobs(): number { return -1; }
  maxTopBlobs(): number { return -1; }
  equalNumBottomTopBlobs(): boolean { return false; }
  /** Tops the net creates when the prototxt names fewer (e.g. Input, DummyData). */
  autoTopBlobs(): boolean { return false; }
  /** Whether force_backward may ask for the gradient of this bottom (labels: no). */
  allowForceBackward(_bottomIndex: number): boolean { return true; }

  checkBlobCounts(bottom: Blob[], top: Blob[]): void {
    const err = (what: string) => new Error(`Layer ${this.name} (type ${this.type}): ${what}`);
    const nb = bottom.length;
    const nt = top.length;
    if (this.exactNumBottomBlobs() >= 0 && nb !== this.exactNumBottomBlobs()) {
      throw err(`takes ${this.exactNumBottomBlobs()} bottom blob(s) as input, got ${nb}`);
    }
    if (this.minBottomBlobs() >= 0 && nb < this.minBottomBlobs()) throw err(`takes at least ${this.minBottomBlobs()} bottom blob(s), got ${nb}`);
    if (this.maxBottomBlobs() >= 0 && nb > this.maxBottomBlobs()) throw err(`takes at most ${this.maxBottomBlobs()} bottom blob(s), got ${nb}`);
    if (this.exactNumTopBlobs() >= 0 && nt !== this.exactNumTopBlobs()) {
      throw err(`produces ${this.exactNumTopBlobs()} top blob(s) as output, got ${nt}`);
    }
    if (this.minTopBlobs() >= 0 && nt < this.minTopBlobs()) throw err(`produces at least ${this.minTopBlobs()} top blob(s), got ${nt}`);
    if (this.maxTopBlobs() >= 0 && nt > this.maxTopBlobs()) throw err(`produces at most ${this.maxTopBlobs()} top blob(s), got ${nt}`);
    if (this.equalNumBottomTopBlobs() && nb !== nt) throw err(`needs as many top blobs as bottom blobs (${nb} vs ${nt})`);
  }

  /** Loss layers default their first top's loss weight to 1 (set by the subclass via defaultLossWeight). */
  defaultLossWeight(_topIndex: number): number {
    return 0;
  }

  private setLossWeights(top: Blob[]): void {
    // Caffe's LossLayer::LayerSetUp writes the default weight into the layer's parameter (so snapshots carry
    // `loss_weight: 1`); other tops default to 0.
    if (!(this.param.loss_weight ?? []).length && this.defaultLossWeight(0) !== 0) this.param.loss_weight = [this.defaultLossWeight(0)];
    const given = this.param.loss_weight ?? [];
    if (given.length > top.length) {
      throw new Error(`Layer ${this.name}: loss_weight must be unspecified or given once per top blob`);
    }
    this.lossWeights = top.map((_, i) => given[i] ?? 0);
    // Caffe stores the loss weight in the top's diff so backward starts from it.
    top.forEach((t, i) => {
      const w = this.lossWeights[i]!;
      if (w !== 0) t.diff.fill(w);
    });
  }

  /** Copy this layer's parameter and learned blobs into a LayerParameter for a snapshot (Caffe's Layer::ToProto). */
  toProto(writeDiff = false): LayerParameter {
    const p = { ...this.param } as LayerParameter;
    p.blobs = this.blobs.map((b) => b.toProto(writeDiff));
    return p;
  }
}

export type LayerClass = new (param: LayerParameter) => Layer;

const registry = new Map<string, LayerClass>();

/** Register a layer class under its Caffe `type` string (Caffe's REGISTER_LAYER_CLASS). */
export function registerLayer(type: string, cls: LayerClass): void {
  registry.set(type, cls);
}

export function layerTypes(): string[] {
  return [...registry.keys()].sort();
}

export function createLayer(param: LayerParameter): Layer {
  const type = param.type ?? '';
  const cls = registry.get(type);
  if (!cls) {
    throw new Error(`Unknown layer type: '${type}' (layer '${param.name ?? ''}'); known types: ${layerTypes().join(', ')}`);
  }
  return new cls(param);
}
