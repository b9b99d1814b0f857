// `tscaffe train | test | time | device_query`: Caffe's `caffe` tool with its flags and log lines.
import type { NetParameter, SolverParameter } from '../proto/types.generated.js';
import { readNetParamsFromTextFile, readSolverParamsFromTextFile } from '../proto/upgrade.js';
import { copyTrainedLayersFromFile } from '../net/weights.js';
import { has } from '../proto/caffe.js';
import { Net } from '../net/net.js';
import { Solver, type SolverAction } from '../solver/solver.js';
import { backend } from '../backend/backend.js';

import '../backend/all.js';
import { findGpuAdapters, formatAdapter } from '../backend/webgpu/device.js';
import { closeDevices, deviceLostMessage, openDevices } from './devices.js';
import { backwardLayerOnDevice, forwardLayerOnDevice, hasDevicePath, syncBlobsToHost } from '../net/device_pass.js';
import { logger } from '../util/log.js';
import { fmtG } from '../util/format.js';
import type { Command } from './command.js';
import { UsageError, type FlagSpec } from './flags.js';

const f = Math.fround;

const common: Record<string, FlagSpec> = {
  gpu: { type: 'string', default: '', help: "Optional; run in GPU mode on given device IDs separated by ','. Use '-gpu all' to run on all available GPUs." },
  level: { type: 'int', default: 0, help: 'Optional; network level.' },
  stage: { type: 'string', default: '', help: 'Optional; network stages (not to be confused with phase), separated by \',\'.' },
  threads: { type: 'int', default: 0, help: 'Optional; CPU threads for the wasm backend (0: all cores; TSCAFFE_THREADS).' },
};

function stagesOf(s: unknown): string[] {
  return String(s ?? '').split(',').filter((x) => x.length > 0);
}

export function installSignalHandlers(sigint: string, sighup: string): { action: () => SolverAction; dispose: () => void } {
  const parse = (v: string, flag: string): SolverAction => {
    if (v === 'stop' || v === 'snapshot' || v === 'none') return v;
    throw new UsageError(`-${flag} must be stop, snapshot or none (got '${v}')`);
  };
  const onInt = parse(sigint, 'sigint_effect');
  const onHup = parse(sighup, 'sighup_effect');
  let pending: SolverAction = 'none';
  const hInt = () => { pending = onInt; };
  const hHup = () => { pending = onHup; };
  process.on('SIGINT', hInt);
  process.on('SIGHUP', hHup);
  return {
    action: () => { const a = pending; pending = 'none'; return a; },
    dispose: () => { process.off('SIGINT', hInt); process.off('SIGHUP', hHup); },
  };
}

export const trainCommand: Command = {
  summary: 'train or finetune a model (caffe train)',
  usage: '-solver solver.prototxt [-snapshot X.solverstate | -weights A.caffemodel[,B]] [-gpu 0|0,1|all]',
  flags: {
    solver: { type: 'string', default: '', help: 'The solver definition protocol buffer text file.' },
    snapshot: { type: 'string', default: '', help: 'Optional; the snapshot solver state to resume training.' },
    weights: { type: 'string', default: '', help: "Optional; the pretrained weights to initialize finetuning, separated by ','. Cannot be set simultaneously with snapshot." },
    iterations: { type: 'int', default: 0, help: 'Optional; override max_iter of the solver (0: keep).' },
    sigint_effect: { type: 'string', default: 'stop', help: 'Optional; action to take when a SIGINT signal is received: snapshot, stop or none.' },
    sighup_effect: { type: 'string', default: 'snapshot', help: 'Optional; action to take when a SIGHUP signal is received: snapshot, stop or none.' },
    ...common,
  },
  async run({ flags }) {
    const solverFile = String(flags.solver ?? '');
    if (!solverFile) throw new UsageError('Need a solver definition to train.');
    if (flags.snapshot && flags.weights) {
      throw new UsageError('Give a snapshot to resume training or weights to finetune but not both.');
    }
    const sp = readSolverParamsFromTextFile<SolverParameter>(solverFile);
    sp.train_state = { ...(sp.train_state ?? {}), level: Number(flags.level), stage: stagesOf(flags.stage) } as SolverParameter['train_state'];
    if (Number(flags.iterations) > 0) sp.max_iter = Number(flags.iterations);
    if (flags.weights) sp.weights = [...(sp.weights ?? []), ...String(flags.weights).split(',')];
    const devices = await openDevices(String(flags.gpu ?? ''), flags.threads, sp);
    const signals = installSignalHandlers(String(flags.sigint_effect), String(flags.sighup_effect));
    try {
      const solver = await Solver.create(sp, { requestedAction: signals.action, devices });
      try {
        if (flags.snapshot) logger('caffe.cpp:235').info(`Resuming from ${flags.snapshot}`);
        logger('caffe.cpp:239').info('Starting Optimization');
        await solver.solve(flags.snapshot ? String(flags.snapshot) : undefined);
        logger('caffe.cpp:250').info('Optimization Done.');
      } catch (e) {
        const lost = deviceLostMessage(devices, solverFile, solver.lastSnapshot?.state ?? (flags.snapshot ? String(flags.snapshot) : undefined));
        if (!lost) throw e;
        logger('caffe.cpp:252').error(lost);
        return 1;
      } finally {
        await solver.close();
      }
    } finally {
      signals.dispose();
      closeDevices(devices);
    }
    return 0;
  },
};

