// Training jobs and the platform service: SQLite metadata (jobs, versions, datasets), the runner (one child process
// per job), the local scheduler, the fastify REST API and its client.
export { openDatabase, type Database } from './db.js';
export { SqliteDatasetRepository } from './sqlite_datasets.js';
export {
  validateJobRequest,
  validateSpecFields,
  parseParams,
  parseDatasetRef,
  FieldError,
  isTerminal,
  JOB_STATUSES,
  DEFAULT_COPY_INTERVAL_MIN,
  type Job,
  type JobSpec,
  type JobStatus,
  type JobVersion,
  type JobWithVersion,
  type DataSource,
  type Pool,
} from './model.js';
export { JobRepository, type StatusPatch } from './repository.js';
export { parseMetrics, MetricsParser, type Metrics, type TrainPoint, type TestPoint } from './metrics.js';
export { mapHomeWork, mapPath, codeFolderName, prepareSolver } from './workspace.js';
export { JobService, ServiceError, type JobServiceOptions } from './service.js';
export { startServer, type Platform, type ServerOptions } from './server.js';
export { PlatformClient, ApiError, clientFromEnv, DEFAULT_SERVER } from './client.js';
export { loadOrCreateToken, checkBearer } from './auth.js';
export { JobQueue, startWorker, parseQueueUrl, type RemoteRun, type WorkerEvent, type WorkerOptions, type RunningWorker } from './queue.js';
