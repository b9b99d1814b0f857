/// <reference types="@webgpu/types" />
// GEMM throughput of the WebGPU kernels (src/backend/webgpu/kernels.ts) on adapter 0: LeNet's batched GEMM shapes (as
// bench/gemm.ts) and square ones. Without a GPU this is Dawn's OpenGL backend on Mesa's llvmpipe, a CPU renderer:
// its figures say nothing about a real GPU.
// Run: npx tsc -p . && node dist/bench/webgpu_gemm.js [--quick]
import { formatAdapter, openGpu } from '../src/backend/webgpu/device.js';
import { GpuKernels } from '../src/backend/webgpu/kernels.js';

interface Shape { name: string; transA: boolean; transB: boolean; M: number; N: number; K: number }

const shapes: Shape[] = [
  { name: 'conv2 fwd x64', transA: false, transB: false, M: 50, N: 4096, K: 500 },
  { name: 'conv2 wgrad x64', transA: false, transB: true, M: 50, N: 500, K: 4096 },
  { name: 'conv2 dgrad x64', transA: true, transB: false, M: 500, N: 4096, K: 50 },
  { name: 'ip1 fwd b64', transA: false, transB: true, M: 64, N: 500, K: 800 },
  { name: 'ip1 wgrad b64', transA: true, transB: false, M: 500, N: 800, K: 64 },
  { name: 'square 512', transA: false, transB: false, M: 512, N: 512, K: 512 },
  { name: 'square 1024', transA: false, transB: false, M: 1024, N: 1024, K: 1024 },
];

const quick = process.argv.includes('--quick');
const gpu = await openGpu(0);
if (!gpu) {
  process.stderr.write('webgpu_gemm: no WebGPU adapter on this machine\n');
  process.exit(1);
}
process.stdout.write(`${formatAdapter(gpu.description)}\n`);
// Both kernels: tiled in workgroup memory (what GPUs get) and direct (what software adapters get).
const variants = [['tiled', new GpuKernels(gpu.device, { software: false })], ['direct', new GpuKernels(gpu.device, { software: true })]] as const;
const rand = (n: number) => Float32Array.from({ length: n }, () => Math.random() - 0.5);
for (const [variant, k] of variants) for (const s of shapes) {
  const A = k.upload(rand(s.M * s.K)), B = k.upload(rand(s.K * s.N)), C = k.createBuffer(s.M * s.N);
  const flop = 2 * s.M * s.N * s.K;
  k.gemm(s.transA, s.transB, s.M, s.N, s.K, 1, A, B, 0, C); // warm-up: compiles the pipeline
  await k.finish();
  // Enough back-to-back GEMMs in one submission for ~0.2 s (estimated from one), best of 3.
  const t0 = performance.now();
  k.gemm(s.transA, s.transB, s.M, s.N, s.K, 1, A, B, 0, C);
  await k.finish();
  const reps = Math.max(1, Math.min(200, Math.round((quick ? 50 : 200) / Math.max(performance.now() - t0, 0.01))));
  let best = Infinity;
  for (let trial = 0; trial < 3; trial++) {
    const t = performance.now();
    for (let r = 0; r < reps; r++) k.gemm(s.transA, s.transB, s.M, s.N, s.K, 1, A, B, 0, C);
    await k.finish();
    best = Math.min(best, (performance.now() - t) / reps);
  }
  process.stdout.write(`${variant.padEnd(7)}${s.name.padEnd(16)} ${`${s.M}x${s.N}x${s.K}`.padEnd(16)} ${(flop / best / 1e6).toFixed(2).padStart(8)} GFLOP/s  (${best.toFixed(3)} ms)\n`);
  for (const b of [A, B, C]) b.destroy();
}
gpu.device.destroy();