async function loadNet(model: string, phase: number, level: number, stages: string[], weights?: string): Promise<Net> {
  const np = readNetParamsFromTextFile<NetParameter>(model);
  const net = await Net.create(np, phase, {}, level, stages);
  if (weights) for (const w of weights.split(',')) await copyTrainedLayersFromFile(net, w);
  return net;
}

export const testCommand: Command = {
  summary: 'score a model (caffe test)',
  usage: '-model net.prototxt -weights w.caffemodel [-iterations 50]',
  flags: {
    model: { type: 'string', default: '', help: 'The model definition protocol buffer text file.' },
    weights: { type: 'string', default: '', help: "The trained weights, separated by ','." },
    iterations: { type: 'int', default: 50, help: 'The number of iterations to run.' },
    ...common,
  },
  async run({ flags }) {
    if (!flags.model) throw new UsageError('Need a model definition to score.');
    if (!flags.weights) throw new UsageError('Need model weights to score.');
    const devices = await openDevices(String(flags.gpu ?? ''), flags.threads);
    const net = await loadNet(String(flags.model), 1, Number(flags.level), stagesOf(flags.stage), String(flags.weights));
    if (devices[0]) net.useDevice(devices[0]);
    const iters = Number(flags.iterations);
    const l = logger('caffe.cpp:304');
    logger('caffe.cpp:290').info(`Running for ${iters} iterations.`);
    const scores: number[] = [];
    const outIds: number[] = [];
    let loss = 0;
    try {
      for (let i = 0; i < iters; i++) {
        loss = f(loss + (await net.forward()));
        await syncBlobsToHost(net.outputBlobs);
        let idx = 0;
        net.outputBlobIndices.forEach((bid, j) => {
          for (const v of net.blobs[bid]!.cpuData) {
            if (i === 0) { scores.push(v); outIds.push(j); } else scores[idx] = f(scores[idx]! + v);
            idx++;
            l.info(`Batch ${i}, ${net.blobNames[bid]} = ${fmtG(v)}`);
          }
        });
      }
    } finally {
      await net.close();
      closeDevices(devices);
    }
    logger('caffe.cpp:309').info(`Loss: ${fmtG(f(loss / iters))}`);
    scores.forEach((s, i) => {
      const bid = net.outputBlobIndices[outIds[i]!]!;
      const w = net.blobLossWeights[bid] ?? 0;
      const mean = f(s / iters);
      logger('caffe.cpp:321').info(`${net.blobNames[bid]} = ${fmtG(mean)}${w ? ` (* ${fmtG(w)} = ${fmtG(f(w * mean))} loss)` : ''}`);
    });
    return 0;
  },
};

