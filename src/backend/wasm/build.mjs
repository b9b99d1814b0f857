#!/usr/bin/env node
// Builds the 'wasm' backend's kernels (assembly/kernels.ts) with AssemblyScript into two committed modules:
//   kernels-relaxed.wasm  SIMD128 + relaxed SIMD (f32x4.relaxed_madd)
//   kernels-simd.wasm     SIMD128 only (fallback where relaxed SIMD is unavailable)
// Usage: node src/backend/wasm/build.mjs [outDir]   (npm run build:wasm). outDir defaults to this folder; the test
// that checks the committed modules against a fresh build passes a scratch folder.
import { main } from 'assemblyscript/asc';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const outDir = path.resolve(process.argv[2] ?? here);
const entry = path.join(here, 'assembly', 'kernels.ts');

// The memory is imported (the loader creates one shared WebAssembly.Memory for all threads); its limits here only
// have to be compatible with the loader's (initial <= actual, maximum = 65536 pages = 4 GiB).
const common = [
  entry, '-O3', '--noAssert', '--runtime', 'stub', '--importMemory', '--sharedMemory',
  '--initialMemory', '1', '--maximumMemory', '65536', '--enable', 'simd', '--enable', 'threads',
  '--disable', 'mutable-globals',
];

const builds = [
  { out: 'kernels-relaxed.wasm', flags: ['--enable', 'relaxed-simd'] },
  { out: 'kernels-simd.wasm', flags: [] },
];

for (const b of builds) {
  const { error, stderr } = await main([...common, ...b.flags, '-o', path.join(outDir, b.out)], {});
  if (error) {
    process.stderr.write(stderr.toString());
    throw error;
  }
  process.stdout.write(`built ${path.join(outDir, b.out)}\n`);
}
