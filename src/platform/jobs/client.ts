// A small client of the platform API (used by the CLI and the tests): JSON calls with the bearer token, uploads of
// files and folders, and the log stream.
import { createReadStream, createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { listLocalFiles } from '../storage/copy.js';
import { defaultDataDir } from '../storage/open.js';
import { ApiError } from './api_error.js';
import { tokenFile } from './auth.js';
import type { JobVersion, JobWithVersion } from './model.js';
import type { Metrics } from './metrics.js';
import type { DeploymentInfo, ModelEntry } from '../models/service.js';
import type { Prediction } from '../../inference/classifier.js';

export const DEFAULT_SERVER = 'http://127.0.0.1:8080';

export { ApiError };

export interface ClientOptions {
  server?: string;
  token?: string;
}

/** --server / TSCAFFE_SERVER / the default; --token / TSCAFFE_TOKEN / the local data dir's token file when readable. */
export function clientFromEnv(o: ClientOptions = {}, env: NodeJS.ProcessEnv = process.env): PlatformClient {
  const server = o.server || env.TSCAFFE_SERVER || DEFAULT_SERVER;
  let token = o.token || env.TSCAFFE_TOKEN || undefined;
  if (!token) {
    try {
      token = readFileSync(tokenFile(defaultDataDir(env)), 'utf8').trim() || undefined;
    } catch {
      /* no local token */
    }
  }
  return new PlatformClient(server, token);
}

export class PlatformClient {
  readonly base: string;
  constructor(
    server: string,
    readonly token?: string,
  ) {
    this.base = server.replace(/\/+$/, '');
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), ...extra };
  }

  async raw(method: string, path: string, init: { body?: unknown; headers?: Record<string, string>; stream?: Readable; size?: number } = {}): Promise<Response> {
    let body: RequestInit['body'];
    const headers = this.headers(init.headers);
    if (init.stream) {
      body = Readable.toWeb(init.stream) as unknown as RequestInit['body'];
      headers['content-type'] = 'application/octet-stream';
      if (init.size !== undefined) headers['content-length'] = String(init.size);
    } else if (init.body !== undefined) {
      body = JSON.stringify(init.body);
      headers['content-type'] = 'application/json';
    }
    let res: Response;
    try {
      res = await fetch(this.base + path, { method, headers, body, ...(init.stream ? { duplex: 'half' } : {}) } as RequestInit);
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause?.code;
      throw new ApiError(0, `cannot reach the tscaffe service at ${this.base}${cause ? ` (${cause})` : ''}: start it with 'tscaffe serve' or set --server / TSCAFFE_SERVER`);
    }
    if (!res.ok) {
      const text = await res.text();
      let msg = text;
      let field: string | undefined;
      try {
        const j = JSON.parse(text) as { error?: string; field?: string };
        msg = j.error ?? text;
        field = j.field;
      } catch {
        /* not JSON */
      }
      throw new ApiError(res.status, `${res.status}: ${msg}`, field);
    }
    return res;
  }

  async call<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.raw(method, path, body === undefined ? {} : { body });
    return (await res.json()) as T;
  }

  createJob(body: Record<string, unknown>): Promise<JobWithVersion> {
    return this.call('POST', '/api/jobs', body);
  }
  getJob(id: string): Promise<JobWithVersion> {
    return this.call('GET', `/api/jobs/${encodeURIComponent(id)}`);
  }
  listJobs(): Promise<{ jobs: JobWithVersion[] }> {
    return this.call('GET', '/api/jobs');
  }
  stopJob(id: string): Promise<JobVersion> {
    return this.call('POST', `/api/jobs/${encodeURIComponent(id)}/stop`);
  }
  deleteJob(id: string): Promise<unknown> {
    return this.call('DELETE', `/api/jobs/${encodeURIComponent(id)}`);
  }
  rerunJob(id: string, body: Record<string, unknown>): Promise<JobVersion> {
    return this.call('POST', `/api/jobs/${encodeURIComponent(id)}/versions`, body);
  }
  metrics(id: string, version?: number): Promise<Metrics & { version: number }> {
    return this.call('GET', `/api/jobs/${encodeURIComponent(id)}/metrics${version ? `?version=${version}` : ''}`);
  }
  async log(id: string, version?: number): Promise<string> {
    const res = await this.raw('GET', `/api/jobs/${encodeURIComponent(id)}/log${version ? `?version=${version}` : ''}`);
    return res.text();
  }

  /** Stream the log (follow: until the job ends) to `out`. */
  async followLog(id: string, out: (chunk: string) => void, opts: { version?: number; follow?: boolean } = {}): Promise<void> {
    const qs = new URLSearchParams();
    if (opts.version) qs.set('version', String(opts.version));
    if (opts.follow) qs.set('follow', '1');
    const res = await this.raw('GET', `/api/jobs/${encodeURIComponent(id)}/log?${qs}`);
    const dec = new TextDecoder();
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) out(dec.decode(chunk, { stream: true }));
  }

  /** Poll until the latest version is in a final status. */
  async waitJob(id: string, opts: { timeoutMs?: number; pollMs?: number } = {}): Promise<JobWithVersion> {
    const deadline = Date.now() + (opts.timeoutMs ?? Infinity);
    for (;;) {
      const j = await this.getJob(id);
      if (['succeeded', 'failed', 'stopped'].includes(j.current.status)) return j;
      if (Date.now() > deadline) throw new Error(`job ${id} still ${j.current.status} after ${opts.timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, opts.pollMs ?? 250));
    }
  }

  listModels(): Promise<{ models: ModelEntry[] }> {
    return this.call('GET', '/api/models');
  }
  /** Deploy a job's final model (the latest succeeded version, or `version`); an existing deployment is returned. */
  deployModel(jobId: string, version?: number): Promise<DeploymentInfo> {
    return this.call('POST', `/api/models/${encodeURIComponent(jobId)}/deploy`, version ? { version } : {});
  }
  listDeployments(): Promise<{ deployments: DeploymentInfo[] }> {
    return this.call('GET', '/api/models/deployments');
  }
  getDeployment(id: string): Promise<DeploymentInfo> {
    return this.call('GET', `/api/models/deployments/${encodeURIComponent(id)}`);
  }
  deleteDeployment(id: string): Promise<{ deleted: string }> {
    return this.call('DELETE', `/api/models/deployments/${encodeURIComponent(id)}`);
  }
  /** Classify a PNG/JPEG image (bytes) or a tensor of the net's input values with a deployment. */
  async predict(id: string, input: Uint8Array | { tensor: number[]; shape?: number[] }, topK?: number): Promise<Prediction> {
    const path = `/api/models/deployments/${encodeURIComponent(id)}/predict${topK ? `?top_k=${topK}` : ''}`;
    const res = input instanceof Uint8Array
      ? await this.raw('POST', path, { stream: Readable.from([Buffer.from(input)]), size: input.length })
      : await this.raw('POST', path, { body: input });
    return (await res.json()) as Prediction;
  }

  async uploadFile(file: string, url: string, size?: number): Promise<void> {
    await this.raw('PUT', `/api/storage/object?url=${encodeURIComponent(url)}`, { stream: createReadStream(file), ...(size !== undefined ? { size } : {}) });
  }

  /** Upload the files under a local folder to the storage folder `url`. */
  async uploadDir(dir: string, url: string): Promise<number> {
    const base = url.endsWith('/') ? url : url + '/';
    const files = await listLocalFiles(dir);
    for (const f of files) await this.uploadFile(f.file, base + f.rel, f.size);
    return files.length;
  }

  async download(url: string): Promise<Buffer> {
    const res = await this.raw('GET', `/api/storage/object?url=${encodeURIComponent(url)}`);
    return Buffer.from(await res.arrayBuffer());
  }

  /** Download one object to a local file (folders created), streamed. Returns the bytes written. */
  async downloadFile(url: string, file: string): Promise<number> {
    const res = await this.raw('GET', `/api/storage/object?url=${encodeURIComponent(url)}`);
    mkdirSync(path.dirname(file), { recursive: true });
    let n = 0;
    const body = Readable.fromWeb(res.body as unknown as Parameters<typeof Readable.fromWeb>[0]);
    body.on('data', (c: Buffer) => void (n += c.length));
    await pipeline(body, createWriteStream(file));
    return n;
  }

  /** Download every object under the storage folder `url` into `dir` (keys relative to the folder). */
  async downloadDir(url: string, dir: string): Promise<{ files: number; bytes: number }> {
    const r = await this.ls(url.endsWith('/') ? url : url + '/', true);
    const base = (r as { url?: string }).url ?? (url.endsWith('/') ? url : url + '/');
    const prefix = base.replace(/^[a-z][a-z0-9]*:\/\/[^/]+\/|^\/[^/]+\//, '');
    const root = path.resolve(dir);
    let files = 0;
    let bytes = 0;
    for (const o of r.objects ?? []) {
      const rel = o.key.startsWith(prefix) ? o.key.slice(prefix.length) : o.key;
      if (!rel || rel.endsWith('/')) continue;
      const target = path.resolve(root, rel);
      if (target !== root && !target.startsWith(root + path.sep)) throw new Error(`refusing to write ${o.key} outside ${dir}`);
      bytes += await this.downloadFile(base + rel, target);
      files++;
    }
    return { files, bytes };
  }

  copy(src: string, dst: string, recursive: boolean): Promise<{ files: number; bytes: number }> {
    return this.call('POST', '/api/storage/copy', { src, dst, recursive });
  }

  rm(url: string, recursive: boolean): Promise<{ deleted: number }> {
    return this.call('DELETE', `/api/storage?url=${encodeURIComponent(url)}${recursive ? '&recursive=1' : ''}`);
  }

  makeBucket(url: string): Promise<{ bucket: string }> {
    return this.call('POST', '/api/storage/buckets', { url });
  }

  ls(url: string, recursive = false): Promise<{ url?: string; buckets?: string[]; objects?: { key: string; size: number; lastModified?: string }[]; folders?: string[] }> {
    return this.call('GET', `/api/storage?url=${encodeURIComponent(url)}${recursive ? '&recursive=1' : ''}`);
  }
}