export const timeCommand: Command = {
  summary: 'benchmark model execution time (caffe time)',
  usage: '-model net.prototxt [-iterations 50] [-phase TRAIN|TEST]',
  flags: {
    model: { type: 'string', default: '', help: 'The model definition protocol buffer text file.' },
    iterations: { type: 'int', default: 50, help: 'The number of iterations to run.' },
    phase: { type: 'string', default: 'TRAIN', help: 'Optional; network phase (TRAIN or TEST).' },
    ...common,
  },
  async run({ flags }) {
    if (!flags.model) throw new UsageError('Need a model definition to time.');
    const phaseName = String(flags.phase).toUpperCase();
    if (phaseName !== 'TRAIN' && phaseName !== 'TEST') throw new UsageError(`-phase must be TRAIN or TEST, got '${flags.phase}'`);
    const devices = await openDevices(String(flags.gpu ?? ''), flags.threads);
    const net = await loadNet(String(flags.model), phaseName === 'TRAIN' ? 0 : 1, Number(flags.level), stagesOf(flags.stage));
    const gpu = devices[0];
    if (gpu) net.useDevice(gpu);
    const lossBuffer = gpu?.alloc(1, 'loss');
    // On a device with timestamp queries each layer's kernels are timed on the GPU (labelled f<i> / b<i>) with no wait
    // between layers; otherwise each layer is timed to its end, the device waited for (as Caffe's timer synchronizes).
    const spans = gpu?.kernels.dispatcher.canTime ? gpu.kernels.dispatcher : undefined;
    const forwardLayer = async (i: number) => {
      if (!gpu) return void net.layers[i]!.forwardWithLoss(net.bottomVecs[i]!, net.topVecs[i]!);
      spans?.timeSpan(`f${i}`);
      await forwardLayerOnDevice(net.layers[i]!, net.bottomVecs[i]!, net.topVecs[i]!, gpu, lossBuffer!, false);
      if (!spans) await gpu.finish();
    };
    const backwardLayer = async (i: number) => {
      if (!gpu) return net.layers[i]!.backward(net.topVecs[i]!, net.bottomNeedBackward[i]!, net.bottomVecs[i]!);
      spans?.timeSpan(`b${i}`);
      await backwardLayerOnDevice(net.layers[i]!, net.topVecs[i]!, net.bottomNeedBackward[i]!, net.bottomVecs[i]!, gpu);
      if (!spans) await gpu.finish();
    };
    const l = logger('caffe.cpp:352');
    const iters = Number(flags.iterations);
    try {
      l.info('Performing Forward');
      const initial = await net.forward();
      l.info(`Initial loss: ${fmtG(initial)}`);
      l.info('Performing Backward');
      await net.backward();
      l.info('*** Benchmark begins ***');
      l.info(`Testing for ${iters} iterations.`);
      if (spans) l.info('Layer times are their kernels\' GPU time (timestamp queries); a layer without a device path adds its host time.');
      else if (gpu) l.info('Layer times include a wait for the device after each layer (this adapter has no timestamp queries).');
      const n = net.layers.length;
      const fwd = new Float64Array(n), bwd = new Float64Array(n);
      const onHost = net.layers.map((layer) => !spans || !hasDevicePath(layer));
      let fwdTotal = 0, bwdTotal = 0;
      const t0 = performance.now();
      for (let j = 0; j < iters; j++) {
        const it = performance.now();
        await net.prefetch();
        let t = performance.now();
        for (let i = 0; i < n; i++) {
          const s = performance.now();
          await forwardLayer(i);
          if (onHost[i]) fwd[i]! += performance.now() - s;
        }
        fwdTotal += performance.now() - t;
        t = performance.now();
        for (let i = n - 1; i >= 0; i--) {
          const s = performance.now();
          await backwardLayer(i);
          if (onHost[i]) bwd[i]! += performance.now() - s;
        }
        bwdTotal += performance.now() - t;
        if (spans) {
          for (const [label, ms] of await spans.spanTimes()) (label[0] === 'f' ? fwd : bwd)[Number(label.slice(1))]! += ms;
        }
        l.info(`Iteration: ${j + 1} forward-backward time: ${fmtG(performance.now() - it)} ms.`);
      }
      const total = performance.now() - t0;
      l.info('Average time per layer: ');
      for (let i = 0; i < n; i++) {
        l.info(`${net.layerNames[i]!.padStart(10)}\tforward: ${fmtG(fwd[i]! / iters)} ms.`);
        l.info(`${net.layerNames[i]!.padStart(10)}\tbackward: ${fmtG(bwd[i]! / iters)} ms.`);
      }
      // With GPU-timed layers the host only records the passes: their times are the layers' sums.
      const sum = (a: Float64Array) => a.reduce((x, y) => x + y, 0);
      l.info(`Average Forward pass: ${fmtG((spans ? sum(fwd) : fwdTotal) / iters)} ms.`);
      l.info(`Average Backward pass: ${fmtG((spans ? sum(bwd) : bwdTotal) / iters)} ms.`);
      l.info(`Average Forward-Backward: ${fmtG(total / iters)} ms.`);
      l.info(`Total Time: ${fmtG(total)} ms.`);
      l.info('*** Benchmark ends ***');
    } finally {
      await net.close();
      closeDevices(devices);
    }
    return 0;
  },
};

export const deviceQueryCommand: Command = {
  summary: 'show GPU diagnostic information (caffe device_query)',
  usage: '[-gpu 0]',
  flags: { gpu: common.gpu! },
  async run() {
    const l = logger('caffe.cpp:129');
    l.info('Querying GPUs');
    const adapters = await findGpuAdapters();
    if (adapters.length === 0) l.warn('No WebGPU adapter found (no GPU, or no driver for one).');
    for (const a of adapters) l.info(formatAdapter(a.description));
    if (adapters.length) l.info('Train on one with -gpu N (or solver_mode: GPU and device_id: N); -gpu all trains data-parallel on all of them.');
    l.info(`CPU backend: ${backend().name}`);
    return 0;
  },
};
