// The platform's models: each succeeded job's final model (locate.ts), and in-process inference deployments of
// them — a Classifier per deployment (src/inference), answering predict requests with batching. Deployments live as
// long as the service (they are not persisted); close() releases them.
import { randomUUID } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { decodeProtoBinary } from '../../proto/io.js';
import type { NetParameter } from '../../proto/types.generated.js';
import { printTextProto } from '../../proto/textformat.js';
import { Classifier } from '../../inference/classifier.js';
import { deriveDeployNet } from '../../inference/deploy.js';
import { modelInfo, predict } from '../../inference/http.js';
import type { Prediction } from '../../inference/classifier.js';
import { logger } from '../../util/log.js';
import type { ObjectStore } from '../storage/store.js';
import type { JobVersion, JobWithVersion } from '../jobs/model.js';
import type { JobRepository } from '../jobs/repository.js';
import { ServiceError } from '../jobs/service.js';
import { jobFile, locateModel, ModelLocateError, readFinalFolder } from './locate.js';

const log = logger('models/service.ts:0');

export const DEFAULT_MAX_DEPLOYMENTS = 8;

export interface ModelEntry {
  jobId: string;
  jobName: string;
  version: number;
  finishedAt?: string;
  /** The final folder's URL (<output>/final/). */
  output: string;
  /** URL of the chosen .caffemodel (highest iteration), null when there is none. */
  weights: string | null;
  iteration: number | null;
  /** Whether a deploy can be tried: weights exist and a net prototxt is in final/ or the job booted a solver. */
  deployable: boolean;
  /** Why not, when deployable is false. */
  problem?: string;
  /** Ids of the deployments of this job. */
  deployments: string[];
}

export interface DeploymentInfo {
  id: string;
  jobId: string;
  jobName: string;
  version: number;
  weights: string;
  iteration: number | null;
  net: string;
  createdAt: string;
  predictUrl: string;
  /** Predict requests answered. */
  requests: number;
  model: Record<string, unknown>;
}

interface Deployment {
  info: Omit<DeploymentInfo, 'requests' | 'model'>;
  classifier: Classifier;
  requests: number;
  dir: string;
}

export interface ModelServiceOptions {
  repo: JobRepository;
  store: ObjectStore;
  /** Scratch folder for downloaded mean files (one sub-folder per deployment). */
  workDir: string;
  maxDeployments?: number;
  /** Most inputs per forward pass (default the Classifier's 256). */
  maxBatch?: number;
}

export const predictPath = (id: string) => `/api/models/deployments/${encodeURIComponent(id)}/predict`;

export class ModelService {
  private readonly deployments = new Map<string, Deployment>();
  private readonly loading = new Map<string, Promise<{ info: DeploymentInfo; created: boolean }>>();
  private closed = false;

  constructor(private readonly o: ModelServiceOptions) {}

  /** The latest succeeded version of a job. */
  private succeeded(job: JobWithVersion, version?: number): JobVersion | undefined {
    const vs = this.o.repo.listVersions(job.id).filter((v) => v.status === 'succeeded' && (version === undefined || v.version === version));
    return vs[vs.length - 1];
  }

  /** Each job with a succeeded version: its final model. */
  async list(): Promise<ModelEntry[]> {
    const out: ModelEntry[] = [];
    for (const job of this.o.repo.listJobs()) {
      const v = this.succeeded(job);
      if (!v) continue;
      const entry: ModelEntry = {
        jobId: job.id, jobName: job.name, version: v.version, output: '', weights: null, iteration: null, deployable: false,
        ...(v.finishedAt ? { finishedAt: v.finishedAt } : {}),
        deployments: [...this.deployments.values()].filter((d) => d.info.jobId === job.id).map((d) => d.info.id),
      };
      try {
        const fin = await readFinalFolder(this.o.store, v.spec);
        entry.output = fin.url;
        if (fin.weights) [entry.weights, entry.iteration] = [fin.weights.url, fin.weights.iteration];
        if (!fin.weights) entry.problem = fin.objects.length ? `no .caffemodel in ${fin.url}` : `${fin.url} is empty or missing`;
        else if (!fin.prototxts.length && !v.spec.boot.endsWith('.prototxt')) entry.problem = `no net .prototxt in ${fin.url} and the job booted a script`;
        else entry.deployable = true;
      } catch (e) {
        entry.problem = (e as Error).message;
      }
      out.push(entry);
    }
    return out;
  }

  /** Start an inference service for the job's final model; an existing deployment of the same model is returned. */
  deploy(jobId: string, body: Record<string, unknown> = {}): Promise<{ info: DeploymentInfo; created: boolean }> {
    if (this.closed) return Promise.reject(new ServiceError(503, 'the service is shutting down'));
    const job = this.o.repo.getJob(jobId);
    if (!job) return Promise.reject(new ServiceError(404, `no job with id '${jobId}'`));
    const version = body.version === undefined ? undefined : Number(body.version);
    if (version !== undefined && !(Number.isInteger(version) && version >= 1)) {
      return Promise.reject(new ServiceError(400, `version must be an integer >= 1, got '${String(body.version)}'`));
    }
    const v = this.succeeded(job, version);
    if (!v) {
      const what = version === undefined ? `job ${jobId} has no succeeded version (latest v${job.current.version} is ${job.current.status})` :
        `job ${jobId} v${version} ${this.o.repo.getVersion(jobId, version) ? `is ${this.o.repo.getVersion(jobId, version)!.status}` : 'does not exist'}`;
      return Promise.reject(new ServiceError(version !== undefined && !this.o.repo.getVersion(jobId, version) ? 404 : 409, `${what}: only a succeeded job's model can be deployed`));
    }
    const key = v.id;
    const pending = this.loading.get(key);
    if (pending) return pending;
    const p = this.load(job, v).finally(() => this.loading.delete(key));
    this.loading.set(key, p);
    return p;
  }

