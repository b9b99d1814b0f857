// Net: a DAG of layers built from a NetParameter exactly as Caffe's Net::Init builds it: state filtering, split
// insertion, in-place layers, loss weights, parameter sharing by name, lr/decay multipliers, and backward only where
// a loss depends on it.
import { backwardDebugInfo, forwardDebugInfo, paramsDebugInfo } from './debug_info.js';
import type { LayerParameter, NetParameter, NetState, ParamSpec } from '../proto/types.generated.js';
import { createMessage, decodeMessage, encodeMessage, has, paramOf } from '../proto/caffe.js';
import { Blob } from '../blob/blob.js';
import { createLayer, type Layer } from '../layers/layer.js';
import '../layers/index.js';
import '../backend/all.js';
import { logger } from '../util/log.js';
import { fmtG } from '../util/format.js';
import { filterNet, insertSplits } from './filter.js';
import { printTextProto } from '../proto/textformat.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import { backwardLayerOnDevice, forwardLayerOnDevice, syncBlobsToHost } from './device_pass.js';

const log = logger('net.cpp:86');

export interface NetOptions {
  /** Print Caffe's construction log lines (default true). */
  verbose?: boolean;
  /** Data-parallel training: this net is replica `index` of `count`; its data layers read every count-th batch. */
  shard?: { index: number; count: number };
}

export class Net {
  readonly name: string;
  readonly phase: number;
  layers: Layer[] = [];
  layerNames: string[] = [];
  blobs: Blob[] = [];
  blobNames: string[] = [];
  bottomVecs: Blob[][] = [];
  bottomIds: number[][] = [];
  topVecs: Blob[][] = [];
  topIds: number[][] = [];
  bottomNeedBackward: boolean[][] = [];
  layerNeedBackward: boolean[] = [];
  blobNeedBackward: boolean[] = [];
  /** All parameter blobs, in layer order (shared ones included). */
  params: Blob[] = [];
  paramOwners: number[] = [];
  paramDisplayNames: string[] = [];
  /** Parameter blobs that own their storage: what solvers update. */
  learnableParams: Blob[] = [];
  paramsLr: number[] = [];
  paramsWeightDecay: number[] = [];
  inputBlobIndices: number[] = [];
  outputBlobIndices: number[] = [];
  blobLossWeights: number[] = [];
  /** Per layer, the net ids (indices into `params`) of its parameter blobs. */
  paramIds: number[][] = [];
  /** Caffe's debug_info: log the mean absolute value of every top, bottom diff and parameter at each pass (debug_info.ts). */
  debugInfo: boolean;
  readonly verbose: boolean;
  private readonly shard: { index: number; count: number } | undefined;

  private constructor(param: NetParameter, opts: NetOptions) {
    this.name = param.name ?? '';
    this.phase = param.state?.phase ?? 1;
    this.verbose = opts.verbose ?? true;
    this.shard = opts.shard;
    this.debugInfo = param.debug_info ?? false;
  }

  /** Build a net; `phase` (0 TRAIN, 1 TEST), `level` and `stages` override the NetParameter's state when given. */
  static async create(param: NetParameter, phase?: number, opts: NetOptions = {}, level?: number, stages?: string[]): Promise<Net> {
    // A private copy: filtering and phase defaults must not change the caller's message.
    const p = decodeMessage<NetParameter>('NetParameter', encodeMessage('NetParameter', param));
    const state = createMessage<NetState>('NetState', p.state ?? {});
    if (phase !== undefined) state.phase = phase;
    if (level !== undefined) state.level = level;
    if (stages !== undefined) state.stage = stages;
    p.state = state;
    const net = new Net(p, opts);
    await net.init(p);
    return net;
  }

  private info(msg: string): void {
    if (this.verbose) log.info(msg);
  }

