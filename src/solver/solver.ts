// Solver: Caffe's training loop (Solver::Solve/Step/Test/Snapshot/Restore) with its log lines, and the SGD family's
// ApplyUpdate (learning rate, gradient clipping, normalization, regularization, update rule).
import type { NetParameter, NetState, SolverParameter, SolverState } from '../proto/types.generated.js';
import { createMessage, has } from '../proto/caffe.js';
import { readProtoBinary, writeProtoBinaryAtomic } from '../proto/io.js';
import { printTextProto } from '../proto/textformat.js';
import { readNetParamsFromTextFile } from '../proto/upgrade.js';
import { Net } from '../net/net.js';
import { Blob } from '../blob/blob.js';
import { backend } from '../backend/backend.js';
import { logger } from '../util/log.js';
import { fmtG } from '../util/format.js';
import { setRandomSeed } from '../util/rng.js';
import { LearningRate } from './lr_policy.js';
import { createUpdateRule, type UpdateRule } from './updates.js';
import { loadHdf5 } from '../io/hdf5.js';
import { copyTrainedLayersFromFile, copyTrainedLayersFromHDF5, isHdf5File, netToHDF5 } from '../net/weights.js';
import { readSolverStateHDF5, writeSolverStateHDF5 } from './hdf5_snapshot.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';
import { syncBlobsToHost } from '../net/device_pass.js';
import { applyUpdateOnDevice, averageGradients, gradientNormOnDevice, scaleGradientsOnDevice } from './device_update.js';

const f = Math.fround;
const logS = logger('solver.cpp:239');
const logT = logger('solver.cpp:414');
const logU = logger('sgd_solver.cpp:112');

/** What a signal asks the solver to do (Caffe's SolverAction). */
export type SolverAction = 'none' | 'stop' | 'snapshot';

export interface SolverOptions {
  /** Polled once per iteration (and per test iteration), like Caffe's action callback for SIGINT/SIGHUP. */
  requestedAction?: () => SolverAction;
  /** Called after each iteration with the iteration number and smoothed loss (progress reporting). */
  onIteration?: (iter: number, loss: number) => void;
  /** Called after each test pass with named scores. */
  onTest?: (iter: number, scores: { name: string; value: number }[]) => void;
  /** Called with each snapshot's file names. */
  onSnapshot?: (files: { model: string; state: string }) => void;
  verbose?: boolean;
  /**
   * Train on these WebGPU devices (opened by the caller): the first holds the solver's nets; with several, each other
   * device trains a replica of the train net on its own batches and the gradients are averaged (Caffe's multi-GPU).
   */
  devices?: WebGpuDevice[];
}

export class Solver {
  net!: Net;
  testNets: Net[] = [];
  iter = 0;
  history: Blob[] = [];
  smoothedLoss = 0;
  requestedEarlyExit = false;
  /** The files of the last snapshot written (what a resume after a failure starts from). */
  lastSnapshot: { model: string; state: string } | undefined;
  private losses: number[] = [];
  /** Data-parallel replicas of the train net on devices 1.., each with its own update history. */
  private replicas: { net: Net; history: Blob[] }[] = [];
  private lr!: LearningRate;
  private trainNetParam: NetParameter | undefined;
  private readonly rule: UpdateRule;

  private constructor(readonly param: SolverParameter, private readonly opts: SolverOptions) {
    this.rule = createUpdateRule(param);
  }

  get type(): string {
    return this.rule.type;
  }

  static async create(param: SolverParameter, opts: SolverOptions = {}): Promise<Solver> {
    const s = new Solver(param, opts);
    try {
      await s.init();
    } catch (e) {
      await s.close().catch(() => undefined);
      throw e;
    }
    return s;
  }

  private async init(): Promise<void> {
    const p = this.param;
    logger('solver.cpp:45').info(`Initializing solver from parameters: \n${printTextProto(p, 'SolverParameter')}`);
    if ((p.average_loss ?? 1) < 1) throw new Error('solver: average_loss should be non-negative (>= 1)');
    const reg = p.regularization_type ?? 'L2';
    if (reg !== 'L2' && reg !== 'L1') throw new Error(`solver: unknown regularization_type '${reg}' (L1 or L2)`);
    if (has(p, 'random_seed') && (p.random_seed ?? -1) >= 0) setRandomSeed(p.random_seed!);
    await this.initTrainNet();
    await this.initTestNets();
    this.lr = new LearningRate(p);
    const n = this.net.learnableParams.length;
    for (let s = 0; s < this.rule.historySets; s++) {
      for (const b of this.net.learnableParams) this.history.push(new Blob([...b.shape]));
    }
    void n;
    await this.initDevices();
    logger('solver.cpp:57').info('Solver scaffolding done.');
  }

