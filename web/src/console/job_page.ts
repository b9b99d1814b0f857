// #/jobs/:id[?v=N]: one job version. Its parameters; the live log (the API's log follow, streamed), parsed by the
// same parser as `tscaffe plot_training_log` (src/tools/parse_log.ts), so the charts of training loss, test loss, test
// accuracy and learning rate grow as the lines come; the output folder with downloads; Stop, Re-run and Delete.
import { parseCaffeLog, type CaffeLogSeries } from '../../../src/tools/parse_log.js';
import { api, request } from './api.js';
import { badge, formatBytes, h, put, saveBlob, sleep, time } from './dom.js';
import { lineChart } from './chart.js';
import { duration, isActive } from './jobs.js';
import { messageOf, pageHeader, poll, statusLine, type PageContext } from './page.js';
import { downloadButton } from './storage.js';
import type { JobVersion, JobWithVersion } from './types.js';
import { folderOf, formatUrl, parseUrl, storageHref } from './urls.js';

/** Keep at most this much log text on the page (the whole log stays downloadable). */
const MAX_LOG_CHARS = 1 << 20;

export async function jobPage(ctx: PageContext): Promise<void> {
  const id = ctx.params[0]!;
  const path = `/api/jobs/${encodeURIComponent(id)}`;
  const [job, { versions }] = await Promise.all([api.get<JobWithVersion>(path, ctx.signal), api.get<{ versions: JobVersion[] }>(`${path}/versions`, ctx.signal)]);
  const wanted = Number(ctx.query.get('v') ?? job.latestVersion);
  let v = versions.find((x) => x.version === wanted) ?? job.current;

  const status = statusLine();
  const head = h('div');
  const info = h('dl', { class: 'kv', id: 'job-info' });
  const renderHead = () => {
    const stop = h('button', { type: 'button', class: 'danger', id: 'job-stop' }, 'Stop');
    stop.addEventListener('click', () => {
      if (!confirm(`Stop ${job.name} v${v.version}? It writes a snapshot and ends.`)) return;
      stop.disabled = true;
      api.post<JobVersion>(`${path}/stop`).then(
        () => (status.info('Stopping: the trainer writes a snapshot and the outputs are copied…'), refresh.wake()),
        (e: unknown) => ((stop.disabled = false), status.error(e)),
      );
    });
    const del = h('button', { type: 'button', class: 'danger', id: 'job-delete' }, 'Delete');
    del.addEventListener('click', () => {
      if (!confirm(`Delete ${job.name} and all its versions? Its output folders stay in storage.`)) return;
      api.del(path).then(() => (location.hash = '#/jobs'), (e: unknown) => status.error(e));
    });
    const active = isActive(v);
    put(
      head,
      pageHeader(
        h('span', null, job.name, ' ', h('span', { class: 'muted' }, `v${v.version}`), ' ', badge(v.status)),
        ...(v.version === job.latestVersion && active ? [stop] : []),
        h('a', { href: `#/jobs/${encodeURIComponent(id)}/rerun`, class: 'button', id: 'job-rerun' }, 'Re-run (new version)'),
        ...(versions.some(isActive) ? [] : [del]),
      ),
      job.description ? h('p', null, job.description) : null,
      versions.length > 1
        ? h('nav', { class: 'versions', 'aria-label': 'Versions' }, 'Versions: ', versions.map((x) => [h('a', { href: `#/jobs/${encodeURIComponent(id)}?v=${x.version}`, ...(x.version === v.version ? { 'aria-current': 'page' } : {}) }, `v${x.version}`), ' ', badge(x.status), ' ']))
        : null,
      status.el,
    );
    put(info, ...summary(v));
  };
  renderHead();

  const charts = {
    loss: lineChart('chart-train-loss', 'Training loss'),
    testLoss: lineChart('chart-test-loss', 'Test loss'),
    accuracy: lineChart('chart-test-accuracy', 'Test accuracy'),
    lr: lineChart('chart-lr', 'Learning rate'),
  };
  const logView = h('pre', { class: 'log', id: 'job-log', tabindex: 0, 'aria-label': 'Job log' });
  const follow = h('input', { type: 'checkbox', id: 'log-follow', checked: true });
  const downloadLog = h('button', { type: 'button', class: 'small' }, 'Download the whole log');
  downloadLog.addEventListener('click', () => {
    request('GET', `${path}/log?version=${v.version}`).then(
      async (r) => saveBlob(await r.blob(), `${job.name}-v${v.version}.log`),
      (e: unknown) => status.error(e),
    );
  });
  const outputs = h('div', { id: 'job-output' });
  const outStatus = statusLine();

  put(
    ctx.main,
    head,
    h(
      'div',
      { class: 'job-grid' },
      h('section', { 'aria-labelledby': 'sec-params' }, h('h2', { id: 'sec-params' }, 'Parameters'), info),
      h('section', { 'aria-labelledby': 'sec-charts' }, h('h2', { id: 'sec-charts' }, 'Training'), h('div', { class: 'charts' }, Object.values(charts).map((c) => c.el))),
    ),
    h(
      'section',
      { 'aria-labelledby': 'sec-log' },
      h('div', { class: 'section-head' }, h('h2', { id: 'sec-log' }, 'Log'), h('label', { class: 'check' }, follow, ' Follow new lines'), downloadLog),
      logView,
    ),
    h('section', { 'aria-labelledby': 'sec-out' }, h('div', { class: 'section-head' }, h('h2', { id: 'sec-out' }, 'Output'), h('a', { href: storageHref(v.spec.output) }, 'Open in Storage')), outStatus.el, outputs),
  );

  // Status: poll while the version is active; refresh the outputs when a copy lands or the run ends.
  let shownCopies = -1;
  const refreshOutputs = () =>
    listOutputs(v.spec.output, outStatus).then(
      (n) => put(outputs, n),
      (e: unknown) => outStatus.error(e),
    );
  const refresh = poll(ctx.signal, 1000, async () => {
    const now = await api.get<JobVersion>(`${path}/versions/${v.version}`, ctx.signal);
    const changed = now.status !== v.status || now.copies !== v.copies || now.attempts !== v.attempts;
    v = now;
    const i = versions.findIndex((x) => x.version === now.version);
    if (i >= 0) versions[i] = now;
    if (changed) renderHead();
    else info.querySelector('.duration')!.textContent = duration(v);
    if (now.copies !== shownCopies || changed) {
      shownCopies = now.copies;
      await refreshOutputs();
    }
    return isActive(now) ? 1000 : false;
  });

  // The log: streamed into the view; the whole text is re-parsed for the charts, at most every 250 ms, and less often
  // when parsing takes longer (a long log), so that it never costs more than a fifth of the time.
  let text = '';
  let timer: number | undefined;
  let lastDraw = 0;
  let cost = 0;
  const draw = () => {
    timer = undefined;
    const t0 = performance.now();
    drawCharts(charts, parseCaffeLog(text.slice(0, text.lastIndexOf('\n') + 1)));
    lastDraw = performance.now();
    cost = lastDraw - t0;
  };
  void followLog(`${path}/log?version=${v.version}&follow=1`, ctx.signal, status, (chunk) => {
    text += chunk;
    appendLog(logView, chunk);
    if (follow.checked) logView.scrollTop = logView.scrollHeight;
    timer ??= window.setTimeout(draw, Math.max(0, lastDraw + Math.max(250, 4 * cost) - performance.now()));
  }).then(() => {
    window.clearTimeout(timer);
    text += '\n';
    draw();
    refresh.wake();
  });
}

