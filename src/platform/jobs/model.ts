// Training jobs: the records and the validation of what a client sends.
//
// A job has a name and description and one or more versions; each version carries the full run specification (code
// dir, boot file, run parameters, data source, output and log URLs, pool, copy interval) and its own run: status
// queued -> initializing -> running -> succeeded | failed | stopped, timestamps and the exit reason. Re-running a job
// with changed parameters adds a version and keeps the old ones.
import { StorageError } from '../storage/errors.js';
import { parseStorageUrl } from '../storage/url.js';

export type JobStatus = 'queued' | 'initializing' | 'running' | 'succeeded' | 'failed' | 'stopped';
export const JOB_STATUSES: readonly JobStatus[] = ['queued', 'initializing', 'running', 'succeeded', 'failed', 'stopped'];
export const ACTIVE_STATUSES: readonly JobStatus[] = ['queued', 'initializing', 'running'];
export const isTerminal = (s: JobStatus): boolean => s === 'succeeded' || s === 'failed' || s === 'stopped';

export type Pool = 'cpu' | 'gpu';

/** Where the job's data comes from: a storage folder URL, or a dataset version (resolved to its folder at creation). */
export type DataSource =
  | { kind: 'url'; url: string }
  | { kind: 'dataset'; name: string; version: number; versionId: string; url: string };

export interface JobSpec {
  /** Storage folder URL of the code (s3://, obs:// or /bucket/...). */
  code: string;
  /** Path of the boot file relative to the code folder: a solver .prototxt, or a .js/.ts/.sh script. */
  boot: string;
  /** Run parameters, in the order given. */
  params: Record<string, string>;
  data?: DataSource;
  /** Storage folder URL for the snapshot copies (<output>/1/, ..., <output>/final/). */
  output: string;
  /** Storage URL for the full log (a folder URL ending in '/' gets job-<id>-v<N>.log inside it). */
  log?: string;
  pool: Pool;
  gpus: number;
  /** Minutes between intermediate copies of the snapshot folder (fractions allowed). */
  copyIntervalMin: number;
  /** Re-runs of a version that failed for a reason other than a stop (0: none; absent in old records: 0). */
  retries?: number;
  /** CPU threads for the trainer (TSCAFFE_THREADS; 0 or absent: all cores). */
  threads?: number;
}

export interface Job {
  id: string;
  name: string;
  description: string;
  latestVersion: number;
  createdAt: string;
  updatedAt: string;
}

export interface JobVersion {
  id: string;
  jobId: string;
  version: number;
  spec: JobSpec;
  status: JobStatus;
  reason?: string;
  exitCode?: number;
  pid?: number;
  /** Intermediate copies made so far (<output>/1/ ... <output>/<copies>/). */
  copies: number;
  /** Runs started for this version (1 + retries used; 0 while queued). */
  attempts: number;
  createdAt: string;
  updatedAt: string;
  startedAt?: string;
  runningAt?: string;
  finishedAt?: string;
}

export interface JobWithVersion extends Job {
  /** The latest version. */
  current: JobVersion;
}

/** A bad request field: the HTTP layer answers 400 naming the field. */
export class FieldError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

export const JOB_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const PARAM_KEY_RE = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const BOOT_EXT_RE = /\.(prototxt|js|mjs|ts|sh)$/;
export const DEFAULT_COPY_INTERVAL_MIN = 10;

function str(body: Record<string, unknown>, field: string, required: boolean, max = 4096): string | undefined {
  const v = body[field];
  if (v === undefined || v === null || v === '') {
    if (required) throw new FieldError(field, 'is required');
    return undefined;
  }
  if (typeof v !== 'string') throw new FieldError(field, `must be a string, got ${typeof v}`);
  if (v.length > max) throw new FieldError(field, `is longer than ${max} characters`);
  return v;
}

function storageUrl(field: string, v: string): string {
  try {
    parseStorageUrl(v);
  } catch (e) {
    throw new FieldError(field, e instanceof StorageError ? e.message : String(e));
  }
  return v;
}

/** Run parameters from an object {k: v} or a list of 'k=v' strings. */
export function parseParams(v: unknown, field = 'params'): Record<string, string> {
  const out: Record<string, string> = {};
  if (v === undefined || v === null) return out;
  const put = (k: string, val: unknown) => {
    if (!PARAM_KEY_RE.test(k)) throw new FieldError(field, `invalid parameter name '${k}' (letters, digits and '_', not starting with a digit)`);
    if (typeof val !== 'string' && typeof val !== 'number' && typeof val !== 'boolean') {
      throw new FieldError(field, `parameter '${k}' must be a string, number or boolean`);
    }
    const s = String(val);
    if (/[\0\n\r]/.test(s)) throw new FieldError(field, `parameter '${k}' contains a NUL or newline`);
    out[k] = s;
  };
  if (Array.isArray(v)) {
    for (const item of v) {
      if (typeof item !== 'string' || !item.includes('=')) throw new FieldError(field, `expected 'key=value' strings, got ${JSON.stringify(item)}`);
      const i = item.indexOf('=');
      put(item.slice(0, i), item.slice(i + 1));
    }
  } else if (typeof v === 'object') {
    for (const [k, val] of Object.entries(v as Record<string, unknown>)) put(k, val);
  } else {
    throw new FieldError(field, "must be an object {key: value} or a list of 'key=value' strings");
  }
  if (Object.keys(out).length > 256) throw new FieldError(field, 'more than 256 parameters');
  return out;
}

/** 'dataset:NAME:VERSION' (VERSION: N, vN or latest) -> name and version (0 = latest); else undefined. */
export function parseDatasetRef(s: string): { name: string; version: number } | undefined {
  const m = /^dataset:([^:]+)(?::(v?\d+|latest))?$/.exec(s);
  if (!m) return undefined;
  const ver = m[2] === undefined || m[2] === 'latest' ? 0 : parseInt(m[2].replace(/^v/, ''), 10);
  return { name: m[1]!, version: ver };
}