  private async init(param: NetParameter): Promise<void> {
    if ((param.layers ?? []).length) {
      throw new Error(`net '${this.name}' uses the deprecated V1 'layers' field: upgrade it first (tscaffe upgrade_net_proto_text)`);
    }
    const filtered = filterNet(param);
    if (this.verbose) {
      const shown = createMessage<NetParameter>('NetParameter', { ...param, layer: filtered });
      logger('net.cpp:53').info(`Initializing net from parameters: \n${printTextProto(shown, 'NetParameter')}`);
    }
    const layerParams = insertSplits(filtered);
    const available = new Set<string>();
    const nameToIdx = new Map<string, number>();
    let memory = 0;
    const paramNamesIndex = new Map<string, number>();
    const hasLr: boolean[] = [];
    const hasDecay: boolean[] = [];
    const learnableIds: number[] = [];
    for (let li = 0; li < layerParams.length; li++) {
      const lp = layerParams[li]!;
      if (!has(lp, 'phase')) lp.phase = this.phase;
      const lname = lp.name ?? '';
      const pd = lp.propagate_down ?? [];
      if (pd.length && pd.length !== (lp.bottom ?? []).length) {
        throw new Error(`layer '${lname}': propagate_down must be given once per bottom blob (${(lp.bottom ?? []).length})`);
      }
      this.info(`Creating Layer ${lname}`);
      const layer = createLayer(lp);
      if (this.shard) layer.shard = this.shard;
      await layer.init();
      this.layers.push(layer);
      this.layerNames.push(lname);
      const bottoms: Blob[] = [], bIds: number[] = [], bNeed: boolean[] = [];
      let needBackward = false;
      (lp.bottom ?? []).forEach((bname, bi) => {
        if (!available.has(bname)) throw new Error(`Unknown bottom blob '${bname}' (layer '${lname}', bottom index ${bi})`);
        const id = nameToIdx.get(bname)!;
        this.info(`${lname} <- ${bname}`);
        bottoms.push(this.blobs[id]!);
        bIds.push(id);
        bNeed.push(pd.length ? pd[bi]! : this.blobNeedBackward[id]!);
        available.delete(bname);
        needBackward ||= this.blobNeedBackward[id]!;
      });
      const tops: Blob[] = [], tIds: number[] = [];
      const appendTop = (tname: string | undefined, ti: number) => {
        if (tname !== undefined && (lp.bottom ?? [])[ti] === tname) {
          this.info(`${lname} -> ${tname} (in-place)`);
          const id = nameToIdx.get(tname)!;
          tops.push(this.blobs[id]!); tIds.push(id);
          available.add(tname);
          return;
        }
        if (tname !== undefined && nameToIdx.has(tname)) {
          throw new Error(`Top blob '${tname}' produced by multiple sources (layer '${lname}')`);
        }
        const b = new Blob();
        const id = this.blobs.length;
        const name = tname ?? '';
        b.name = `blob ${name || `#${id}`}`;
        if (tname !== undefined) this.info(`${lname} -> ${tname}`);
        this.blobs.push(b); this.blobNames.push(name); this.blobNeedBackward.push(false);
        if (tname !== undefined) nameToIdx.set(tname, id);
        tops.push(b); tIds.push(id);
        available.add(name);
        if (lp.type === 'Input') this.inputBlobIndices.push(id);
      };
      (lp.top ?? []).forEach((t, ti) => appendTop(t, ti));
      if (layer.autoTopBlobs()) {
        const needed = Math.max(layer.exactNumTopBlobs(), layer.minTopBlobs());
        for (let ti = tops.length; ti < needed; ti++) appendTop(undefined, ti);
      }
      this.bottomVecs.push(bottoms); this.bottomIds.push(bIds); this.bottomNeedBackward.push(bNeed);
      this.topVecs.push(tops); this.topIds.push(tIds);
      try {
        layer.setUp(bottoms, tops);
      } catch (e) {
        const msg = (e as Error).message;
        throw new Error(msg.includes(lname) ? msg : `Layer ${lname} (type ${lp.type}): ${msg}`);
      }
      this.info(`Setting up ${lname}`);
      tops.forEach((t, ti) => {
        const id = tIds[ti]!;
        this.blobLossWeights[id] = layer.lossWeights[ti] ?? 0;
        this.info(`Top shape: ${t.shapeString()}`);
        if (layer.lossWeights[ti]) this.info(`    with loss weight ${fmtG(layer.lossWeights[ti]!)}`);
        memory += t.count();
      });
      this.info(`Memory required for data: ${memory * 4}`);
      const specs: ParamSpec[] = lp.param ?? [];
      if (specs.length > layer.blobs.length) {
        throw new Error(`Too many params specified for layer '${lname}' (${specs.length} param specs, ${layer.blobs.length} parameter blobs)`);
      }
      layer.paramPropagateDown = layer.blobs.map(() => true);
      this.paramIds.push(layer.blobs.map((_, pi) => this.params.length + pi));
      layer.blobs.forEach((blob, pi) => {
        const spec = paramOf<ParamSpec>('ParamSpec', specs[pi]);
        const lr = spec.lr_mult ?? 1;
        layer.paramPropagateDown[pi] = lr !== 0;
        needBackward ||= lr !== 0;
        const netId = this.params.length;
        blob.name = `layer ${lname} param ${pi}`;
        this.params.push(blob);
        const pname = spec.name ?? '';
        this.paramDisplayNames.push(pname || String(pi));
        if (!pname || !paramNamesIndex.has(pname)) {
          this.paramOwners.push(-1);
          if (pname) paramNamesIndex.set(pname, netId);
          learnableIds.push(this.learnableParams.length);
          this.learnableParams.push(blob);
          hasLr.push(has(spec, 'lr_mult'));
          hasDecay.push(has(spec, 'decay_mult'));
          this.paramsLr.push(lr);
          this.paramsWeightDecay.push(spec.decay_mult ?? 1);
        } else {
          const owner = paramNamesIndex.get(pname)!;
          this.paramOwners.push(owner);
          const ownerBlob = this.params[owner]!;
          const mode = spec.share_mode ?? 0;
          if (mode === 1 ? ownerBlob.count() !== blob.count() : !ownerBlob.sameShape(blob.shape)) {
            throw new Error(`Cannot share param '${pname}' owned by layer '${this.layerNames[this.layerOfParam(owner)]}' with layer '${lname}'; shape mismatch. Owner shape is ${ownerBlob.shapeString()}; sharing layer shape is ${blob.shapeString()}`);
          }
          const lid = learnableIds[owner]!;
          learnableIds.push(lid);
          if (has(spec, 'lr_mult')) {
            if (hasLr[lid] && this.paramsLr[lid] !== lr) throw new Error(`Shared param '${pname}' has mismatched lr_mult.`);
            hasLr[lid] = true; this.paramsLr[lid] = lr;
          }
          if (has(spec, 'decay_mult')) {
            if (hasDecay[lid] && this.paramsWeightDecay[lid] !== spec.decay_mult) throw new Error(`Shared param '${pname}' has mismatched decay_mult.`);
            hasDecay[lid] = true; this.paramsWeightDecay[lid] = spec.decay_mult!;
          }
        }
      });
      this.layerNeedBackward.push(needBackward);
      if (needBackward) for (const id of tIds) this.blobNeedBackward[id] = true;
    }
    this.pruneBackward(param);
    for (const name of available) {
      this.info(`This network produces output ${name}`);
      this.outputBlobIndices.push(nameToIdx.get(name)!);
    }
    // Keep Caffe's output order: by blob index.
    this.outputBlobIndices.sort((a, b) => a - b);
    this.shareWeights();
    this.info('Network initialization done.');
  }