  private async initTrainNet(): Promise<void> {
    const p = this.param;
    const n = +has(p, 'net') + +has(p, 'net_param') + +has(p, 'train_net') + +has(p, 'train_net_param');
    if (n < 1) throw new Error('SolverParameter must specify a train net using one of these fields: net, net_param, train_net, train_net_param');
    if (n > 1) throw new Error('SolverParameter must not contain more than one of these fields specifying a train_net: net, net_param, train_net, train_net_param');
    const l = logger('solver.cpp:102');
    let netParam: NetParameter;
    if (has(p, 'train_net_param')) {
      l.info('Creating training net specified in train_net_param.');
      netParam = p.train_net_param!;
    } else if (has(p, 'train_net')) {
      l.info(`Creating training net from train_net file: ${p.train_net}`);
      netParam = readNetParamsFromTextFile(p.train_net!);
    } else if (has(p, 'net_param')) {
      l.info('Creating training net specified in net_param.');
      netParam = p.net_param!;
    } else {
      l.info(`Creating training net from net file: ${p.net}`);
      netParam = readNetParamsFromTextFile(p.net!);
    }
    const state = createMessage<NetState>('NetState', { phase: 0 });
    mergeState(state, netParam.state);
    mergeState(state, p.train_state);
    const np = createMessage<NetParameter>('NetParameter', { ...netParam, state });
    this.trainNetParam = np;
    const shard = (this.opts.devices?.length ?? 0) > 1 ? { index: 0, count: this.opts.devices!.length } : undefined;
    this.net = await Net.create(np, undefined, { verbose: this.opts.verbose, shard });
    for (const w of p.weights ?? []) await this.loadWeights(this.net, w);
    // HDF5 snapshots are written from the (synchronous) snapshot(): load the library up front.
    if (p.snapshot_format === 0) await loadHdf5();
  }

  private async initTestNets(): Promise<void> {
    const p = this.param;
    const generic = has(p, 'net') || has(p, 'net_param');
    const testParams = p.test_net_param ?? [];
    const testFiles = p.test_net ?? [];
    const numTestNets = testParams.length + testFiles.length;
    const testIter = p.test_iter ?? [];
    if (generic) {
      if (testIter.length < numTestNets) throw new Error('solver: test_iter must be specified for each test network.');
    } else if (testIter.length !== numTestNets) throw new Error('solver: test_iter must be specified for each test network.');
    const instances = numTestNets + (generic ? testIter.length - numTestNets : 0);
    const states = p.test_state ?? [];
    if (states.length && states.length !== instances) throw new Error('solver: test_state must be unspecified or specified once per test net.');
    if (instances && !((p.test_interval ?? 0) > 0)) throw new Error('solver: test_interval must be > 0 when test nets are given');
    const sources: { what: string; load: () => NetParameter }[] = [];
    for (const t of testParams) sources.push({ what: 'test_net_param', load: () => t });
    for (const file of testFiles) sources.push({ what: `test_net file: ${file}`, load: () => readNetParamsFromTextFile(file) });
    for (let i = numTestNets; i < instances; i++) {
      if (has(p, 'net_param')) sources.push({ what: 'net_param', load: () => p.net_param! });
      else sources.push({ what: `net file: ${p.net}`, load: () => readNetParamsFromTextFile(p.net!) });
    }
    for (let i = 0; i < sources.length; i++) {
      logger('solver.cpp:190').info(`Creating test net (#${i}) specified by ${sources[i]!.what}`);
      const netParam = sources[i]!.load();
      const state = createMessage<NetState>('NetState', { phase: 1 });
      mergeState(state, netParam.state);
      mergeState(state, states[i]);
      const np = createMessage<NetParameter>('NetParameter', { ...netParam, state });
      const net = await Net.create(np, undefined, { verbose: this.opts.verbose });
      for (const w of p.weights ?? []) await this.loadWeights(net, w);
      this.testNets.push(net);
    }
  }