export interface JobRequest {
  name: string;
  description: string;
  spec: Omit<JobSpec, 'data'>;
  /** The data field as given: a URL or 'dataset:NAME:VERSION' (resolved by the service). */
  data?: string;
}

/** Check a create request body; throws FieldError naming the first bad field. */
export function validateJobRequest(body: unknown): JobRequest {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new FieldError('body', 'expected a JSON object');
  const b = body as Record<string, unknown>;
  const known = new Set(['name', 'description', 'code', 'boot', 'params', 'data', 'output', 'log', 'pool', 'gpus', 'copyIntervalMin', 'retries', 'threads']);
  for (const k of Object.keys(b)) if (!known.has(k)) throw new FieldError(k, `unknown field (known: ${[...known].join(', ')})`);
  const name = str(b, 'name', true, 64)!;
  if (!JOB_NAME_RE.test(name)) throw new FieldError('name', `invalid job name '${name}' (1-64 letters, digits, '_', '.', '-', starting with a letter or digit)`);
  return { name, description: str(b, 'description', false, 2000) ?? '', ...validateSpecFields(b, undefined) };
}

/**
 * The spec fields of a create or rerun body. With `base` (a rerun), absent fields keep the base's values and `params`
 * are merged over the base's (a value of null removes a key).
 */
export function validateSpecFields(b: Record<string, unknown>, base: JobSpec | undefined): { spec: Omit<JobSpec, 'data'>; data?: string } {
  const code = str(b, 'code', !base) ?? base!.code;
  storageUrl('code', code);
  const boot = str(b, 'boot', !base, 1024) ?? base!.boot;
  if (boot.startsWith('/') || boot.includes('\\') || boot.split('/').some((s) => s === '..' || s === '.' || s === '')) {
    throw new FieldError('boot', `'${boot}' must be a path relative to the code folder, without '.' or '..' segments`);
  }
  if (!BOOT_EXT_RE.test(boot)) throw new FieldError('boot', `'${boot}' must be a solver .prototxt or a .js, .mjs, .ts or .sh script`);
  let params: Record<string, string>;
  if (base && b.params && typeof b.params === 'object' && !Array.isArray(b.params)) {
    params = { ...base.params };
    const removed = Object.entries(b.params as Record<string, unknown>).filter(([, v]) => v === null).map(([k]) => k);
    for (const k of removed) delete params[k];
    const rest = Object.fromEntries(Object.entries(b.params as Record<string, unknown>).filter(([, v]) => v !== null));
    Object.assign(params, parseParams(rest));
  } else if (base && Array.isArray(b.params)) {
    params = { ...base.params, ...parseParams(b.params) };
  } else {
    params = b.params === undefined && base ? { ...base.params } : parseParams(b.params);
  }
  const data = str(b, 'data', false);
  if (data !== undefined && !parseDatasetRef(data)) {
    if (data.startsWith('dataset:')) throw new FieldError('data', `'${data}' is not dataset:NAME:VERSION`);
    storageUrl('data', data);
  }
  const output = str(b, 'output', !base) ?? base!.output;
  storageUrl('output', output);
  const log = b.log === null ? undefined : (str(b, 'log', false) ?? base?.log);
  if (log !== undefined) storageUrl('log', log);
  const pool = (str(b, 'pool', false, 8) ?? base?.pool ?? 'cpu') as Pool;
  if (pool !== 'cpu' && pool !== 'gpu') throw new FieldError('pool', `must be cpu or gpu, got '${pool}'`);
  let gpus = b.gpus === undefined ? (base && base.pool === pool ? base.gpus : pool === 'gpu' ? 1 : 0) : b.gpus;
  if (typeof gpus !== 'number' || !Number.isInteger(gpus) || gpus < 0 || gpus > 64) throw new FieldError('gpus', 'must be an integer from 0 to 64');
  if (pool === 'gpu' && gpus < 1) throw new FieldError('gpus', 'the gpu pool needs at least 1 GPU');
  if (pool === 'cpu' && gpus !== 0) throw new FieldError('gpus', "the cpu pool takes no GPUs (use pool 'gpu')");
  const ci = b.copyIntervalMin === undefined ? (base?.copyIntervalMin ?? DEFAULT_COPY_INTERVAL_MIN) : b.copyIntervalMin;
  if (typeof ci !== 'number' || !Number.isFinite(ci) || ci <= 0 || ci > 7 * 24 * 60) {
    throw new FieldError('copyIntervalMin', 'must be a number of minutes > 0 (fractions allowed, at most a week)');
  }
  const retries = b.retries === undefined ? (base?.retries ?? 0) : b.retries;
  if (typeof retries !== 'number' || !Number.isInteger(retries) || retries < 0 || retries > 100) throw new FieldError('retries', 'must be an integer from 0 to 100');
  const threads = b.threads === undefined ? (base?.threads ?? 0) : b.threads;
  if (typeof threads !== 'number' || !Number.isInteger(threads) || threads < 0 || threads > 1024) throw new FieldError('threads', 'must be an integer from 0 (all cores) to 1024');
  const spec: Omit<JobSpec, 'data'> = { code, boot, params, output, pool, gpus, copyIntervalMin: ci, retries, threads };
  if (log !== undefined) spec.log = log;
  const dataOut = data ?? (b.data === null ? undefined : base?.data && (base.data.kind === 'url' ? base.data.url : `dataset:${base.data.name}:${base.data.version}`));
  return dataOut !== undefined ? { spec, data: dataOut } : { spec };
}
