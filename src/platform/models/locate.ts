// Where a finished job's model lies in storage. The runner copies the job's snapshot folder to <output>/final/
// (runner.ts): the .caffemodel files (and .solverstate files) of the run. The net comes from a net .prototxt the
// job left in final/ (deploy.prototxt preferred), else from the solver the job booted: its net / train_net file
// (paths as the job saw them: /home/work/user-job-dir/<code folder>/..., /home/work/dataset/..., or relative to the
// solver's folder, as workspace.ts maps them) or its inline net_param. Class names: labels.txt or synset_words.txt
// in final/, else in the code folder.
import path from 'node:path';
import type { NetParameter, SolverParameter } from '../../proto/types.generated.js';
import { has } from '../../proto/caffe.js';
import { parseTextProto } from '../../proto/textformat.js';
import { upgradeNetParameter } from '../../proto/upgrade.js';
import { parseLabels } from '../../inference/classifier.js';
import type { ObjectInfo, ObjectStore } from '../storage/store.js';
import { folderPrefix, formatStorageUrl, parseStorageUrl, type StorageScheme } from '../storage/url.js';
import type { JobSpec } from '../jobs/model.js';
import { SEED_HOME, codeFolderName } from '../jobs/workspace.js';

export const LABEL_FILES = ['labels.txt', 'synset_words.txt'];

/** A storage object, as bucket + key and the URL a user would write. */
export interface StoredFile {
  bucket: string;
  key: string;
  url: string;
}

export interface FinalFolder {
  url: string;
  objects: ObjectInfo[];
  /** The chosen weights: the .caffemodel of the highest iteration (the latest written on a tie). */
  weights?: StoredFile & { iteration: number | null };
  /** A net prototxt in final/ (deploy.prototxt first), not yet checked to be a net. */
  prototxts: StoredFile[];
  labels?: StoredFile;
}

/** A model that can be loaded: the net, its weights' bytes and its labels. */
export interface LocatedModel {
  net: NetParameter;
  /** Where the net came from (a storage URL, or the solver's URL for an inline net_param). */
  netUrl: string;
  weights: StoredFile & { iteration: number | null };
  weightBytes: Buffer;
  labels?: string[];
  labelsUrl?: string;
}

/** A job whose model cannot be found or read: the HTTP layer answers 422 with the message. */
export class ModelLocateError extends Error {}

const iterOf = (key: string) => {
  const m = /_iter_(\d+)\.caffemodel(\.h5)?$/.exec(key);
  return m ? Number(m[1]) : null;
};

function folder(url: string): { bucket: string; prefix: string; scheme: StorageScheme } {
  const u = parseStorageUrl(url);
  return { bucket: u.bucket, prefix: folderPrefix(u.key), scheme: u.scheme };
}

function file(bucket: string, key: string, scheme: StorageScheme): StoredFile {
  return { bucket, key, url: formatStorageUrl(bucket, key, scheme) };
}

/** List <output>/final/ and pick the weights, net prototxts and labels in it. */
export async function readFinalFolder(store: ObjectStore, spec: JobSpec): Promise<FinalFolder> {
  const out = folder(spec.output);
  const prefix = `${out.prefix}final/`;
  const url = formatStorageUrl(out.bucket, prefix, out.scheme);
  const objects = (await store.list(out.bucket, prefix, { recursive: true })).objects;
  // Caffe's binary weights, or its HDF5 ones (snapshot_format: HDF5)
  const models = objects.filter((o) => o.key.endsWith('.caffemodel') || o.key.endsWith('.caffemodel.h5'));
  models.sort((a, b) => (iterOf(a.key) ?? -1) - (iterOf(b.key) ?? -1) || a.lastModified.getTime() - b.lastModified.getTime() || a.key.localeCompare(b.key));
  const best = models[models.length - 1];
  const base = (k: string) => k.slice(k.lastIndexOf('/') + 1);
  const prototxts = objects.filter((o) => o.key.endsWith('.prototxt'))
    .sort((a, b) => Number(base(b.key) === 'deploy.prototxt') - Number(base(a.key) === 'deploy.prototxt') || a.key.localeCompare(b.key))
    .map((o) => file(out.bucket, o.key, out.scheme));
  const labelObj = LABEL_FILES.map((n) => objects.find((o) => o.key === prefix + n)).find(Boolean);
  return {
    url,
    objects,
    ...(best ? { weights: { ...file(out.bucket, best.key, out.scheme), iteration: iterOf(best.key) } } : {}),
    prototxts,
    ...(labelObj ? { labels: file(out.bucket, labelObj.key, out.scheme) } : {}),
  };
}