  /** Moves the nets to the devices; replicas start from the train net's weights (Caffe broadcasts the root's). */
  private async initDevices(): Promise<void> {
    const devices = this.opts.devices ?? [];
    if (devices.length === 0) return;
    const netParam = this.net.toProto();
    for (let r = 1; r < devices.length; r++) {
      const src = this.trainNetParam!;
      const net = await Net.create(src, undefined, { verbose: false, shard: { index: r, count: devices.length } });
      net.copyTrainedLayersFrom(netParam, 'the train net');
      const history = this.history.map((h) => new Blob([...h.shape]));
      net.useDevice(devices[r]!);
      this.replicas.push({ net, history });
    }
    this.net.useDevice(devices[0]!);
    for (const t of this.testNets) t.useDevice(devices[0]!);
  }

  /** After a restore: the replicas take the root's weights and history. */
  private broadcastToReplicas(): void {
    if (this.replicas.length === 0) return;
    const weights = this.net.toProto();
    for (const r of this.replicas) {
      r.net.copyTrainedLayersFrom(weights, 'the train net');
      r.history.forEach((h, i) => h.data.set(this.history[i]!.cpuData));
    }
  }

  private async loadWeights(net: Net, files: string): Promise<void> {
    for (const file of files.split(',')) await copyTrainedLayersFromFile(net, file);
  }

  /** Caffe's Solver::Solve: optionally resume, train to max_iter, final snapshot and test. */
  async solve(resumeFile?: string): Promise<void> {
    const p = this.param;
    logger('solver.cpp:300').info(`Solving ${this.net.name}`);
    logger('solver.cpp:301').info(`Learning Rate Policy: ${p.lr_policy ?? 'fixed'}`);
    this.requestedEarlyExit = false;
    if (resumeFile) {
      logger('solver.cpp:306').info(`Restoring previous solver status from ${resumeFile}`);
      await this.restore(resumeFile);
    }
    await this.step((p.max_iter ?? 0) - this.iter);
    const snap = p.snapshot ?? 0;
    if ((p.snapshot_after_train ?? true) && (!snap || this.iter % snap !== 0)) await this.snapshot();
    if (this.requestedEarlyExit) {
      logger('solver.cpp:320').info('Optimization stopped early.');
      return;
    }
    const display = p.display ?? 0;
    if (display && this.iter % display === 0) {
      await this.net.prefetch();
      const loss = await this.net.forwardFromTo();
      this.updateSmoothedLoss(loss, this.iter, p.average_loss ?? 1);
      logger('solver.cpp:327').info(`Iteration ${this.iter}, loss = ${fmtG(this.smoothedLoss)}`);
    }
    const ti = p.test_interval ?? 0;
    if (ti && this.iter % ti === 0) await this.testAll();
    logger('solver.cpp:332').info('Optimization Done.');
  }

  async step(iters: number): Promise<void> {
    const p = this.param;
    const startIter = this.iter;
    const stopIter = this.iter + iters;
    const averageLoss = p.average_loss ?? 1;
    const display = p.display ?? 0;
    const iterSize = p.iter_size ?? 1;
    this.losses = [];
    this.smoothedLoss = 0;
    let timer = performance.now();
    let iterationsLast = this.iter;
    const nets = [this.net, ...this.replicas.map((r) => r.net)];
    while (this.iter < stopIter) {
      for (const net of nets) net.clearParamDiffs();
      const ti = p.test_interval ?? 0;
      if (ti && this.iter % ti === 0 && (this.iter > 0 || (p.test_initialization ?? true))) {
        await this.testAll();
        if (this.requestedEarlyExit) break;
      }
      const doDisplay = display > 0 && this.iter % display === 0;
      // Caffe: per-layer debug output on the display iterations only
      this.net.debugInfo = doDisplay && (p.debug_info ?? false);
      let loss = 0;
      // Replicas train on their own batches at the same time; the root's loss is the one logged, as in Caffe.
      for (let i = 0; i < iterSize; i++) loss += (await Promise.all(nets.map((n) => n.forwardBackward())))[0]!;
      loss /= iterSize;
      await averageGradients(nets);
      this.updateSmoothedLoss(loss, startIter, averageLoss);
      if (doDisplay) {
        const lapse = (performance.now() - timer) / 1000;
        const perS = (this.iter - iterationsLast) / (lapse || 1);
        logS.info(`Iteration ${this.iter} (${fmtG(perS)} iter/s, ${fmtG(lapse)}s/${display} iters), loss = ${fmtG(this.smoothedLoss)}`);
        timer = performance.now();
        iterationsLast = this.iter;
        await syncBlobsToHost(this.net.outputBlobs);
        this.logOutputs(this.net, (i, name, v, w) =>
          logger('solver.cpp:258').info(`    Train net output #${i}: ${name} = ${fmtG(v)}${w ? ` (* ${fmtG(w)} = ${fmtG(f(w * v))} loss)` : ''}`));
      }
      await this.applyUpdate(doDisplay);
      this.iter++;
      await yieldToEventLoop();
      this.opts.onIteration?.(this.iter, this.smoothedLoss);
      const request = this.opts.requestedAction?.() ?? 'none';
      const snap = p.snapshot ?? 0;
      if ((snap && this.iter % snap === 0) || request === 'snapshot') await this.snapshot();
      if (request === 'stop') {
        this.requestedEarlyExit = true;
        break;
      }
    }
  }

