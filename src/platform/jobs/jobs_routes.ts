// Job routes of the platform API:
//
//   POST   /api/jobs                         create (201, the job with its version 1, status queued)
//   GET    /api/jobs                         list (each with its latest version)
//   GET    /api/jobs/:id                     show
//   DELETE /api/jobs/:id                     delete (409 while a version is active)
//   POST   /api/jobs/:id/stop                stop the latest version
//   GET    /api/jobs/:id/versions            all versions
//   POST   /api/jobs/:id/versions            re-run: a new version with changed fields (params merged)
//   GET    /api/jobs/:id/versions/:version   one version
//   GET    /api/jobs/:id/log?version=N&follow=1&offset=B   the log as text; follow streams new lines until the end
//   GET    /api/jobs/:id/metrics?version=N   loss, lr and test outputs per iteration, parsed from the log
import { open, stat } from 'node:fs/promises';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { FieldError, isTerminal } from './model.js';
import type { JobService } from './service.js';

type IdParams = { id: string };
type Query = Record<string, string | undefined>;

function intParam(v: string | undefined, field: string, min = 0): number | undefined {
  if (v === undefined || v === '') return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min) throw new FieldError(field, `must be an integer >= ${min}, got '${v}'`);
  return Number(v);
}

const truthy = (v: string | undefined) => v !== undefined && /^(1|true|yes|)$/i.test(v);

async function streamLog(jobs: JobService, reply: FastifyReply, jobId: string, version: number | undefined, offset: number, follow: boolean): Promise<void> {
  const v = jobs.version(jobId, version);
  const file = jobs.logFile(v);
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-cache', 'x-job-version': String(v.version) });
  let pos = offset;
  let closed = false;
  res.on('close', () => (closed = true));
  const buf = Buffer.alloc(1 << 16);
  const pump = async (): Promise<void> => {
    let fh;
    try {
      fh = await open(file, 'r');
    } catch {
      return;
    }
    try {
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
        if (bytesRead === 0) return;
        pos += bytesRead;
        if (!res.write(Buffer.from(buf.subarray(0, bytesRead)))) await new Promise((r) => res.once('drain', r));
        if (closed) return;
      }
    } finally {
      await fh.close();
    }
  };
  try {
    await pump();
    while (follow && !closed) {
      const now = jobs.repo.getVersionById(v.id);
      const ended = !now || isTerminal(now.status);
      await pump();
      if (ended) {
        const size = await stat(file).then((s) => s.size, () => 0);
        if (pos >= size) break;
        continue;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    res.end();
  }
}

export function registerJobRoutes(app: FastifyInstance, jobs: JobService): void {
  app.post('/api/jobs', async (req, reply) => reply.status(201).send(await jobs.create(req.body)));
  app.get('/api/jobs', async () => ({ jobs: jobs.repo.listJobs() }));
  app.get<{ Params: IdParams }>('/api/jobs/:id', async (req) => jobs.get(req.params.id));
  app.delete<{ Params: IdParams }>('/api/jobs/:id', async (req) => {
    await jobs.delete(req.params.id);
    return { deleted: req.params.id };
  });
  app.post<{ Params: IdParams }>('/api/jobs/:id/stop', async (req) => jobs.stop(req.params.id));
  app.get<{ Params: IdParams }>('/api/jobs/:id/versions', async (req) => {
    jobs.get(req.params.id);
    return { versions: jobs.repo.listVersions(req.params.id) };
  });
  app.post<{ Params: IdParams }>('/api/jobs/:id/versions', async (req, reply) => reply.status(201).send(await jobs.rerun(req.params.id, req.body ?? {})));
  app.get<{ Params: IdParams & { version: string } }>('/api/jobs/:id/versions/:version', async (req) =>
    jobs.version(req.params.id, intParam(req.params.version.replace(/^v/, ''), 'version', 1)),
  );
  app.get<{ Params: IdParams; Querystring: Query }>('/api/jobs/:id/log', async (req, reply) => {
    const version = intParam(req.query.version, 'version', 1);
    const offset = intParam(req.query.offset, 'offset') ?? 0;
    jobs.version(req.params.id, version); // 404 before the stream starts
    await streamLog(jobs, reply, req.params.id, version, offset, truthy(req.query.follow));
  });
  app.get<{ Params: IdParams; Querystring: Query }>('/api/jobs/:id/metrics', async (req) =>
    jobs.metrics(req.params.id, intParam(req.query.version, 'version', 1)),
  );
}
