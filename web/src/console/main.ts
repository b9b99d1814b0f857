// The tscaffe web console: hash routes (#/datasets, #/jobs, #/jobs/new, #/jobs/:id, #/jobs/:id/rerun, #/storage,
// #/models) over the platform's REST API. Each page gets an AbortSignal that fires when the user leaves it, which
// ends its polling and log streams.
import './style.css';
import { askToken } from './api.js';
import { datasetsPage } from './datasets.js';
import { h, put } from './dom.js';
import { jobFormPage } from './job_form.js';
import { jobPage } from './job_page.js';
import { jobsPage } from './jobs.js';
import { modelsPage } from './models.js';
import { storagePage } from './storage.js';
import { clearBanner, showBanner, type Page } from './page.js';

const routes: [RegExp, Page][] = [
  [/^\/datasets$/, datasetsPage],
  [/^\/jobs$/, jobsPage],
  [/^\/jobs\/new$/, jobFormPage],
  [/^\/jobs\/([^/]+)\/rerun$/, jobFormPage],
  [/^\/jobs\/([^/]+)$/, jobPage],
  [/^\/storage$/, storagePage],
  [/^\/models$/, modelsPage],
];

const main = document.getElementById('main')!;
let current: AbortController | undefined;

async function route(): Promise<void> {
  const hash = location.hash;
  if (!hash.startsWith('#/')) {
    // '#main' (the skip link) is not a route; an empty hash opens the jobs list.
    if (hash === '' || hash === '#') location.replace('#/jobs');
    return;
  }
  const [path = '', qs = ''] = hash.slice(1).split('?', 2);
  current?.abort();
  const ctl = (current = new AbortController());
  clearBanner();
  for (const a of document.querySelectorAll<HTMLAnchorElement>('#nav a')) {
    const section = a.getAttribute('href')!.slice(1);
    if (path === section || path.startsWith(`${section}/`)) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const hit = routes.find(([re]) => re.test(path));
  put(main);
  if (!hit) {
    put(main, h('h1', { tabindex: -1 }, 'Not found'), h('p', null, `No page at ${path}. `, h('a', { href: '#/jobs' }, 'Training jobs')));
    return;
  }
  const params = hit[0].exec(path)!.slice(1).map(decodeURIComponent);
  try {
    await hit[1]({ main, params, query: new URLSearchParams(qs), signal: ctl.signal });
  } catch (e) {
    if (!ctl.signal.aborted) showBanner(e, () => void route());
  }
  // Move focus to the new page's heading (keyboard and screen-reader users land on the content).
  if (!ctl.signal.aborted && !main.contains(document.activeElement)) main.querySelector<HTMLElement>('h1')?.focus({ preventScroll: true });
}

window.addEventListener('hashchange', () => void route());
document.getElementById('change-token')!.addEventListener('click', () => {
  void askToken().then((t) => {
    if (t) void route();
  });
});
document.querySelector('.skip')!.addEventListener('click', (e) => {
  e.preventDefault();
  main.focus();
});
void route();