  private logOutputs(net: Net, emit: (index: number, name: string, value: number, weight: number) => void): void {
    let k = 0;
    net.outputBlobIndices.forEach((id) => {
      const b = net.blobs[id]!;
      const w = net.blobLossWeights[id] ?? 0;
      for (const v of b.cpuData) emit(k++, net.blobNames[id]!, v, w);
    });
  }

  private updateSmoothedLoss(loss: number, startIter: number, averageLoss: number): void {
    if (this.losses.length < averageLoss) {
      this.losses.push(loss);
      const n = this.losses.length;
      this.smoothedLoss = (this.smoothedLoss * (n - 1) + loss) / n;
    } else {
      const idx = (this.iter - startIter) % averageLoss;
      this.smoothedLoss += (loss - this.losses[idx]!) / averageLoss;
      this.losses[idx] = loss;
    }
  }

  /** The current learning rate (Caffe's GetLearningRate). */
  learningRate(): number {
    return this.lr.rate(this.iter);
  }

  private async applyUpdate(display: boolean): Promise<void> {
    const p = this.param;
    const rate = this.lr.rate(this.iter);
    if (display) logU.info(`Iteration ${this.iter}, lr = ${fmtG(rate)}`);
    if (this.net.gpu) {
      // Every replica holds the same averaged gradients: each applies the same update to its copy of the weights.
      for (const { net, history } of [{ net: this.net, history: this.history }, ...this.replicas]) {
        await this.clipGradients(net);
        applyUpdateOnDevice(net, history, p, this.rule.type, rate, this.iter);
      }
      return;
    }
    await this.clipGradients(this.net);
    const params = this.net.learnableParams;
    const iterSize = p.iter_size ?? 1;
    const be = backend();
    const wd = p.weight_decay ?? 0;
    const reg = p.regularization_type ?? 'L2';
    const n = params.length;
    if (this.rule.type === 'SGD' && reg === 'L2' && this.rule.historySets === 1) {
      // Plain SGD with L2 decay: decay, momentum and Blob::Update in one pass over each parameter.
      const momentum = p.momentum ?? 0;
      params.forEach((blob, i) => {
        if (iterSize > 1) be.scal(1 / iterSize, blob.diff);
        be.sgdStep(blob.data, blob.diff, this.history[i]!.data, wd * this.net.paramsWeightDecay[i]!, momentum,
          rate * this.net.paramsLr[i]!);
      });
      return;
    }
    params.forEach((blob, i) => {
      const g = blob.diff;
      if (iterSize > 1) be.scal(1 / iterSize, g);
      const localDecay = wd * this.net.paramsWeightDecay[i]!;
      if (localDecay) {
        const w = blob.data;
        if (reg === 'L2') be.axpy(localDecay, w, g);
        else for (let k = 0; k < g.length; k++) g[k]! += localDecay * Math.sign(w[k]!);
      }
      const hist = [];
      for (let s = 0; s < this.rule.historySets; s++) hist.push(this.history[s * n + i]!.data);
      this.rule.update(i, g, hist, rate * this.net.paramsLr[i]!, this.iter);
    });
    for (const blob of params) be.applyUpdate(blob.data, blob.diff);
  }

