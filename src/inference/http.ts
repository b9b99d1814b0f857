// HTTP inference, shared by `tscaffe serve_model` and the platform's /api/models routes: the predict request bodies
// (image bytes, or JSON with a tensor or a base64 image), the answer, and the serve_model fastify app.
//
//   POST /predict?top_k=K   body: image/png or image/jpeg bytes (application/octet-stream: sniffed), or JSON
//                           { "tensor": number[] (C*H*W net input values), "shape"?: [C,H,W] | [1,C,H,W] } or
//                           { "image": "<base64 PNG/JPEG, a data: URL too>" }
//                           -> { probabilities: number[], top: [{ label, index, probability }] }
//   GET  /model             input shape, classes, labels, preprocessing
//   GET  /health            { ok: true }
import type { Readable } from 'node:stream';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { ImageError } from './image.js';
import { ClassifierError, type Classifier, type ClassifyInput, type Prediction } from './classifier.js';

/** Largest predict body accepted (an image, or JSON: a 3x224x224 tensor is about 1.5 MB of JSON), bytes. */
export const PREDICT_BODY_LIMIT = 16 * 1024 * 1024;
export const DEFAULT_TOP_K = 5;

/** A bad predict request: answered 400 with the message (statusCode is what fastify's error handlers read). */
export class PredictRequestError extends Error {
  constructor(
    message: string,
    readonly statusCode = 400,
  ) {
    super(message);
  }
}

/** The content types a predict route takes as raw bytes. */
export const IMAGE_CONTENT_TYPES = ['image/png', 'image/jpeg'];

/** Register raw-bytes parsers for image bodies on `app` (use inside an encapsulated plugin to keep them local). */
export function addImageBodyParsers(app: FastifyInstance, withOctetStream: boolean): void {
  const types = withOctetStream ? [...IMAGE_CONTENT_TYPES, 'application/octet-stream'] : IMAGE_CONTENT_TYPES;
  app.addContentTypeParser(types, { parseAs: 'buffer', bodyLimit: PREDICT_BODY_LIMIT }, (_req, body, done) => done(null, body));
}

