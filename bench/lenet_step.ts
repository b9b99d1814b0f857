// Time of one LeNet training iteration (forward + backward + SGD update), Caffe's examples/mnist net and solver, at a
// given batch size, on the active backend. Usage: node dist/bench/lenet_step.js <batch> [iterations]
// Prints `ms_per_iter X`. The MNIST LMDBs are made (once) under $TMPDIR/tscaffe-bench-mnist.
import { Solver, setQuiet, backend } from '../src/index.js';
import { lenetTrainingSolver } from './lenet_solver.js';

const batch = Number(process.argv[2] ?? 64);
const iters = Number(process.argv[3] ?? (batch <= 64 ? 50 : 10));
setQuiet(true);
const sp = await lenetTrainingSolver(batch);
const solver = await Solver.create(sp);
await solver.step(3);
const t = performance.now();
await solver.step(iters);
const ms = (performance.now() - t) / iters;
await solver.close();
console.log(`backend ${backend().name} batch ${batch} ms_per_iter ${ms.toFixed(2)}`);
