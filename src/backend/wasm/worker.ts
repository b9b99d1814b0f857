// A worker thread of the 'wasm' backend: instantiates the kernel modules on the shared memory, then serves its
// mailbox (protocol.ts) until told to quit: spin briefly on SEQ (a layer's GEMMs arrive microseconds apart), then sleep
// in Atomics.wait until the main thread posts; take chunks of the job until none is left; publish DONE.
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { ARGS, BLOCK, DONE, OP, OP_GEMM, OP_QUIT, READY, SEQ, VARIANT, instantiate, runGemmChunks,
  type WorkerInit } from './protocol.js';

const init = workerData as WorkerInit;
const ctrl = new Int32Array(init.ctrl);
const ctrlF = new Float32Array(init.ctrl);
const kernels = init.modules.map((m) => instantiate(m, init.memory));
const base = init.id * BLOCK;

let seq = Atomics.load(ctrl, base + SEQ);
Atomics.store(ctrl, base + DONE, seq);
Atomics.store(ctrl, base + READY, 1);
parentPort?.postMessage('ready');

/** Mark this worker idle: the main thread may write its next job into the mailbox from now on. */
function release(): void {
  Atomics.store(ctrl, base + DONE, seq);
}

for (;;) {
  let s = Atomics.load(ctrl, base + SEQ);
  if (s === seq) {
    const until = performance.now() + init.spinMicros / 1000;
    for (let i = 1; s === seq; i++) {
      if ((i & 255) === 0 && performance.now() > until) Atomics.wait(ctrl, base + SEQ, seq);
      s = Atomics.load(ctrl, base + SEQ);
    }
  }
  seq = s;
  const op = ctrl[base + OP];
  if (op === OP_QUIT) break;
  if (op === OP_GEMM) {
    const { error } = runGemmChunks(ctrl, ctrlF, base + ARGS, kernels[ctrl[base + VARIANT]!]!, init.work, release);
    if (error) parentPort?.postMessage({ error: String((error as Error)?.stack ?? error) });
  } else {
    release();
  }
}
Atomics.store(ctrl, base + READY, 0);
Atomics.store(ctrl, base + DONE, seq);