async function readAll(stream: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of stream) {
    n += (c as Buffer).length;
    if (n > limit) throw new PredictRequestError(`request body too large: the limit is ${limit} bytes`, 413);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

function isReadable(x: unknown): x is Readable {
  return !!x && typeof (x as Readable).pipe === 'function' && typeof (x as Readable)[Symbol.asyncIterator] === 'function';
}

/** The classifier input a predict request carries (throws PredictRequestError naming what is wrong). */
export async function predictInput(body: unknown, contentType: string | undefined, c: Pick<Classifier, 'inputShape'>): Promise<ClassifyInput> {
  const ct = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (isReadable(body)) body = await readAll(body, PREDICT_BODY_LIMIT);
  if (body instanceof Uint8Array) {
    if (!body.length) throw new PredictRequestError('empty request body: send a PNG or JPEG image, or JSON {"tensor": [...]} or {"image": "<base64>"}');
    return body;
  }
  const how = 'send a PNG or JPEG image (Content-Type image/png or image/jpeg), or JSON {"tensor": [...]} or {"image": "<base64>"}';
  if (ct !== 'application/json') throw new PredictRequestError(`unsupported Content-Type '${ct}': ${how}`, 415);
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new PredictRequestError(`the JSON body must be an object: ${how}`);
  const b = body as Record<string, unknown>;
  if (b.tensor !== undefined && b.image !== undefined) throw new PredictRequestError('give either "tensor" or "image", not both');
  if (b.tensor !== undefined) {
    if (!Array.isArray(b.tensor)) throw new PredictRequestError('"tensor" must be an array of numbers');
    const want = c.inputShape;
    if (b.shape !== undefined) {
      const s = b.shape;
      const ok = Array.isArray(s) && s.every((d) => Number.isInteger(d)) &&
        ((s.length === 3 && s.every((d, i) => d === want[i])) || (s.length === 4 && s[0] === 1 && s.slice(1).every((d, i) => d === want[i])));
      if (!ok) throw new PredictRequestError(`"shape" ${JSON.stringify(s)} does not match the model's input [${want.join(', ')}] (or [1, ${want.join(', ')}])`);
    }
    const n = want.reduce((a, d) => a * d, 1);
    if (b.tensor.length !== n) throw new PredictRequestError(`"tensor" has ${b.tensor.length} values; the model's input ${want.join('x')} takes ${n}`);
    return { tensor: b.tensor as number[] };
  }
  if (b.image !== undefined) {
    if (typeof b.image !== 'string' || !b.image) throw new PredictRequestError('"image" must be a base64 string of a PNG or JPEG image');
    const s = b.image.replace(/^data:[^,]*;base64,/, '');
    if (!/^[A-Za-z0-9+/=_\-\s]*$/.test(s)) throw new PredictRequestError('"image" is not valid base64');
    return Buffer.from(s, 'base64');
  }
  throw new PredictRequestError('JSON body needs "tensor" (the input values) or "image" (a base64 PNG/JPEG)');
}

/** The top_k query value (default 5; 0 < k <= classes). */
export function topKParam(v: unknown, classes: number): number {
  if (v === undefined || v === '') return Math.min(DEFAULT_TOP_K, classes);
  const k = Number(v);
  if (!Number.isInteger(k) || k < 1) throw new PredictRequestError(`top_k must be a positive integer, got '${String(v)}'`);
  return Math.min(k, classes);
}

/** Run one predict request through the classifier (queued: concurrent requests share forward passes). */
export async function predict(c: Classifier, body: unknown, contentType: string | undefined, topK: unknown): Promise<Prediction> {
  const k = topKParam(topK, c.classes);
  const input = await predictInput(body, contentType, c);
  let tensor: Float32Array;
  try {
    tensor = c.toTensor(input, 'request');
  } catch (e) {
    if (e instanceof ImageError || e instanceof ClassifierError) throw new PredictRequestError(e.message);
    throw e;
  }
  return c.prediction(await c.enqueue(tensor), k);
}

/** What GET /model (and a platform deployment) tells about the model. */
export function modelInfo(c: Classifier): Record<string, unknown> {
  const [channels, height, width] = c.inputShape as [number, number, number];
  return {
    input: { name: c.deploy.input, shape: [1, channels, height, width], channels, height, width },
    output: { name: c.deploy.output, classes: c.classes, probabilities: c.deploy.outputIsProbability },
    labels: c.labels ?? null,
    preprocessing: c.preprocessing,
    maxBatch: c.maxBatch,
    notes: [...c.deploy.notes, ...c.preprocessor.notes],
  };
}

/** {status, body} for an error thrown by a predict handler. */
export function predictErrorReply(e: unknown, contentType?: string): { status: number; body: { error: string } } {
  const fe = e as FastifyError;
  if (fe && typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    const msg = fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? `request body too large: the limit is ${PREDICT_BODY_LIMIT} bytes` :
      fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? `unsupported Content-Type '${contentType ?? ''}': send image/png, image/jpeg or application/json` : fe.message;
    return { status: fe.statusCode, body: { error: msg } };
  }
  return { status: 500, body: { error: (e as Error)?.message ?? String(e) } };
}

/** The `tscaffe serve_model` app: /predict, /model, /health over one classifier. */
export function createModelApp(c: Classifier): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: 1 << 20, forceCloseConnections: true });
  addImageBodyParsers(app, true);
  app.setErrorHandler((err, req, reply) => {
    const r = predictErrorReply(err, req.headers['content-type']);
    void reply.status(r.status).send(r.body);
  });
  app.setNotFoundHandler((req, reply) => void reply.status(404).send({ error: `no route ${req.method} ${req.url.split('?')[0]} (routes: POST /predict, GET /model, GET /health)` }));
  app.get('/health', async () => ({ ok: true }));
  app.get('/model', async () => modelInfo(c));
  app.post<{ Querystring: Record<string, string | undefined> }>('/predict', { bodyLimit: PREDICT_BODY_LIMIT }, async (req) =>
    predict(c, req.body, req.headers['content-type'], req.query.top_k));
  return app;
}
