// The registry of subcommands, by Caffe's tool names. Each command lives in its own module; add one import and one
// entry per command.
import type { Command } from './command.js';
import { upgradeNetProtoText, upgradeSolverProtoText } from '../tools/upgrade_proto_text.js';
import { convertMnistDataCommand } from '../tools/convert_mnist_data.js';
import { computeImageMeanCommand } from '../tools/compute_image_mean.js';
import { dataCommand } from '../tools/data_mnist.js';
import { exportOnnxCommand } from '../tools/export_onnx.js';
import { plotTrainingLogCommand } from '../tools/plot_training_log.js';
import { exampleCommand } from '../examples/mnist.js';
import { deviceQueryCommand, testCommand, timeCommand, trainCommand } from './caffe_tools.js';
import { storageCommand } from '../platform/storage/cli.js';
import { datasetsCommand } from '../platform/datasets/cli.js';
import { jobsCommand, serveCommand, workerCommand } from '../platform/jobs/cli.js';
import { classifyCommand, deployPrototxtCommand, serveModelCommand } from '../inference/cli.js';

export const commands: Record<string, Command> = {
  upgrade_net_proto_text: upgradeNetProtoText,
  upgrade_solver_proto_text: upgradeSolverProtoText,
  convert_mnist_data: convertMnistDataCommand,
  compute_image_mean: computeImageMeanCommand,
  data: dataCommand,
  export_onnx: exportOnnxCommand,
  plot_training_log: plotTrainingLogCommand,
  train: trainCommand,
  example: exampleCommand,
  test: testCommand,
  time: timeCommand,
  device_query: deviceQueryCommand,
  storage: storageCommand,
  datasets: datasetsCommand,
  jobs: jobsCommand,
  serve: serveCommand,
  worker: workerCommand,
  deploy_prototxt: deployPrototxtCommand,
  classify: classifyCommand,
  serve_model: serveModelCommand,
};
