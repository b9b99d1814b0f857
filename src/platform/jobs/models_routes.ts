// Model routes of the platform API (the web console's model pages call exactly these):
//
//   GET    /api/models                            each succeeded job's final model: {models: ModelEntry[]}
//   POST   /api/models/:jobId/deploy              {version?} -> 201 {id, predictUrl, ...} (200 when already deployed)
//   GET    /api/models/deployments                {deployments: DeploymentInfo[]}
//   GET    /api/models/deployments/:id            one deployment (input shape, labels, preprocessing)
//   DELETE /api/models/deployments/:id            {deleted: id}
//   POST   /api/models/deployments/:id/predict?top_k=K   body: image/png | image/jpeg | application/octet-stream
//          bytes, or JSON {tensor, shape?} | {image: base64} -> {probabilities, top: [{label, index, probability}]}
import type { FastifyInstance } from 'fastify';
import { addImageBodyParsers, PREDICT_BODY_LIMIT } from '../../inference/http.js';
import type { ModelService } from '../models/service.js';

type IdParams = { id: string };

export function registerModelRoutes(app: FastifyInstance, models: ModelService): void {
  // An encapsulated plugin: the image body parsers apply to these routes only (the token hook and the error handler
  // of the parent still do). application/octet-stream keeps the parent's stream parser; predict reads the stream.
  void app.register(async (m) => {
    addImageBodyParsers(m, false);
    m.get('/api/models', async () => ({ models: await models.list() }));
    m.post<{ Params: { jobId: string } }>('/api/models/:jobId/deploy', async (req, reply) => {
      const body = req.body && typeof req.body === 'object' && !Array.isArray(req.body) ? (req.body as Record<string, unknown>) : {};
      const r = await models.deploy(req.params.jobId, body);
      return reply.status(r.created ? 201 : 200).send(r.info);
    });
    m.get('/api/models/deployments', async () => ({ deployments: models.listDeployments() }));
    m.get<{ Params: IdParams }>('/api/models/deployments/:id', async (req) => models.deployment(req.params.id));
    m.get<{ Params: IdParams }>('/api/models/deployments/:id/deploy.prototxt', async (req, reply) =>
      reply.type('text/plain; charset=utf-8').send(models.deployPrototxt(req.params.id)));
    m.delete<{ Params: IdParams }>('/api/models/deployments/:id', async (req) => {
      await models.undeploy(req.params.id);
      return { deleted: req.params.id };
    });
    m.post<{ Params: IdParams; Querystring: Record<string, string | undefined> }>('/api/models/deployments/:id/predict', { bodyLimit: PREDICT_BODY_LIMIT }, async (req) =>
      models.predict(req.params.id, req.body, req.headers['content-type'], req.query.top_k),
    );
  });
}
