// The API's record shapes. Jobs, metrics and models come from the server's own modules (type-only imports: nothing of the
// server is bundled); datasets are declared here with the fields the console shows.
export type { Job, JobSpec, JobStatus, JobVersion, JobWithVersion, Pool } from '../../../src/platform/jobs/model.js';
export type { Metrics, TestPoint, TrainPoint } from '../../../src/platform/jobs/metrics.js';
export type { DeploymentInfo, ModelEntry } from '../../../src/platform/models/service.js';

export interface MarketDataset {
  name: string;
  title: string;
  description: string;
  homepage: string;
  license: string;
  provider: string;
  classes: string[];
  trainCount: number;
  testCount: number;
  imageShape: { channels: number; height: number; width: number };
  available: boolean;
  unavailableReason?: string;
  totalBytes: number;
}

export interface DatasetVersion {
  id: string;
  datasetName: string;
  version: number;
  status: 'importing' | 'normal' | 'failed';
  reason?: string;
  storageUrl: string;
  format: 'idx' | 'lmdb' | 'both';
  source: string;
  files: { path: string; url: string; size: number }[];
  totalBytes: number;
  createdAt: string;
  finishedAt?: string;
}

export interface DatasetWithVersions {
  dataset: { id: string; name: string; description: string; source?: string; createdAt: string };
  versions: DatasetVersion[];
}
