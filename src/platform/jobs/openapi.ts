// The OpenAPI 3.0 description of the platform API, served at GET /api/openapi.json.
type Obj = Record<string, unknown>;

const ref = (name: string): Obj => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Obj, description = 'OK'): Obj => ({ description, content: { 'application/json': { schema } } });
const err = (description: string): Obj => json(ref('Error'), description);
const q = (name: string, description: string, required = false, type = 'string'): Obj => ({ name, in: 'query', required, description, schema: { type } });
const p = (name: string, description: string): Obj => ({ name, in: 'path', required: true, description, schema: { type: 'string' } });
const body = (schema: Obj, required = true): Obj => ({ required, content: { 'application/json': { schema } } });

function op(summary: string, responses: Obj, extra: Obj = {}): Obj {
  return { summary, responses: { ...responses, '400': err('a bad field (named in `field`)'), '401': err('missing or invalid token') }, ...extra };
}

const jobSpecProps: Obj = {
  code: { type: 'string', description: 'storage folder URL of the code (s3://, obs:// or /bucket/...)' },
  boot: { type: 'string', description: 'boot file relative to the code folder: a solver .prototxt, or a .js/.mjs/.ts/.sh script' },
  params: {
    oneOf: [{ type: 'object', additionalProperties: { type: 'string' } }, { type: 'array', items: { type: 'string', description: 'key=value' } }],
    description: 'run parameters: solver fields override the solver file; all are environment variables; scripts get --key=value',
  },
  data: { type: 'string', description: 'a storage folder URL or dataset:NAME:VERSION (VERSION: N, vN or latest)' },
  output: { type: 'string', description: 'storage folder URL: <output>/1/, <output>/2/ ... and <output>/final/' },
  log: { type: 'string', description: "storage URL of the full log (a folder URL ending in '/' gets <job>-v<N>.log)" },
  pool: { type: 'string', enum: ['cpu', 'gpu'] },
  gpus: { type: 'integer', minimum: 0 },
  copyIntervalMin: { type: 'number', exclusiveMinimum: 0, default: 10, description: 'minutes between intermediate copies' },
  threads: { type: 'integer', minimum: 0, maximum: 1024, default: 0, description: 'CPU threads for the trainer (0: all cores)' },
  retries: { type: 'integer', minimum: 0, maximum: 100, default: 0, description: 'local scheduler: re-runs of a version that failed for a reason other than a stop; queue: BullMQ attempts - 1' },
};