  private layerOfParam(netParamId: number): number {
    let n = 0;
    for (let i = 0; i < this.layers.length; i++) {
      n += this.layers[i]!.blobs.length;
      if (netParamId < n) return i;
    }
    return -1;
  }

  private pruneBackward(param: NetParameter): void {
    const underLoss = new Set<string>();
    const skipBackp = new Set<string>();
    const logs: string[] = [];
    for (let li = this.layers.length - 1; li >= 0; li--) {
      const layer = this.layers[li]!;
      let contributes = false;
      let skipPropagate = true;
      this.topIds[li]!.forEach((id, ti) => {
        const name = this.blobNames[id]!;
        if ((layer.lossWeights[ti] ?? 0) !== 0 || underLoss.has(name)) contributes = true;
        if (!skipBackp.has(name)) skipPropagate = false;
      });
      if (this.layerNeedBackward[li] && skipPropagate) {
        this.layerNeedBackward[li] = false;
        this.bottomNeedBackward[li] = this.bottomNeedBackward[li]!.map(() => false);
      }
      if (!contributes) this.layerNeedBackward[li] = false;
      logs.push(`${this.layerNames[li]} ${this.layerNeedBackward[li] ? 'needs' : 'does not need'} backward computation.`);
      this.bottomIds[li]!.forEach((id, bi) => {
        const name = this.blobNames[id]!;
        if (contributes) underLoss.add(name);
        else this.bottomNeedBackward[li]![bi] = false;
        if (!this.bottomNeedBackward[li]![bi]) skipBackp.add(name);
      });
    }
    if (param.force_backward) {
      this.layers.forEach((layer, li) => {
        this.layerNeedBackward[li] = true;
        this.bottomNeedBackward[li] = this.bottomNeedBackward[li]!.map((nb, bi) => nb || layer.allowForceBackward(bi));
        this.bottomIds[li]!.forEach((id, bi) => { this.blobNeedBackward[id] ||= this.bottomNeedBackward[li]![bi]!; });
        layer.paramPropagateDown = layer.blobs.map(() => true);
      });
    }
    for (const l of logs) this.info(l);
  }