  private async load(job: JobWithVersion, v: JobVersion): Promise<{ info: DeploymentInfo; created: boolean }> {
    let located;
    try {
      located = await locateModel(this.o.store, v.spec);
    } catch (e) {
      throw new ServiceError(e instanceof ModelLocateError ? 422 : 500, `job ${job.id} v${v.version}: ${(e as Error).message}`);
    }
    const same = [...this.deployments.values()].find((d) => d.info.jobId === job.id && d.info.version === v.version && d.info.weights === located.weights.url);
    if (same) return { info: this.describe(same), created: false };
    if (this.deployments.size >= (this.o.maxDeployments ?? DEFAULT_MAX_DEPLOYMENTS)) {
      throw new ServiceError(409, `${this.deployments.size} models are deployed, the most this service keeps: delete one first (DELETE /api/models/deployments/:id)`);
    }
    const id = `dep-${randomUUID().slice(0, 8)}`;
    const dir = path.join(this.o.workDir, id);
    let classifier: Classifier;
    try {
      await mkdir(dir, { recursive: true });
      // HDF5 weights are read from a file (by their extension); binary ones straight from the bytes
      let weights: NetParameter | string;
      if (located.weights.url.endsWith('.h5')) {
        weights = path.join(dir, 'weights.caffemodel.h5');
        await writeFile(weights, located.weightBytes);
      } else {
        weights = decodeProtoBinary<NetParameter>(located.weightBytes, 'NetParameter', located.weights.url);
      }
      // The job's data lives in storage, not here: no database is opened; a mean file is fetched next to the model.
      const deploy = await deriveDeployNet(located.net, { readDb: false, baseDirs: [dir] });
      let meanFile: string | undefined;
      if (deploy.transform?.mean_file) {
        const f = jobFile(deploy.transform.mean_file, v.spec);
        meanFile = path.join(dir, 'mean.binaryproto');
        await writeFile(meanFile, await this.o.store.getBuffer(f.bucket, f.key));
      }
      classifier = await Classifier.load({
        model: located.net, weights, readDb: false, baseDirs: [dir],
        ...(meanFile ? { meanFile } : {}), ...(located.labels ? { labels: located.labels } : {}),
        ...(this.o.maxBatch ? { maxBatch: this.o.maxBatch } : {}),
      });
    } catch (e) {
      await rm(dir, { recursive: true, force: true });
      if (e instanceof ServiceError) throw e;
      throw new ServiceError(422, `job ${job.id} v${v.version}: cannot load the model (${(e as Error).message})`);
    }
    if (this.closed) {
      await classifier.close();
      throw new ServiceError(503, 'the service is shutting down');
    }
    const d: Deployment = {
      info: {
        id, jobId: job.id, jobName: job.name, version: v.version, weights: located.weights.url, iteration: located.weights.iteration,
        net: located.netUrl, createdAt: new Date().toISOString(), predictUrl: predictPath(id),
      },
      classifier, requests: 0, dir,
    };
    this.deployments.set(id, d);
    log.info(`Deployed ${job.id} v${v.version} (${located.weights.url}) as ${id}`);
    return { info: this.describe(d), created: true };
  }

  private describe(d: Deployment): DeploymentInfo {
    return { ...d.info, requests: d.requests, model: modelInfo(d.classifier) };
  }

  private get(id: string): Deployment {
    const d = this.deployments.get(id);
    if (!d) throw new ServiceError(404, `no deployment with id '${id}'`);
    return d;
  }

  listDeployments(): DeploymentInfo[] {
    return [...this.deployments.values()].map((d) => this.describe(d));
  }

  deployment(id: string): DeploymentInfo {
    return this.describe(this.get(id));
  }

  /** The deployment's deploy net as Caffe text (what a browser needs to run the model itself). */
  deployPrototxt(id: string): string {
    return printTextProto(this.get(id).classifier.deploy.net, 'NetParameter');
  }

  async undeploy(id: string): Promise<void> {
    const d = this.get(id);
    this.deployments.delete(id);
    await d.classifier.close();
    await rm(d.dir, { recursive: true, force: true });
    log.info(`Deleted deployment ${id}`);
  }

  async predict(id: string, body: unknown, contentType: string | undefined, topK: unknown): Promise<Prediction> {
    const d = this.get(id);
    const r = await predict(d.classifier, body, contentType, topK);
    d.requests++;
    return r;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.loading.values()]);
    for (const id of [...this.deployments.keys()]) await this.undeploy(id).catch(() => undefined);
  }
}