function summary(v: JobVersion): HTMLElement[] {
  const s = v.spec;
  const row = (k: string, ...val: (Node | string | null)[]) => [h('dt', null, k), h('dd', null, ...val)];
  const link = (url: string) => h('a', { href: storageHref(folderOf(url)), class: 'mono' }, url);
  const data = !s.data ? 'none' : s.data.kind === 'url' ? link(s.data.url) : h('span', null, `dataset ${s.data.name} v${s.data.version} `, link(s.data.url));
  const params = Object.entries(s.params);
  return [
    ...row('Status', badge(v.status), v.reason ? h('div', { class: v.status === 'failed' ? 'error' : 'muted' }, v.reason) : null),
    ...row('Duration', h('span', { class: 'duration' }, duration(v))),
    ...row('Created', time(v.createdAt)),
    ...(v.finishedAt ? row('Finished', time(v.finishedAt)) : []),
    ...row('Code', link(s.code)),
    ...row('Boot file', h('span', { class: 'mono' }, s.boot)),
    ...row('Run parameters', params.length ? h('ul', { class: 'plain-list mono' }, params.map(([k, val]) => h('li', null, `${k}=${val}`))) : 'none'),
    ...row('Data', data),
    ...row('Output', link(s.output)),
    ...(s.log ? row('Log copy', link(s.log)) : []),
    ...row('Resources', s.pool === 'gpu' ? `GPU pool, ${s.gpus} GPU${s.gpus === 1 ? '' : 's'}` : 'CPU pool', s.threads ? `, ${s.threads} threads` : ''),
    ...row('Copies', `${v.copies} (every ${s.copyIntervalMin} min)`),
    ...row('Attempts', `${v.attempts}${s.retries ? ` (up to ${s.retries} retries)` : ''}`, v.exitCode !== undefined ? `, exit code ${v.exitCode}` : ''),
  ];
}