  private shareWeights(): void {
    this.params.forEach((p, i) => {
      const owner = this.paramOwners[i]!;
      if (owner < 0) return;
      p.shareData(this.params[owner]!);
      p.shareDiff(this.params[owner]!);
    });
  }

  /** Await every layer's background work (e.g. data prefetch) before a forward pass. */
  async prefetch(): Promise<void> {
    for (const l of this.layers) await l.prefetch();
  }

  /** The device this net runs on (useDevice), or undefined: the host's CPU backend. */
  gpu: WebGpuDevice | undefined;
  private lossBuffer: GPUBuffer | undefined;

  /**
   * Run on a WebGPU device from now on: blobs move there as the layers' device paths touch them (see device_pass.ts);
   * read results on the host after `await syncToHost()`.
   */
  useDevice(gpu: WebGpuDevice): void {
    this.gpu = gpu;
    this.lossBuffer = gpu.alloc(1, `net ${this.name} loss`);
  }

  /** Bring every blob and parameter of the net to the host (a no-op on the CPU). */
  async syncToHost(): Promise<void> {
    if (this.gpu) await syncBlobsToHost([...this.blobs, ...this.params]);
  }

  /** Forward through layers [start, end] (Caffe's ForwardFromTo), on the host or the device; returns the total weighted loss. */
  async forwardFromTo(start = 0, end = this.layers.length - 1): Promise<number> {
    if (!this.gpu) return this.forwardOnHost(start, end);
    return (await this.recordForward(start, end))();
  }

  /**
   * The device forward pass, recorded; returns how to read its loss, so that a caller may record more work (the
   * backward pass) before the host waits for the device.
   */
  private async recordForward(start: number, end: number): Promise<() => Promise<number>> {
    const gpu = this.gpu!;
    let hostLoss = 0, onDevice = false;
    for (let i = start; i <= end; i++) {
      const r = await forwardLayerOnDevice(this.layers[i]!, this.bottomVecs[i]!, this.topVecs[i]!, gpu, this.lossBuffer!, onDevice);
      hostLoss += r.hostLoss;
      onDevice ||= r.deviceLoss;
      if (this.debugInfo) {
        await this.syncToHost();
        forwardDebugInfo(this, i);
      }
    }
    const loss = this.lossBuffer!;
    return async () => hostLoss + (onDevice ? (await gpu.download(loss, 1))[0]! : 0);
  }

  private forwardOnHost(start: number, end: number): number {
    let loss = 0;
    for (let i = start; i <= end; i++) {
      loss += this.layers[i]!.forwardWithLoss(this.bottomVecs[i]!, this.topVecs[i]!);
      if (this.debugInfo) forwardDebugInfo(this, i);
    }
    return loss;
  }

  /** Await data, run forward; returns the loss. Outputs are in `outputBlobs`. */
  async forward(): Promise<number> {
    await this.prefetch();
    return this.forwardFromTo();
  }

  async backward(): Promise<void> {
    const gpu = this.gpu;
    if (gpu) {
      for (let i = this.layers.length - 1; i >= 0; i--) {
        if (!this.layerNeedBackward[i]) continue;
        await backwardLayerOnDevice(this.layers[i]!, this.topVecs[i]!, this.bottomNeedBackward[i]!, this.bottomVecs[i]!, gpu);
        if (this.debugInfo) {
          await this.syncToHost();
          backwardDebugInfo(this, i);
        }
      }
      if (this.debugInfo) paramsDebugInfo(this);
      return;
    }
    for (let i = this.layers.length - 1; i >= 0; i--) {
      if (!this.layerNeedBackward[i]) continue;
      this.layers[i]!.backward(this.topVecs[i]!, this.bottomNeedBackward[i]!, this.bottomVecs[i]!);
      if (this.debugInfo) backwardDebugInfo(this, i);
    }
    if (this.debugInfo) paramsDebugInfo(this);
  }