  /** Caffe's ClipGradients: scale all gradients down when their L2 norm exceeds clip_gradients (logged for the root net). */
  private async clipGradients(net: Net): Promise<void> {
    const clip = this.param.clip_gradients ?? -1;
    if (clip < 0) return;
    const l2 = net.gpu ? await gradientNormOnDevice(net) : Math.sqrt(net.learnableParams.reduce((s, b) => s + b.sumsqDiff(), 0));
    if (l2 <= clip) return;
    const scale = clip / l2;
    if (net === this.net) {
      logger('sgd_solver.cpp:92').info(`Gradient clipping: scaling down gradients (L2 norm ${fmtG(l2)} > ${fmtG(clip)}) by scale factor ${fmtG(scale)}`);
    }
    if (net.gpu) scaleGradientsOnDevice(net, scale);
    else for (const b of net.learnableParams) backend().scal(scale, b.diff);
  }

  async testAll(): Promise<void> {
    for (let i = 0; i < this.testNets.length && !this.requestedEarlyExit; i++) await this.test(i);
  }

  /** One test pass of test net `id` over test_iter batches, logged like Caffe. Returns the mean scores. */
  async test(id: number): Promise<{ name: string; value: number }[]> {
    logger('solver.cpp:347').info(`Iteration ${this.iter}, Testing net (#${id})`);
    const net = this.testNets[id]!;
    net.shareTrainedLayersWith(this.net);
    const iters = this.param.test_iter![id]!;
    const computeLoss = this.param.test_compute_loss ?? false;
    let loss = 0;
    const scores: number[] = [];
    const outIds: number[] = [];
    for (let i = 0; i < iters; i++) {
      await yieldToEventLoop();
      const request = this.opts.requestedAction?.() ?? 'none';
      if (request === 'snapshot') await this.snapshot();
      if (request === 'stop') {
        this.requestedEarlyExit = true;
        break;
      }
      const iterLoss = await net.forward();
      if (computeLoss) loss = f(loss + iterLoss);
      await syncBlobsToHost(net.outputBlobs);
      let k = 0;
      net.outputBlobIndices.forEach((bid, j) => {
        for (const v of net.blobs[bid]!.cpuData) {
          if (i === 0) { scores.push(v); outIds.push(j); }
          else scores[k] = f(scores[k]! + v);
          k++;
        }
      });
    }
    if (this.requestedEarlyExit) {
      logger('solver.cpp:366').info('Test interrupted.');
      return [];
    }
    if (computeLoss) logger('solver.cpp:400').info(`Test loss: ${fmtG(loss / iters)}`);
    const result = scores.map((s, i) => {
      const bid = net.outputBlobIndices[outIds[i]!]!;
      const name = net.blobNames[bid]!;
      const w = net.blobLossWeights[bid] ?? 0;
      const mean = f(s / iters);
      logT.info(`    Test net output #${i}: ${name} = ${fmtG(mean)}${w ? ` (* ${fmtG(w)} = ${fmtG(f(w * mean))} loss)` : ''}`);
      return { name, value: mean };
    });
    this.opts.onTest?.(this.iter, result);
    return result;
  }

  snapshotFilename(ext: string): string {
    return `${this.param.snapshot_prefix ?? ''}_iter_${this.iter}${ext}`;
  }

  /**
   * Write <prefix>_iter_N.caffemodel and .solverstate (binary) or .caffemodel.h5 and .solverstate.h5, atomically; on a
   * device, the weights and history are read back first.
   */
  async snapshot(): Promise<{ model: string; state: string }> {
    await syncBlobsToHost([...this.net.learnableParams, ...this.history]);
    if (!has(this.param, 'snapshot_prefix')) {
      logger('solver.cpp:450').warn('snapshot_prefix is not set: snapshots go to the current directory with an empty prefix');
    }
    if ((this.param.snapshot_format ?? 1) === 0) return this.snapshotHDF5();
    const model = this.snapshotFilename('.caffemodel');
    logger('solver.cpp:464').info(`Snapshotting to binary proto file ${model}`);
    writeProtoBinaryAtomic(model, 'NetParameter', this.net.toProto(this.param.snapshot_diff ?? false));
    const state = this.snapshotFilename('.solverstate');
    logger('sgd_solver.cpp:284').info(`Snapshotting solver state to binary proto file ${state}`);
    const st: SolverState = {
      iter: this.iter,
      learned_net: model,
      history: this.history.map((h) => h.toProto()),
      current_step: this.lr.currentStep,
    };
    writeProtoBinaryAtomic(state, 'SolverState', st);
    const files = { model, state };
    this.lastSnapshot = files;
    this.opts.onSnapshot?.(files);
    return files;
  }

