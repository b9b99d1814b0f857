// Shared test helpers: where the real-Caffe vectors live and scratch folders.
import { mkdtempSync, cpSync, chmodSync, readdirSync, statSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

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

export function removeDir(p: string): void {
  rmSync(p, { recursive: true, force: true });
}
