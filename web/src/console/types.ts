// The API's record shapes, from the server's own modules (type-only imports: nothing of the server is bundled).
export type { Job, JobSpec, JobStatus, JobVersion, JobWithVersion, Pool } from '../../../src/platform/jobs/model.js';
export type { Metrics, TestPoint, TrainPoint } from '../../../src/platform/jobs/metrics.js';
export type { DeploymentInfo, ModelEntry } from '../../../src/platform/models/service.js';
export type { MarketDataset } from '../../../src/platform/datasets/market.js';
export type { DatasetVersion } from '../../../src/platform/datasets/repository.js';
export type { DatasetWithVersions } from '../../../src/platform/datasets/service.js';
