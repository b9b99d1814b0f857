// Outputs are written to a temp file beside the target and renamed into place, so a crash or Ctrl-C never leaves a
// half-written file under the final name.
import { writeFileSync, renameSync, rmSync, mkdirSync, existsSync } from 'node:fs';
import path from 'node:path';

export function writeFileAtomic(file: string, data: Uint8Array | string): void {
  const dir = path.dirname(path.resolve(file));
  mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, file);
  } catch (e) {
    if (existsSync(tmp)) rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Build a directory (e.g. a database) under a temp name and rename it into place when `build` succeeds;
 * on failure nothing is left under the final name.
 */
export async function buildDirAtomic(dir: string, build: (tmpDir: string) => Promise<void>): Promise<void> {
  const abs = path.resolve(dir);
  mkdirSync(path.dirname(abs), { recursive: true });
  const tmp = path.join(path.dirname(abs), `.${path.basename(abs)}.${process.pid}.tmp`);
  rmSync(tmp, { recursive: true, force: true });
  try {
    await build(tmp);
    renameSync(tmp, abs);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}
