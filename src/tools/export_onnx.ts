// `tscaffe export_onnx -model deploy.prototxt -weights w.caffemodel out.onnx`: a trained Caffe net as an ONNX model.
import type { NetParameter } from '../proto/types.generated.js';
import { readNetParamsFromTextFile } from '../proto/upgrade.js';
import { readProtoBinary } from '../proto/io.js';
import { writeFileAtomic } from '../util/atomic.js';
import { logger } from '../util/log.js';
import type { Command } from '../cli/command.js';
import { UsageError } from '../cli/flags.js';
import { exportOnnx } from './onnx/export.js';
import { OPSET } from './onnx/graph.js';

const log = logger('export_onnx.cpp:0');

export const exportOnnxCommand: Command = {
  summary: 'convert a trained net (deploy or train_test prototxt + .caffemodel) to an ONNX model',
  usage: '-model deploy.prototxt -weights trained.caffemodel [-input_shape C,H,W] out.onnx',
  flags: {
    model: { type: 'string', default: '', help: 'The net definition (deploy form; a train_test net is turned into one).' },
    weights: { type: 'string', default: '', help: 'The trained weights (.caffemodel); without it the fillers\' initial weights are exported.' },
    input_shape: { type: 'string', default: '', help: 'Optional, train_test nets only; the image input\'s C,H,W when its data layer does not tell it.' },
  },
  async run({ flags, positional }) {
    const model = String(flags.model ?? '');
    if (!model) throw new UsageError('Need a model definition to export (-model).');
    if (positional.length !== 1) throw new UsageError('Give exactly one output file (out.onnx).');
    const out = positional[0]!;
    const weightsFile = String(flags.weights ?? '');
    const param = readNetParamsFromTextFile<NetParameter>(model);
    let weights: NetParameter | undefined;
    if (weightsFile) weights = readProtoBinary(weightsFile, 'NetParameter');
    else log.warn('No -weights given: exporting the fillers\' initial weights.');
    const shapeFlag = String(flags.input_shape ?? '');
    const inputShape = shapeFlag ? shapeFlag.split(',').map(Number) : undefined;
    if (inputShape && inputShape.some((d) => !Number.isInteger(d) || d <= 0)) {
      throw new UsageError(`-input_shape must be C,H,W (or N,C,H,W) positive integers, got '${shapeFlag}'`);
    }
    const r = await exportOnnx(param, weights, { source: model, producerVersion: '0.1.0', inputShape });
    for (const n of r.notes) log.info(`deploy net: ${n}`);
    writeFileAtomic(out, r.bytes);
    const io = (list: { name: string; dims: (number | string)[] }[]) => list.map((v) => `${v.name} [${v.dims.join('x')}]`).join(', ');
    log.info(`Wrote ${out} (${r.bytes.length} bytes, ${r.nodeCount} nodes, opset ${OPSET}); inputs: ${io(r.inputs)}; outputs: ${io(r.outputs)}` +
      (r.fixedBatch ? '; the batch size is fixed by the net\'s shapes' : ''));
    return 0;
  },
};
