// Caffe's tools/upgrade_net_proto_text.cpp and tools/upgrade_solver_proto_text.cpp:
//   tscaffe upgrade_net_proto_text IN OUT
//   tscaffe upgrade_solver_proto_text IN OUT
// Read IN, apply upgrade_proto's upgrades, and write protobuf's text form to OUT (atomically; on bad input OUT is
// not created). Exit codes as Caffe's tools: 2 when IN cannot be read or parsed, 1 when an upgrade had problems.
import type { Command } from '../cli/command.js';
import { UsageError } from '../cli/flags.js';
import type { ParsedArgs } from '../cli/flags.js';
import { parseTextProto, printTextProto } from '../proto/textformat.js';
import {
  netNeedsDataUpgrade,
  netNeedsUpgrade,
  readTextFile,
  solverNeedsTypeUpgrade,
  upgradeNetAsNeeded,
  upgradeNetDataTransformation,
  upgradeSolverParameter,
} from '../proto/upgrade.js';
import { writeFileAtomic } from '../util/atomic.js';
import { logger } from '../util/log.js';

function inOut(args: ParsedArgs): [string, string] {
  if (args.positional.length !== 2) throw new UsageError(`expected 2 arguments (IN OUT), got ${args.positional.length}`);
  return [args.positional[0]!, args.positional[1]!];
}

function readAndParse(file: string, typeName: string, log: ReturnType<typeof logger>): object | undefined {
  try {
    return parseTextProto<object>(readTextFile(file), typeName, file);
  } catch (e) {
    log.error(`Failed to parse input text file as ${typeName}: ${(e as Error).message}`);
    return undefined;
  }
}

export const upgradeNetProtoText: Command = {
  summary: 'Upgrade a net prototxt (V0/V1 layers, input fields, ...) to the current format',
  usage: 'v0_net_proto_file_in net_proto_file_out',
  flags: {},
  async run(args) {
    const log = logger('upgrade_net_proto_text.cpp:0');
    const [input, output] = inOut(args);
    let net = readAndParse(input, 'NetParameter', log);
    if (!net) return 2;
    let success = true;
    try {
      const needDataUpgrade = netNeedsDataUpgrade(net);
      if (netNeedsUpgrade(net)) {
        const r = upgradeNetAsNeeded(net, input);
        net = r.net;
        success = r.success;
        if (!success) log.error('Encountered error(s) while upgrading prototxt; see details above.');
      } else {
        log.error(`File already in latest proto format: ${input}`);
      }
      if (needDataUpgrade) upgradeNetDataTransformation(net);
    } catch (e) {
      log.error(`${input}: upgrade failed: ${(e as Error).message}`);
      return 1;
    }
    writeFileAtomic(output, printTextProto(net, 'NetParameter'));
    log.info(`Wrote upgraded NetParameter text proto to ${output}`);
    return success ? 0 : 1;
  },
};

export const upgradeSolverProtoText: Command = {
  summary: "Upgrade a solver prototxt (solver_type enum -> type string) to the current format",
  usage: 'old_solver_proto_file_in solver_proto_file_out',
  flags: {},
  async run(args) {
    const log = logger('upgrade_solver_proto_text.cpp:0');
    const [input, output] = inOut(args);
    const solver = readAndParse(input, 'SolverParameter', log);
    if (!solver) return 2;
    if (solverNeedsTypeUpgrade(solver)) {
      try {
        upgradeSolverParameter(solver, input);
      } catch (e) {
        log.error((e as Error).message);
        return 1;
      }
    } else {
      log.error(`File already in latest proto format: ${input}`);
    }
    writeFileAtomic(output, printTextProto(solver, 'SolverParameter'));
    log.info(`Wrote upgraded SolverParameter text proto to ${output}`);
    return 0;
  },
};
