// Shared test helpers: where the real-Caffe vectors live, scratch folders, a work folder with MNIST's LMDBs.
import { mkdtempSync, cpSync, chmodSync, readdirSync, statSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureMnistLmdb } from '../src/tools/data_mnist.js';

/** Repository root (tests run from dist/test). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** ../shared/vectors beside the repository: files made by BVLC Caffe itself. Read-only. */
export const vectorsDir = path.resolve(repoRoot, '../shared/vectors');
export const vector = (...p: string[]) => path.join(vectorsDir, ...p);

export function scratchDir(prefix = 'tscaffe-test-'): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

function makeWritable(p: string): void {
  chmodSync(p, statSync(p).isDirectory() ? 0o755 : 0o644);
  if (statSync(p).isDirectory()) for (const e of readdirSync(p)) makeWritable(path.join(p, e));
}

/** Copy a (read-only) vector file or folder into a fresh scratch folder, writable; returns the copy's path. */
export function copyVector(rel: string): string {
  const dst = path.join(scratchDir(), path.basename(rel));
  cpSync(vector(rel), dst, { recursive: true });
  makeWritable(dst);
  return dst;
}

/** A scratch folder with MNIST's LMDBs (mnist_train_lmdb, mnist_test_lmdb) and copies of the named vector files. */
export async function mnistWorkDir(prefix: string, vectorFiles: string[] = []): Promise<string> {
  const dir = scratchDir(prefix);
  await ensureMnistLmdb(dir, { progress: false });
  for (const f of vectorFiles) cpSync(vector(f), path.join(dir, path.basename(f)));
  return dir;
}

export function removeDir(p: string): void {
  rmSync(p, { recursive: true, force: true });
}
