// Shared by the job tests: the seed's `codes` folder (solver + net with the seed's /home/work paths, CPU mode, few
// iterations), a temp data folder, and polling helpers.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { seedNetPrototxt } from '../src/examples/mnist.js';
import type { PlatformClient } from '../src/platform/jobs/client.js';
import type { JobWithVersion } from '../src/platform/jobs/model.js';

export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The seed's lenet_solver.prototxt, trimmed to a short CPU run: test every `testInterval`, snapshot every `snapshot`. */
export function seedSolver(o: { maxIter: number; snapshot: number; testInterval: number; testIter: number; display?: number }): string {
  return `# The seed's solver, with its /home/work paths
net: "/home/work/user-job-dir/codes/lenet_train_test.prototxt"
test_iter: ${o.testIter}
test_interval: ${o.testInterval}
base_lr: 0.01
momentum: 0.9
weight_decay: 0.0005
lr_policy: "inv"
gamma: 0.0001
power: 0.75
display: ${o.display ?? 10}
max_iter: ${o.maxIter}
snapshot: ${o.snapshot}
snapshot_prefix: "/home/work/lenet_mnist/mnist_lenet"
solver_mode: CPU
`;
}

/** Write the seed's codes folder (lenet_solver.prototxt, lenet_train_test.prototxt) under `dir`/codes. */
export function writeSeedCodes(dir: string, solver: string, trainBatch = 64, testBatch = 100): string {
  const codes = path.join(dir, 'codes');
  mkdirSync(codes, { recursive: true });
  writeFileSync(path.join(codes, 'lenet_solver.prototxt'), solver);
  writeFileSync(path.join(codes, 'lenet_train_test.prototxt'), seedNetPrototxt('/home/work/dataset', trainBatch, testBatch));
  return codes;
}

/** Poll the job until `pred` holds for its latest version. */
export async function waitUntil(c: PlatformClient, id: string, pred: (j: JobWithVersion) => boolean, timeoutMs = 60_000): Promise<JobWithVersion> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const j = await c.getJob(id);
    if (pred(j)) return j;
    if (Date.now() > deadline) throw new Error(`job ${id}: condition not met within ${timeoutMs} ms (status ${j.current.status}${j.current.reason ? `: ${j.current.reason}` : ''})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