export function openApiDocument(): Obj {
  const jobId = p('id', 'job id');
  return {
    openapi: '3.0.3',
    info: { title: 'tscaffe platform API', version: '0.1.0', description: 'Datasets, object storage, training jobs and trained models. Send Authorization: Bearer <token>.' },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        Error: { type: 'object', required: ['error'], properties: { error: { type: 'string' }, field: { type: 'string' } } },
        JobCreate: { type: 'object', required: ['name', 'code', 'boot', 'output'], properties: { name: { type: 'string' }, description: { type: 'string' }, ...jobSpecProps } },
        JobRerun: { type: 'object', properties: jobSpecProps, description: 'fields to change; params are merged (null removes a key)' },
        JobVersion: {
          type: 'object',
          properties: {
            id: { type: 'string' },
            jobId: { type: 'string' },
            version: { type: 'integer' },
            spec: { type: 'object' },
            status: { type: 'string', enum: ['queued', 'initializing', 'running', 'succeeded', 'failed', 'stopped'] },
            reason: { type: 'string' },
            exitCode: { type: 'integer' },
            copies: { type: 'integer' },
            createdAt: { type: 'string', format: 'date-time' },
            startedAt: { type: 'string', format: 'date-time' },
            runningAt: { type: 'string', format: 'date-time' },
            finishedAt: { type: 'string', format: 'date-time' },
          },
        },
        Job: {
          type: 'object',
          properties: { id: { type: 'string' }, name: { type: 'string' }, description: { type: 'string' }, latestVersion: { type: 'integer' }, current: ref('JobVersion') },
        },
        Metrics: {
          type: 'object',
          properties: {
            train: { type: 'array', items: { type: 'object', properties: { iteration: { type: 'integer' }, loss: { type: 'number' }, lr: { type: 'number' } } } },
            test: { type: 'array', items: { type: 'object', properties: { iteration: { type: 'integer' }, net: { type: 'integer' }, scores: { type: 'object', additionalProperties: { type: 'number' } } } } },
          },
        },
        ModelEntry: {
          type: 'object',
          description: "a succeeded job's final model (the latest succeeded version)",
          properties: {
            jobId: { type: 'string' },
            jobName: { type: 'string' },
            version: { type: 'integer' },
            finishedAt: { type: 'string', format: 'date-time' },
            output: { type: 'string', description: 'the final folder URL, <output>/final/' },
            weights: { type: 'string', nullable: true, description: 'URL of the .caffemodel of the highest iteration' },
            iteration: { type: 'integer', nullable: true },
            deployable: { type: 'boolean' },
            problem: { type: 'string', description: 'why it is not deployable' },
            deployments: { type: 'array', items: { type: 'string' }, description: 'ids of its deployments' },
          },
        },
        Deployment: {
          type: 'object',
          properties: {
            id: { type: 'string' },
            jobId: { type: 'string' },
            jobName: { type: 'string' },
            version: { type: 'integer' },
            weights: { type: 'string' },
            iteration: { type: 'integer', nullable: true },
            net: { type: 'string', description: 'URL of the net prototxt (or solver) the deploy net was derived from' },
            createdAt: { type: 'string', format: 'date-time' },
            predictUrl: { type: 'string', description: 'path of the predict route, /api/models/deployments/{id}/predict' },
            requests: { type: 'integer' },
            model: {
              type: 'object',
              description: 'input {name, shape [1,C,H,W], channels, height, width}, output {name, classes, probabilities}, labels (or null), preprocessing, maxBatch, notes',
            },
          },
        },
        PredictJson: {
          type: 'object',
          description: 'either tensor (the net input values, C*H*W, after preprocessing) or image (base64 PNG/JPEG; a data: URL too)',
          properties: {
            tensor: { type: 'array', items: { type: 'number' } },
            shape: { type: 'array', items: { type: 'integer' }, description: '[C,H,W] or [1,C,H,W]; checked against the input when given' },
            image: { type: 'string', format: 'byte' },
          },
        },
        Prediction: {
          type: 'object',
          properties: {
            probabilities: { type: 'array', items: { type: 'number' } },
            top: { type: 'array', items: { type: 'object', properties: { label: { type: 'string' }, index: { type: 'integer' }, probability: { type: 'number' } } } },
          },
        },
        DatasetImport: {
          type: 'object',
          required: ['market', 'path'],
          properties: { market: { type: 'string' }, name: { type: 'string' }, path: { type: 'string' }, format: { type: 'string', enum: ['idx', 'lmdb', 'both'] }, description: { type: 'string' } },
        },
      },
    },
    security: [{ bearer: [] }],
    paths: {
      '/api/health': { get: { summary: 'liveness (no token needed)', security: [], responses: { '200': json({ type: 'object' }) } } },
      '/api/openapi.json': { get: { summary: 'this document (no token needed)', security: [], responses: { '200': json({ type: 'object' }) } } },
      '/api/jobs': {
        get: op('list jobs with their latest version', { '200': json({ type: 'object', properties: { jobs: { type: 'array', items: ref('Job') } } }) }),
        post: op('create a job (version 1, queued)', { '201': json(ref('Job'), 'created') }, { requestBody: body(ref('JobCreate')) }),
      },
      '/api/jobs/{id}': {
        get: op('show a job', { '200': json(ref('Job')), '404': err('no such job') }, { parameters: [jobId] }),
        delete: op('delete a job and its versions', { '200': json({ type: 'object' }), '409': err('a version is active') }, { parameters: [jobId] }),
      },
      '/api/jobs/{id}/stop': { post: op('stop the latest version (SIGINT to the trainer, final copies, status stopped)', { '200': json(ref('JobVersion')), '409': err('already finished') }, { parameters: [jobId] }) },
      '/api/jobs/{id}/versions': {
        get: op('all versions of a job', { '200': json({ type: 'object', properties: { versions: { type: 'array', items: ref('JobVersion') } } }) }, { parameters: [jobId] }),
        post: op('re-run: a new version with changed fields', { '201': json(ref('JobVersion'), 'created') }, { parameters: [jobId], requestBody: body(ref('JobRerun'), false) }),
      },
      '/api/jobs/{id}/versions/{version}': { get: op('one version', { '200': json(ref('JobVersion')) }, { parameters: [jobId, p('version', 'version number')] }) },
      '/api/jobs/{id}/log': {
        get: op(
          "the job's log (text); follow=1 streams new lines until the job ends",
          { '200': { description: 'the log', content: { 'text/plain': { schema: { type: 'string' } } } } },
          { parameters: [jobId, q('version', 'version (default: latest)', false, 'integer'), q('follow', '1: keep streaming'), q('offset', 'start at this byte', false, 'integer')] },
        ),
      },
      '/api/jobs/{id}/metrics': { get: op('loss, learning rate and test outputs per iteration', { '200': json(ref('Metrics')) }, { parameters: [jobId, q('version', 'version', false, 'integer')] }) },
      '/api/models': { get: op("each succeeded job's final model", { '200': json({ type: 'object', properties: { models: { type: 'array', items: ref('ModelEntry') } } }) }) },
      '/api/models/{jobId}/deploy': {
        post: op(
          "start an in-process inference service for the job's final model (an existing deployment of it is returned with 200)",
          { '201': json(ref('Deployment'), 'deployed'), '200': json(ref('Deployment'), 'already deployed'), '404': err('no such job'), '409': err('no succeeded version, or too many deployments'), '422': err('the model cannot be found or loaded') },
          { parameters: [p('jobId', 'job id')], requestBody: body({ type: 'object', properties: { version: { type: 'integer', description: 'a succeeded version (default: the latest succeeded)' } } }, false) },
        ),
      },
      '/api/models/deployments': { get: op('the running deployments', { '200': json({ type: 'object', properties: { deployments: { type: 'array', items: ref('Deployment') } } }) }) },
      '/api/models/deployments/{id}': {
        get: op('one deployment', { '200': json(ref('Deployment')), '404': err('no such deployment') }, { parameters: [p('id', 'deployment id')] }),
        delete: op('stop a deployment', { '200': json({ type: 'object', properties: { deleted: { type: 'string' } } }), '404': err('no such deployment') }, { parameters: [p('id', 'deployment id')] }),
      },
      '/api/models/deployments/{id}/deploy.prototxt': {
        get: op("the deployment's deploy net (Caffe text format; TEST-phase transform kept on its Input layer)", { '200': { description: 'the net', content: { 'text/plain': { schema: { type: 'string' } } } }, '404': err('no such deployment') }, { parameters: [p('id', 'deployment id')] }),
      },
      '/api/models/deployments/{id}/predict': {
        post: op('classify one image or tensor (concurrent requests share forward passes)', { '200': json(ref('Prediction')), '404': err('no such deployment'), '415': err('unsupported content type') }, {
          parameters: [p('id', 'deployment id'), q('top_k', 'how many classes in top (default 5)', false, 'integer')],
          requestBody: {
            required: true,
            content: {
              'image/png': { schema: { type: 'string', format: 'binary' } },
              'image/jpeg': { schema: { type: 'string', format: 'binary' } },
              'application/octet-stream': { schema: { type: 'string', format: 'binary' }, description: 'PNG or JPEG bytes' },
              'application/json': { schema: ref('PredictJson') },
            },
          },
        }),
      },
      '/api/datasets/market': { get: op('the dataset market', { '200': json({ type: 'object' }) }) },
      '/api/datasets': {
        get: op('my datasets with their versions', { '200': json({ type: 'object' }) }),
        post: op('import a market dataset into storage (status importing, then normal or failed)', { '202': json({ type: 'object' }, 'accepted') }, { requestBody: body(ref('DatasetImport')) }),
      },
      '/api/datasets/{name}': { get: op('one dataset with its versions', { '200': json({ type: 'object' }) }, { parameters: [p('name', 'dataset name')] }) },
      '/api/datasets/{name}/versions/{version}': { get: op('one dataset version', { '200': json({ type: 'object' }) }, { parameters: [p('name', 'dataset name'), p('version', 'N or vN')] }) },
      '/api/storage': {
        get: op('list buckets (url=/), a folder or an object', { '200': json({ type: 'object' }) }, { parameters: [q('url', 'storage URL', true), q('recursive', '1: everything below')] }),
        delete: op('delete an object, or a folder with recursive=1', { '200': json({ type: 'object' }) }, { parameters: [q('url', 'storage URL', true), q('recursive', '1: a folder')] }),
      },
      '/api/storage/object': {
        get: op('download an object', { '200': { description: 'the bytes', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } } }, { parameters: [q('url', 'object URL', true)] }),
        put: op('upload an object', { '201': json({ type: 'object' }, 'stored'), '413': err('too large') }, {
          parameters: [q('url', 'object URL', true)],
          requestBody: { required: true, content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
        }),
      },
      '/api/storage/buckets': {
        post: op('create a bucket', { '201': json({ type: 'object' }, 'created') }, {
          requestBody: body({ type: 'object', required: ['url'], properties: { url: { type: 'string' } } }),
        }),
      },
      '/api/storage/copy': {
        post: op('copy an object or (recursive) a folder inside the store', { '200': json({ type: 'object' }) }, {
          requestBody: body({ type: 'object', required: ['src', 'dst'], properties: { src: { type: 'string' }, dst: { type: 'string' }, recursive: { type: 'boolean' } } }),
        }),
      },
    },
  };
}
