// A job's workspace, laid out like the seed's container (<work> stands for its /home/work):
//
//   <work>/user-job-dir/<last folder name of the code dir>/   the code, copied from storage
//   <work>/dataset/                                            the data source (the seed's data_local_path)
//   <work>/<snapshot_prefix's folder>/                         created for the solver's snapshots
//
// Absolute paths under /home/work/ in the job's .prototxt files are rewritten into <work>, so the seed's own files
// (net: "/home/work/user-job-dir/codes/lenet_train_test.prototxt", source: "/home/work/dataset/mnist_train_lmdb",
// snapshot_prefix: "/home/work/lenet_mnist/mnist_lenet") run unmodified.
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type protobuf from 'protobufjs';
import { messageType } from '../../proto/caffe.js';
import { parseTextProto, printTextProto } from '../../proto/textformat.js';
import type { SolverParameter } from '../../proto/types.generated.js';
import { readSolverParamsFromTextFile } from '../../proto/upgrade.js';

export const SEED_HOME = '/home/work';

/** Rewrite quoted absolute paths under /home/work in prototxt text to paths under `workDir`. */
export function mapHomeWork(text: string, workDir: string): string {
  return text.replace(/(["'])\/home\/work(?=[/"'])/g, (_m, q: string) => q + workDir);
}

/** Map a single path (as written in a job file or parameter) into the workspace. */
export function mapPath(p: string, workDir: string): string {
  return p === SEED_HOME || p.startsWith(SEED_HOME + '/') ? workDir + p.slice(SEED_HOME.length) : p;
}

/** The last folder name of a code URL ('s3://b/x/codes/' -> 'codes'); 'code' for a bucket root. */
export function codeFolderName(codeUrl: string): string {
  const segs = codeUrl.replace(/^[a-z0-9]+:\/\//i, '/').split('/').filter(Boolean);
  return segs.length > 1 ? segs[segs.length - 1]! : 'code';
}

/** Apply the mapping to every .prototxt file under `dir`; returns the files changed. */
export async function mapPrototxtFiles(dir: string, workDir: string): Promise<string[]> {
  const changed: string[] = [];
  const visit = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await visit(p);
      else if (e.isFile() && e.name.endsWith('.prototxt')) {
        const text = await readFile(p, 'utf8');
        const mapped = mapHomeWork(text, workDir);
        if (mapped !== text) {
          await writeFile(p, mapped);
          changed.push(p);
        }
      }
    }
  };
  await visit(dir);
  return changed;
}

/** Solver fields a run parameter may set: scalar (non-message, non-repeated) fields of SolverParameter. */
function solverField(key: string): protobuf.Field | undefined {
  const f = messageType('SolverParameter').fields[key];
  if (!f || f.repeated || f.map) return undefined;
  f.resolve();
  return f.resolvedType && !('values' in f.resolvedType) ? undefined : f;
}

export interface SolverOverrides {
  /** Parameters applied to the solver. */
  applied: Record<string, string>;
  /** Parameters that are not solver fields (passed on as environment variables only). */
  other: string[];
}

/**
 * Write the effective solver file: `solverFile` with the run parameters that name solver fields overriding it (e.g.
 * max_iter=2000), /home/work paths mapped. Returns the snapshot folder (created) and what was applied.
 */
export async function prepareSolver(
  solverFile: string,
  outFile: string,
  params: Record<string, string>,
  workDir: string,
): Promise<{ snapshotDir: string; overrides: SolverOverrides; solver: SolverParameter }> {
  const sp = readSolverParamsFromTextFile<SolverParameter>(solverFile) as SolverParameter & Record<string, unknown>;
  const overrides: SolverOverrides = { applied: {}, other: [] };
  for (const [k, v] of Object.entries(params)) {
    const f = solverField(k);
    if (!f) {
      overrides.other.push(k);
      continue;
    }
    const literal = f.type === 'string' ? JSON.stringify(mapPath(v, workDir)) : v;
    let one: Record<string, unknown>;
    try {
      one = parseTextProto<Record<string, unknown>>(`${k}: ${literal}`, 'SolverParameter', `parameter ${k}`);
    } catch (e) {
      throw new Error(`run parameter ${k}=${v}: not a valid value for the solver field ${k} (${(e as Error).message})`);
    }
    sp[k] = one[k];
    overrides.applied[k] = v;
  }
  if (!sp.snapshot_prefix) sp.snapshot_prefix = path.join(workDir, 'output', path.basename(solverFile).replace(/\.prototxt$/, ''));
  else sp.snapshot_prefix = mapPath(sp.snapshot_prefix, workDir);
  for (const k of ['net', 'train_net'] as const) {
    if (sp[k]) sp[k] = path.resolve(path.dirname(solverFile), mapPath(sp[k]!, workDir));
  }
  if (sp.test_net?.length) sp.test_net = sp.test_net.map((t) => path.resolve(path.dirname(solverFile), mapPath(t, workDir)));
  const prefix = path.resolve(path.dirname(solverFile), sp.snapshot_prefix);
  sp.snapshot_prefix = prefix;
  // A prefix ending in '/' names a folder (Caffe writes <folder>/_iter_N...); else its dirname is the folder.
  const snapshotDir = prefix.endsWith('/') ? prefix : path.dirname(prefix);
  await mkdir(snapshotDir, { recursive: true });
  await writeFile(outFile, printTextProto(sp, 'SolverParameter'));
  return { snapshotDir, overrides, solver: sp };
}
