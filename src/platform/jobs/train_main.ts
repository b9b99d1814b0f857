// The trainer a job runs for a solver boot file: `tscaffe train -solver <file> [-gpu ids]` semantics and log lines
// (SIGINT: stop with a final snapshot, SIGHUP: snapshot), plus a stop file checked every iteration
// ($TSCAFFE_STOP_FILE, written by the runner beside its SIGINT) so a stop is honoured even while the training loop
// keeps the event loop from running signal handlers.
//
//   node train_main.js <solver.prototxt> [gpu ids]
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import '../../backend/all.js';
import { backend } from '../../backend/backend.js';
import { installSignalHandlers } from '../../cli/caffe_tools.js';
import type { SolverParameter } from '../../proto/types.generated.js';
import { readSolverParamsFromTextFile } from '../../proto/upgrade.js';
import { Solver, type SolverAction } from '../../solver/solver.js';
import { logger } from '../../util/log.js';

export const TRAIN_MAIN = fileURLToPath(import.meta.url);

export async function train(solverFile: string, gpus: string, stopFile: string | undefined): Promise<void> {
  const sp = readSolverParamsFromTextFile<SolverParameter>(solverFile);
  sp.train_state = { ...(sp.train_state ?? {}), level: 0, stage: [] } as SolverParameter['train_state'];
  if (gpus) logger('caffe.cpp:200').warn(`GPU requested (-gpu ${gpus}) but no GPU backend is available in this build: using the CPU.`);
  const b = backend() as { name: string; threads?: number };
  logger('caffe.cpp:197').info(`Use CPU. (backend: ${b.name}${b.threads ? `, ${b.threads} threads` : ''})`);
  const signals = installSignalHandlers('stop', 'snapshot');
  let stopSeen = false;
  const requestedAction = (): SolverAction => {
    const a = signals.action();
    if (a !== 'none') return a;
    if (!stopSeen && stopFile && existsSync(stopFile)) {
      stopSeen = true;
      return 'stop';
    }
    return 'none';
  };
  try {
    const solver = await Solver.create(sp, { requestedAction });
    try {
      logger('caffe.cpp:239').info('Starting Optimization');
      await solver.solve();
      logger('caffe.cpp:250').info('Optimization Done.');
    } finally {
      await solver.close();
    }
  } finally {
    signals.dispose();
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === TRAIN_MAIN) {
  train(process.argv[2]!, process.argv[3] ?? '', process.env.TSCAFFE_STOP_FILE || undefined).then(
    () => process.exit(0),
    (e: Error) => {
      logger('caffe.cpp:0').error(e?.message ?? String(e));
      process.exit(1);
    },
  );
}
