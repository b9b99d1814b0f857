// Vite build of the web app (`npm run build:web`): a multi-page app rooted here, written to dist/web/ at the repo
// root, which `tscaffe serve` serves at /. tsc writes dist/src, dist/test and dist/bench, so the two never overlap.
// Pages: index.html (the console, web/src/console/) and draw.html (the digit-drawing page, web/src/draw/) when it
// exists. `npx vite -c web/vite.config.ts` serves them with hot reload, proxying /api to a local `tscaffe serve`.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));
const input: Record<string, string> = { index: `${root}index.html` };
if (existsSync(`${root}draw.html`)) input.draw = `${root}draw.html`;

export default defineConfig({
  root,
  base: '/',
  publicDir: false,
  // Vite's cache in node_modules/.vite is fine; nothing else is written outside dist/web.
  build: {
    outDir: fileURLToPath(new URL('../dist/web/', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    // No inline polyfill script: the pages stay loadable under a strict Content-Security-Policy.
    modulePreload: { polyfill: false },
    reportCompressedSize: true,
    rolldownOptions: { input },
  },
  server: { proxy: { '/api': process.env.TSCAFFE_SERVER ?? 'http://127.0.0.1:8080' } },
});
