// The web console's files (the Vite build in dist/web: `npm run build:web`) at /, next to the API at /api. The files
// are public (the console asks for the API token itself); every /api route keeps its token check (server.ts). When the
// bundle is missing, / answers a page saying how to build it instead of a bare 404.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';

/** dist/web, next to the compiled sources (this file runs as dist/src/platform/jobs/web_routes.js). */
export const DEFAULT_WEB_DIR = fileURLToPath(new URL('../../../web/', import.meta.url));

// The pages load only their own scripts (a stolen token is the thing to guard against); WebAssembly and workers are
// for the draw page's in-browser inference.
const CSP = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "worker-src 'self' blob:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

function pageHeaders(reply: FastifyReply): void {
  void reply.header('content-security-policy', CSP).header('x-content-type-options', 'nosniff').header('referrer-policy', 'no-referrer');
}

export async function registerWebConsole(app: FastifyInstance, webDir = DEFAULT_WEB_DIR): Promise<void> {
  if (!existsSync(path.join(webDir, 'index.html'))) {
    const page = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>tscaffe: web console not built</title></head><body>
<h1>The web console is not built</h1>
<p>This service has no console files in <code>${webDir.replace(/[<>&]/g, '')}</code>. Build them with <code>npm run build:web</code>
(part of <code>npm ci</code> and <code>npm run build</code>) and restart <code>tscaffe serve</code>.</p>
<p>The REST API works without it: see <a href="/api/openapi.json">/api/openapi.json</a>.</p></body></html>`;
    for (const url of ['/', '/index.html', '/draw.html']) {
      app.get(url, async (_req, reply) => {
        pageHeaders(reply);
        return reply.status(503).type('text/html; charset=utf-8').send(page);
      });
    }
    return;
  }
  await app.register(fastifyStatic, {
    root: webDir,
    prefix: '/',
    index: ['index.html'],
    cacheControl: false,
    setHeaders: (reply, file) => {
      // Vite names assets by content hash: cache them for good; pages are revalidated on every load.
      void reply.header('cache-control', file.includes(`${path.sep}assets${path.sep}`) ? 'public, max-age=31536000, immutable' : 'no-cache');
      if (file.endsWith('.html')) pageHeaders(reply);
      else void reply.header('x-content-type-options', 'nosniff');
    },
  });
}