function drawCharts(c: Record<'loss' | 'testLoss' | 'accuracy' | 'lr', ReturnType<typeof lineChart>>, s: CaffeLogSeries): void {
  const xy = (pts: { iteration: number; value: number }[]): [number, number][] => pts.map((p) => [p.iteration, p.value]);
  c.loss.update(xy(s.trainLoss));
  c.testLoss.update(xy(s.testLoss));
  c.accuracy.update(xy(s.testAccuracy));
  c.lr.update(xy(s.learningRate));
}

function appendLog(pre: HTMLElement, chunk: string): void {
  pre.append(chunk);
  if ((pre.textContent?.length ?? 0) > MAX_LOG_CHARS) {
    const t = pre.textContent!;
    pre.textContent = `[earlier lines not shown: download the whole log]\n${t.slice(t.indexOf('\n', t.length - MAX_LOG_CHARS / 2) + 1)}`;
  }
}

/** Stream the log with follow=1 until the server ends it (the run ended); reconnect from the last byte on errors. */
async function followLog(url: string, signal: AbortSignal, status: ReturnType<typeof statusLine>, onText: (s: string) => void): Promise<void> {
  let offset = 0;
  for (;;) {
    try {
      const res = await request('GET', `${url}&offset=${offset}`, { signal });
      const reader = res.body!.getReader();
      const dec = new TextDecoder();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        offset += value.byteLength;
        onText(dec.decode(value, { stream: true }));
      }
      return;
    } catch (e) {
      if (signal.aborted) return;
      status.error(`The log stream broke (${messageOf(e)}); reconnecting…`);
      if (!(await sleep(2000, signal))) return;
    }
  }
}

async function listOutputs(output: string, status: ReturnType<typeof statusLine>): Promise<HTMLElement> {
  const l = await api.get<{ objects?: { key: string; size: number; lastModified: string }[] }>(`/api/storage?url=${encodeURIComponent(output)}&recursive=1`).catch(() => ({ objects: [] }));
  const objs = l.objects ?? [];
  if (!objs.length) return h('p', { class: 'muted' }, 'Nothing copied yet.');
  const u = parseUrl(output)!;
  const base = u.key.replace(/([^/])$/, '$1/');
  return h(
    'table',
    { class: 'table' },
    h('thead', null, h('tr', null, ['File', 'Size', 'Copied', ''].map((c) => h('th', { scope: 'col' }, c)))),
    h(
      'tbody',
      null,
      objs.map((o) => {
        const rel = o.key.startsWith(base) ? o.key.slice(base.length) : o.key;
        return h(
          'tr',
          { class: rel.startsWith('final/') ? 'final' : '' },
          h('td', { class: 'mono' }, rel),
          h('td', null, formatBytes(o.size)),
          h('td', null, time(o.lastModified)),
          h('td', { class: 'row-actions' }, downloadButton(formatUrl(u, o.key), status)),
        );
      }),
    ),
  );
}