/**
 * A path as the job's solver wrote it, as a storage file: under the code folder (/home/work/user-job-dir/<code>/...
 * or relative to the solver's folder) or the data folder (/home/work/dataset/...).
 */
export function jobFile(p: string, spec: JobSpec): StoredFile {
  const code = folder(spec.code);
  const codeHome = `${SEED_HOME}/user-job-dir/${codeFolderName(spec.code)}/`;
  const dataHome = `${SEED_HOME}/dataset/`;
  let bucket: string, key: string, scheme: StorageScheme;
  if (p.startsWith(codeHome)) [bucket, key, scheme] = [code.bucket, code.prefix + p.slice(codeHome.length), code.scheme];
  else if (p.startsWith(dataHome) && spec.data) {
    const d = folder(spec.data.url);
    [bucket, key, scheme] = [d.bucket, d.prefix + p.slice(dataHome.length), d.scheme];
  } else if (!p.startsWith('/')) {
    const bootDir = path.posix.dirname(spec.boot);
    [bucket, key, scheme] = [code.bucket, code.prefix + (bootDir === '.' ? '' : bootDir + '/') + p, code.scheme];
  } else {
    throw new ModelLocateError(`${p}: outside the job's code folder (${spec.code}) and data folder, so the service cannot read it`);
  }
  key = path.posix.normalize(key);
  if (key.startsWith('../') || key === '..') throw new ModelLocateError(`${p}: leaves the bucket ${bucket}`);
  return file(bucket, key, scheme);
}

async function text(store: ObjectStore, f: StoredFile): Promise<string> {
  try {
    return (await store.getBuffer(f.bucket, f.key)).toString('utf8');
  } catch (e) {
    throw new ModelLocateError(`${f.url}: cannot read (${(e as Error).message})`);
  }
}

function parseNet(t: string, what: string): NetParameter {
  return upgradeNetParameter(parseTextProto<NetParameter>(t, 'NetParameter', what), what);
}

/** The net of the job: a net prototxt in final/, else the boot solver's net. */
async function locateNet(store: ObjectStore, spec: JobSpec, fin: FinalFolder): Promise<{ net: NetParameter; url: string }> {
  for (const f of fin.prototxts) {
    try {
      const net = parseNet(await text(store, f), f.url);
      if ((net.layer ?? []).length) return { net, url: f.url };
    } catch {
      /* a solver or another file: not the net */
    }
  }
  if (!spec.boot.endsWith('.prototxt')) {
    throw new ModelLocateError(`no net .prototxt in ${fin.url} and the job booted a script (${spec.boot}), not a solver: put the net (deploy.prototxt) in the final folder`);
  }
  const solverFile = jobFile(spec.boot, { ...spec, boot: '.' });
  const sp = parseTextProto<SolverParameter>(await text(store, solverFile), 'SolverParameter', solverFile.url);
  for (const inline of ['net_param', 'train_net_param'] as const) {
    if (has(sp, inline)) return { net: upgradeNetParameter(sp[inline]!, solverFile.url), url: solverFile.url };
  }
  const ref = sp.net || sp.train_net;
  if (!ref) throw new ModelLocateError(`${solverFile.url}: the solver names no net (net, train_net, net_param)`);
  const netFile = jobFile(ref, spec);
  try {
    return { net: parseNet(await text(store, netFile), netFile.url), url: netFile.url };
  } catch (e) {
    throw e instanceof ModelLocateError ? e : new ModelLocateError((e as Error).message);
  }
}

/** Everything needed to load the job's final model (the net parsed, the weights read). */
export async function locateModel(store: ObjectStore, spec: JobSpec): Promise<LocatedModel> {
  const fin = await readFinalFolder(store, spec);
  if (!fin.weights) {
    throw new ModelLocateError(fin.objects.length ? `no .caffemodel in ${fin.url}` : `${fin.url} is empty or missing: the job copied no model`);
  }
  const { net, url } = await locateNet(store, spec, fin);
  const weightBytes = await store.getBuffer(fin.weights.bucket, fin.weights.key);
  let labels = fin.labels;
  if (!labels) {
    const code = folder(spec.code);
    for (const n of LABEL_FILES) {
      if (await store.head(code.bucket, code.prefix + n)) {
        labels = file(code.bucket, code.prefix + n, code.scheme);
        break;
      }
    }
  }
  const out: LocatedModel = { net, netUrl: url, weights: fin.weights, weightBytes };
  if (labels) {
    out.labels = parseLabels(await text(store, labels), labels.url);
    out.labelsUrl = labels.url;
  }
  return out;
}