  async forwardBackward(): Promise<number> {
    if (this.gpu) {
      // Forward and backward recorded before the one wait for the loss: the device runs both without a pause.
      await this.prefetch();
      const loss = await this.recordForward(0, this.layers.length - 1);
      await this.backward();
      return loss();
    }
    const loss = await this.forward();
    await this.backward();
    return loss;
  }

  /** Re-run every layer's reshape, e.g. after changing an input blob's shape. */
  reshape(): void {
    for (let i = 0; i < this.layers.length; i++) this.layers[i]!.reshape(this.bottomVecs[i]!, this.topVecs[i]!);
  }

  get outputBlobs(): Blob[] {
    return this.outputBlobIndices.map((i) => this.blobs[i]!);
  }

  get outputBlobNames(): string[] {
    return this.outputBlobIndices.map((i) => this.blobNames[i]!);
  }

  get inputBlobs(): Blob[] {
    return this.inputBlobIndices.map((i) => this.blobs[i]!);
  }

  blobByName(name: string): Blob | undefined {
    const i = this.blobNames.indexOf(name);
    return i >= 0 ? this.blobs[i] : undefined;
  }

  layerByName(name: string): Layer | undefined {
    const i = this.layerNames.indexOf(name);
    return i >= 0 ? this.layers[i] : undefined;
  }

  clearParamDiffs(): void {
    const gpu = this.gpu;
    if (gpu) for (const p of this.learnableParams) gpu.kernels.scal(p.count(), 0, p.deviceDiff(gpu, true));
    else for (const p of this.learnableParams) p.diff.fill(0);
  }

  /** Copy weights from a trained NetParameter by layer name (Caffe's CopyTrainedLayersFrom). */
  copyTrainedLayersFrom(trained: NetParameter, what = 'weights'): void {
    const logc = logger('net.cpp:744');
    for (const src of trained.layer ?? []) {
      const name = src.name ?? '';
      const target = this.layerByName(name);
      if (!target) {
        if (this.verbose) logc.info(`Ignoring source layer ${name}`);
        continue;
      }
      if (this.verbose) logc.info(`Copying source layer ${name}`);
      const blobs = src.blobs ?? [];
      if (blobs.length !== target.blobs.length) {
        throw new Error(`${what}: Incompatible number of blobs for layer ${name} (the file has ${blobs.length}, the net has ${target.blobs.length})`);
      }
      blobs.forEach((bp, j) => {
        const tb = target.blobs[j]!;
        try {
          tb.fromProto(bp, false, what);
        } catch {
          const shape = new Blob();
          shape.fromProto(bp, true);
          throw new Error(`${what}: Cannot copy param ${j} weights from layer '${name}'; shape mismatch.  Source param shape is ${shape.shapeString()}; target param shape is ${tb.shapeString()}. To learn this layer's parameters from scratch rather than copying from a saved net, rename the layer.`);
        }
      });
    }
  }

  /** Share (not copy) the weights of the same-named layers of `other` (the solver's test nets use the train net's). */
  shareTrainedLayersWith(other: Net): void {
    other.layers.forEach((src, i) => {
      const target = this.layerByName(other.layerNames[i]!);
      if (!target) return;
      if (target.blobs.length !== src.blobs.length) throw new Error(`Incompatible number of blobs for layer ${other.layerNames[i]}`);
      target.blobs.forEach((b, j) => {
        const s = src.blobs[j]!;
        if (!b.sameShape(s.shape)) throw new Error(`Cannot share param ${j} weights from layer '${other.layerNames[i]}'; shape mismatch`);
        b.shareData(s);
      });
    });
  }

  /** The net with its learned blobs, as Caffe's Net::ToProto writes it into a .caffemodel. */
  toProto(writeDiff = false): NetParameter {
    return createMessage<NetParameter>('NetParameter', {
      name: this.name,
      layer: this.layers.map((l) => l.toProto(writeDiff)),
    });
  }

  async close(): Promise<void> {
    for (const l of this.layers) await l.close();
  }
}

export type { LayerParameter };
