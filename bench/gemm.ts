// GEMM throughput of the 'ts' and 'wasm' backends on LeNet's GEMM shapes (batch 64: Caffe's per-image ones, then the
// batched ones conv_base.ts uses), wasm with 1 and 2 threads, operands in wasm memory as Blob allocates them.
// Run: npx tsc -p . && node dist/bench/gemm.js [--quick] [--per-image]
import '../src/backend/ts/index.js';
import { createBackend, type Backend } from '../src/backend/backend.js';
import { createWasmBackend } from '../src/backend/wasm/index.js';

interface Shape { name: string; transA: boolean; transB: boolean; M: number; N: number; K: number }

const shapes: Shape[] = [
  { name: 'conv1 fwd', transA: false, transB: false, M: 20, N: 576, K: 25 },
  { name: 'conv2 fwd', transA: false, transB: false, M: 50, N: 64, K: 500 },
  { name: 'conv2 wgrad', transA: false, transB: true, M: 50, N: 500, K: 64 },
  { name: 'conv2 dgrad', transA: true, transB: false, M: 500, N: 64, K: 50 },
  { name: 'ip1 fwd', transA: false, transB: true, M: 64, N: 500, K: 800 },
  { name: 'ip1 wgrad', transA: true, transB: false, M: 500, N: 800, K: 64 },
];

// The batched GEMMs of conv_base.ts (several images side by side: conv1 15 images, conv2 all 64).
const batched: Shape[] = [
  { name: 'conv1 fwd x15', transA: false, transB: false, M: 20, N: 8640, K: 25 },
  { name: 'conv1 wgrad x15', transA: false, transB: true, M: 20, N: 25, K: 8640 },
  { name: 'conv2 fwd x64', transA: false, transB: false, M: 50, N: 4096, K: 500 },
  { name: 'conv2 wgrad x64', transA: false, transB: true, M: 50, N: 500, K: 4096 },
  { name: 'conv2 dgrad x64', transA: true, transB: false, M: 500, N: 4096, K: 50 },
];

const quick = process.argv.includes('--quick');
const trialSeconds = quick ? 0.05 : 0.2;
const trials = quick ? 3 : 5;

function fill(a: Float32Array): Float32Array {
  for (let i = 0; i < a.length; i++) a[i] = Math.random() - 0.5;
  return a;
}

/** Best GFLOP/s over several timed trials of back-to-back calls. */
function measure(be: Backend, s: Shape, alloc: (n: number) => Float32Array): number {
  const A = fill(alloc(s.M * s.K)), B = fill(alloc(s.K * s.N)), C = alloc(s.M * s.N);
  const flop = 2 * s.M * s.N * s.K;
  const call = () => be.gemm(s.transA, s.transB, s.M, s.N, s.K, 1, A, B, 0, C);
  let reps = 1;
  for (;;) { // calibrate (also warms up the JIT / wasm tier-up)
    const t = performance.now();
    for (let r = 0; r < reps; r++) call();
    const dt = (performance.now() - t) / 1000;
    if (dt > trialSeconds / 4) { reps = Math.max(1, Math.ceil((reps * trialSeconds) / dt)); break; }
    reps *= 2;
  }
  let best = Infinity;
  for (let t = 0; t < trials; t++) {
    const t0 = performance.now();
    for (let r = 0; r < reps; r++) call();
    best = Math.min(best, (performance.now() - t0) / 1000 / reps);
  }
  return flop / best / 1e9;
}

async function main(): Promise<void> {
  const ts = createBackend('ts');
  const w1 = createWasmBackend({ threads: 1 });
  const w2 = createWasmBackend({ threads: 2 });
  await w2.ready();
  console.log(`wasm kernels: ${w1.simd === 'relaxed' ? 'relaxed SIMD (FMA)' : 'SIMD128'}; Node ${process.version}`);
  const head = ['shape', 'M', 'N', 'K', 'ts GF/s', 'wasm 1T', 'wasm 2T', 'x (1T/ts)', 'x (2T/ts)'];
  const rows: string[][] = [];
  let logs = [0, 0];
  const stats0 = { ...w2.stats };
  const all = process.argv.includes('--per-image') ? shapes : [...shapes, ...batched];
  for (const s of all) {
    const g0 = measure(ts, s, (n) => new Float32Array(n));
    const g1 = measure(w1, s, (n) => w1.allocFloat32(n));
    const g2 = measure(w2, s, (n) => w2.allocFloat32(n));
    logs = [logs[0]! + Math.log(g1 / g0), logs[1]! + Math.log(g2 / g0)];
    const name = `${s.name} (${s.transA ? 'T' : 'N'}${s.transB ? 'T' : 'N'})`;
    rows.push([name, String(s.M), String(s.N), String(s.K), g0.toFixed(1), g1.toFixed(1), g2.toFixed(1),
      (g1 / g0).toFixed(1), (g2 / g0).toFixed(1)]);
  }
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(line(head));
  for (const r of rows) console.log(line(r));
  const gm = (l: number) => Math.exp(l / all.length).toFixed(1);
  console.log(`geometric mean speedup over ts: wasm 1 thread ${gm(logs[0]!)}x, 2 threads ${gm(logs[1]!)}x`);
  const st = w2.stats;
  console.log(`2-thread runs: ${st.parallelGemms - stats0.parallelGemms} split GEMMs (${st.workerChunks - stats0.workerChunks} ` +
    `chunks by the worker), ${st.serialGemms - stats0.serialGemms} alone (the adaptive choice where splitting was slower, ` +
    `or the worker was still busy; TSCAFFE_WASM_ADAPTIVE=0 always splits)`);
}

await main();