  /** Caffe's SnapshotToHDF5 + SnapshotSolverStateToHDF5 (the library was loaded by create()). */
  private snapshotHDF5(): { model: string; state: string } {
    const model = this.snapshotFilename('.caffemodel.h5');
    logger('solver.cpp:474').info(`Snapshotting to HDF5 file ${model}`);
    netToHDF5(this.net, model, this.param.snapshot_diff ?? false);
    const state = this.snapshotFilename('.solverstate.h5');
    logger('sgd_solver.cpp:296').info(`Snapshotting solver state to HDF5 file ${state}`);
    writeSolverStateHDF5(state, this.iter, model, this.lr.currentStep, this.history);
    const files = { model, state };
    this.lastSnapshot = files;
    this.opts.onSnapshot?.(files);
    return files;
  }

  /**
   * Resume from a .solverstate (or, by the .h5 name as Caffe picks, a .solverstate.h5): iteration, learned weights
   * (learned_net), lr step and update history; the replicas of a multi-device solver take them too.
   */
  async restore(stateFile: string): Promise<void> {
    // Weights and history newer on a device come back first: the host copies are overwritten here.
    await syncBlobsToHost([this, ...this.replicas].flatMap((s) => [...s.net.learnableParams, ...s.history]));
    if (isHdf5File(stateFile)) {
      await loadHdf5();
      this.restoreHDF5(stateFile);
    } else this.restoreProto(stateFile);
    this.broadcastToReplicas();
  }

  private restoreProto(stateFile: string): void {
    const st = readProtoBinary<SolverState>(stateFile, 'SolverState');
    this.iter = st.iter ?? 0;
    if (has(st, 'learned_net')) {
      const trained = readProtoBinary<NetParameter>(st.learned_net!, 'NetParameter');
      this.net.copyTrainedLayersFrom(trained, st.learned_net!);
    }
    this.lr.currentStep = st.current_step ?? 0;
    const hist = st.history ?? [];
    if (hist.length !== this.history.length) {
      throw new Error(`${stateFile}: Incorrect length of history blobs (${hist.length}, the ${this.type} solver needs ${this.history.length})`);
    }
    logger('sgd_solver.cpp:318').info('SGDSolver: restoring history');
    hist.forEach((h, i) => this.history[i]!.fromProto(h, false, `${stateFile} history ${i}`));
  }

  private restoreHDF5(stateFile: string): void {
    const st = readSolverStateHDF5(stateFile);
    this.iter = st.iter;
    if (st.learnedNet !== undefined) {
      if (isHdf5File(st.learnedNet)) copyTrainedLayersFromHDF5(this.net, st.learnedNet);
      else this.net.copyTrainedLayersFrom(readProtoBinary<NetParameter>(st.learnedNet, 'NetParameter'), st.learnedNet);
    }
    this.lr.currentStep = st.currentStep;
    if (st.history.length !== this.history.length) {
      throw new Error(`${stateFile}: Incorrect length of history blobs (${st.history.length}, the ${this.type} solver needs ${this.history.length})`);
    }
    st.history.forEach((h, i) => {
      const b = this.history[i]!;
      if (!b.sameShape(h.shape)) throw new Error(`${stateFile}: Cannot load history ${i} from hdf5; dataset shape ${h.shape.join(' ')} and blob shape ${b.shape.join(' ')}`);
      b.data.set(h.data);
    });
  }

  async close(): Promise<void> {
    await this.net?.close();
    for (const r of this.replicas) await r.net.close();
    for (const n of this.testNets) await n.close();
  }
}

/**
 * Let the event loop run (signals, timers, I/O): data reads from LMDB resolve as microtasks, so without this a training
 * loop would never let SIGINT/SIGHUP handlers run.
 */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function mergeState(dst: NetState, src: NetState | null | undefined): void {
  if (!src) return;
  if (has(src, 'phase')) dst.phase = src.phase!;
  if (has(src, 'level')) dst.level = src.level!;
  if (src.stage?.length) dst.stage = [...(dst.stage ?? []), ...src.stage];
}
