// Job metadata over the platform's SQLite database. Multi-row writes are transactions; status changes check the
// transition (a finished version never changes again).
import { randomUUID } from 'node:crypto';
import type { Database } from './db.js';
import { isTerminal, type Job, type JobSpec, type JobStatus, type JobVersion, type JobWithVersion } from './model.js';

interface JobRow {
  id: string;
  name: string;
  description: string;
  latest_version: number;
  created_at: string;
  updated_at: string;
}

interface VersionRow {
  id: string;
  job_id: string;
  version: number;
  spec: string;
  status: JobStatus;
  reason: string | null;
  exit_code: number | null;
  pid: number | null;
  copies: number;
  attempts: number;
  created_at: string;
  updated_at: string;
  started_at: string | null;
  running_at: string | null;
  finished_at: string | null;
}

const toJob = (r: JobRow): Job => ({
  id: r.id,
  name: r.name,
  description: r.description,
  latestVersion: r.latest_version,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

function toVersion(r: VersionRow): JobVersion {
  const v: JobVersion = {
    id: r.id,
    jobId: r.job_id,
    version: r.version,
    spec: JSON.parse(r.spec) as JobSpec,
    status: r.status,
    copies: r.copies,
    attempts: r.attempts ?? 0,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
  if (r.reason !== null) v.reason = r.reason;
  if (r.exit_code !== null) v.exitCode = r.exit_code;
  if (r.pid !== null) v.pid = r.pid;
  if (r.started_at) v.startedAt = r.started_at;
  if (r.running_at) v.runningAt = r.running_at;
  if (r.finished_at) v.finishedAt = r.finished_at;
  return v;
}

export interface StatusPatch {
  status?: JobStatus;
  reason?: string;
  exitCode?: number;
  pid?: number;
  copies?: number;
  attempts?: number;
}

/** Which statuses each status may move to. */
const NEXT: Record<JobStatus, JobStatus[]> = {
  queued: ['initializing', 'stopped', 'failed'],
  initializing: ['running', 'succeeded', 'failed', 'stopped'],
  // running -> initializing: a retry (spec.retries) starts the version again
  running: ['initializing', 'succeeded', 'failed', 'stopped'],
  succeeded: [],
  failed: [],
  stopped: [],
};

export class JobRepository {
  constructor(private readonly db: Database) {}

  /** A new job with version 1, status queued. */
  createJob(name: string, description: string, spec: JobSpec): JobWithVersion {
    const now = new Date().toISOString();
    const job: JobRow = { id: `job-${randomUUID().slice(0, 8)}`, name, description, latest_version: 1, created_at: now, updated_at: now };
    return this.db.transaction(() => {
      this.db.prepare('INSERT INTO jobs (id, name, description, latest_version, created_at, updated_at) VALUES (@id, @name, @description, @latest_version, @created_at, @updated_at)').run(job);
      const current = this.insertVersion(job.id, 1, spec, now);
      return { ...toJob(job), current };
    })();
  }

  /** A new version (the next number) of an existing job, status queued; the older versions stay. */
  addVersion(jobId: string, spec: JobSpec): JobVersion {
    return this.db.transaction(() => {
      const job = this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(jobId) as JobRow | undefined;
      if (!job) throw new Error(`no job with id '${jobId}'`);
      const now = new Date().toISOString();
      const n = job.latest_version + 1;
      this.db.prepare('UPDATE jobs SET latest_version = ?, updated_at = ? WHERE id = ?').run(n, now, jobId);
      return this.insertVersion(jobId, n, spec, now);
    })();
  }

  private insertVersion(jobId: string, version: number, spec: JobSpec, now: string): JobVersion {
    const id = `${jobId}-v${version}`;
    this.db
      .prepare("INSERT INTO job_versions (id, job_id, version, spec, status, created_at, updated_at) VALUES (?, ?, ?, ?, 'queued', ?, ?)")
      .run(id, jobId, version, JSON.stringify(spec), now, now);
    return this.getVersionById(id)!;
  }

  getJob(id: string): JobWithVersion | undefined {
    const r = this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as JobRow | undefined;
    if (!r) return undefined;
    return { ...toJob(r), current: this.getVersion(id, r.latest_version)! };
  }

  listJobs(): JobWithVersion[] {
    const rows = this.db
      .prepare('SELECT j.*, v.id AS vid FROM jobs j JOIN job_versions v ON v.job_id = j.id AND v.version = j.latest_version ORDER BY j.created_at, j.id')
      .all() as (JobRow & { vid: string })[];
    return rows.map((r) => ({ ...toJob(r), current: this.getVersionById(r.vid)! }));
  }

  getVersion(jobId: string, version: number): JobVersion | undefined {
    const r = this.db.prepare('SELECT * FROM job_versions WHERE job_id = ? AND version = ?').get(jobId, version) as VersionRow | undefined;
    return r && toVersion(r);
  }

  getVersionById(id: string): JobVersion | undefined {
    const r = this.db.prepare('SELECT * FROM job_versions WHERE id = ?').get(id) as VersionRow | undefined;
    return r && toVersion(r);
  }

  listVersions(jobId: string): JobVersion[] {
    return (this.db.prepare('SELECT * FROM job_versions WHERE job_id = ? ORDER BY version').all(jobId) as VersionRow[]).map(toVersion);
  }

  /** Versions in the given statuses, oldest first. */
  versionsIn(statuses: readonly JobStatus[]): JobVersion[] {
    const q = `SELECT * FROM job_versions WHERE status IN (${statuses.map(() => '?').join(',')}) ORDER BY created_at, id`;
    return (this.db.prepare(q).all(...statuses) as VersionRow[]).map(toVersion);
  }

  /**
   * Change a version's run state. A status change must be a legal transition (else nothing changes and undefined is
   * returned); entering initializing/running/a final status stamps started_at/running_at/finished_at.
   */
  update(id: string, patch: StatusPatch): JobVersion | undefined {
    return this.db.transaction(() => {
      const cur = this.getVersionById(id);
      if (!cur) throw new Error(`no job version with id '${id}'`);
      const now = new Date().toISOString();
      const sets: string[] = ['updated_at = @now'];
      const p: Record<string, unknown> = { id, now };
      if (patch.status !== undefined && patch.status !== cur.status) {
        if (!NEXT[cur.status].includes(patch.status)) return undefined;
        sets.push('status = @status');
        p.status = patch.status;
        if (patch.status === 'initializing') sets.push('started_at = @now');
        if (patch.status === 'running') sets.push('running_at = @now');
        if (isTerminal(patch.status)) sets.push('finished_at = @now');
      } else if (patch.status !== undefined && isTerminal(cur.status)) {
        return undefined;
      }
      if (patch.reason !== undefined) (sets.push('reason = @reason'), (p.reason = patch.reason));
      if (patch.exitCode !== undefined) (sets.push('exit_code = @exit_code'), (p.exit_code = patch.exitCode));
      if (patch.pid !== undefined) (sets.push('pid = @pid'), (p.pid = patch.pid));
      if (patch.copies !== undefined) (sets.push('copies = @copies'), (p.copies = patch.copies));
      if (patch.attempts !== undefined) (sets.push('attempts = @attempts'), (p.attempts = patch.attempts));
      this.db.prepare(`UPDATE job_versions SET ${sets.join(', ')} WHERE id = @id`).run(p);
      this.db.prepare('UPDATE jobs SET updated_at = ? WHERE id = ?').run(now, cur.jobId);
      return this.getVersionById(id);
    })();
  }

  /** Delete a job and all its versions. */
  deleteJob(id: string): boolean {
    return this.db.transaction(() => {
      this.db.prepare('DELETE FROM job_versions WHERE job_id = ?').run(id);
      return this.db.prepare('DELETE FROM jobs WHERE id = ?').run(id).changes > 0;
    })();
  }
}
