// #/datasets: the market (the built-in catalog) with an Import form per dataset, and "my datasets" with their
// versions and status, polled while an import runs.
import { ApiError, api } from './api.js';
import { badge, formatBytes, h, put, time, uid } from './dom.js';
import { pageHeader, poll, statusLine, type PageContext } from './page.js';
import type { DatasetWithVersions, MarketDataset } from './types.js';
import { storageHref } from './urls.js';

export async function datasetsPage(ctx: PageContext): Promise<void> {
  const mine = h('div', { id: 'my-datasets' });
  const market = await api.get<{ market: MarketDataset[] }>('/api/datasets/market', ctx.signal);
  let wake = (): void => {};
  put(
    ctx.main,
    pageHeader('Datasets'),
    h('section', { 'aria-labelledby': 'my-datasets-h' }, h('h2', { id: 'my-datasets-h' }, 'My datasets'), mine),
    h('section', { 'aria-labelledby': 'market-h' }, h('h2', { id: 'market-h' }, 'Market'), h('div', { class: 'cards' }, market.market.map((m) => marketCard(m, () => wake())))),
  );
  // Every second while an import runs, else every 5 s (another client may start one); an import started here wakes
  // the loop at once.
  let last = '';
  const p = poll(ctx.signal, 1000, async () => {
    const d = await api.get<{ datasets: DatasetWithVersions[] }>('/api/datasets', ctx.signal);
    const key = JSON.stringify(d.datasets);
    if (key !== last) renderMine(mine, d.datasets);
    last = key;
    return d.datasets.some((x) => x.versions.some((v) => v.status === 'importing')) ? 1000 : 5000;
  });
  wake = p.wake;
}

function renderMine(el: HTMLElement, list: DatasetWithVersions[]): void {
  if (!list.length) return put(el, h('p', { class: 'muted' }, 'None yet: import one from the market below.'));
  put(
    el,
    h(
      'table',
      { class: 'table' },
      h('thead', null, h('tr', null, ['Dataset', 'Version', 'Status', 'Location', 'Size', 'Created'].map((c) => h('th', { scope: 'col' }, c)))),
      h(
        'tbody',
        null,
        list.flatMap((d) =>
          [...d.versions].reverse().map((v) =>
            h(
              'tr',
              { 'data-dataset': d.dataset.name, 'data-version': v.version, 'data-status': v.status },
              h('td', null, h('strong', null, d.dataset.name), d.dataset.description ? h('div', { class: 'muted small' }, d.dataset.description) : null),
              h('td', null, `v${v.version}`, h('div', { class: 'muted small' }, v.format)),
              h('td', null, badge(v.status), v.reason ? h('div', { class: 'error small' }, v.reason) : null),
              h('td', { class: 'mono' }, h('a', { href: storageHref(v.storageUrl) }, v.storageUrl), h('div', { class: 'muted small' }, `data: dataset:${d.dataset.name}:${v.version}`)),
              h('td', null, v.status === 'normal' ? formatBytes(v.totalBytes) : ''),
              h('td', null, time(v.createdAt)),
            ),
          ),
        ),
      ),
    ),
  );
}

function marketCard(m: MarketDataset, started: () => void): HTMLElement {
  const id = uid(`import-${m.name}`);
  const status = statusLine();
  const field = (name: string, label: string, input: HTMLInputElement | HTMLSelectElement) => {
    input.id = `${id}-${name}`;
    input.name = name;
    const err = h('span', { class: 'field-error', id: `${id}-${name}-err` });
    input.setAttribute('aria-describedby', err.id);
    return { row: h('div', { class: 'field' }, h('label', { for: input.id }, label), input, err), err };
  };
  const name = field('name', 'Name', h('input', { value: m.name, required: true }));
  const path = field('path', 'Storage path', h('input', { value: `s3://datasets/${m.name}/`, required: true, class: 'mono' }));
  const format = field('format', 'Format', h('select', null, h('option', { value: 'both' }, 'IDX files and LMDBs'), h('option', { value: 'lmdb' }, 'LMDBs (what Caffe nets read)'), h('option', { value: 'idx' }, 'IDX files')));
  const fields: Record<string, { err: HTMLElement }> = { name, path, format };
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Import');
  const form = h('form', { class: 'import-form', 'aria-label': `Import ${m.title}`, hidden: true }, name.row, path.row, format.row, h('div', { class: 'actions' }, submit));
  const toggle = h('button', { type: 'button', 'aria-expanded': 'false', disabled: !m.available, 'data-market': m.name }, 'Import');
  toggle.addEventListener('click', () => {
    form.hidden = !form.hidden;
    toggle.setAttribute('aria-expanded', String(!form.hidden));
    if (!form.hidden) (path.row.querySelector('input') as HTMLInputElement).focus();
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    for (const f of Object.values(fields)) f.err.textContent = '';
    status.clear();
    const v = (r: { row: HTMLElement }) => (r.row.querySelector('input,select') as HTMLInputElement).value.trim();
    submit.disabled = true;
    api
      .post<{ datasetName: string; version: number }>('/api/datasets', { market: m.name, name: v(name), path: v(path), format: v(format) })
      .then((r) => {
        status.info(`Started importing ${r.datasetName} v${r.version}: its status is under My datasets.`);
        form.hidden = true;
        toggle.setAttribute('aria-expanded', 'false');
        started();
      })
      .catch((err: unknown) => {
        const target = err instanceof ApiError && err.field ? fields[err.field] : undefined;
        if (target && err instanceof ApiError) target.err.textContent = err.detail;
        else status.error(err);
      })
      .finally(() => (submit.disabled = false));
  });
  return h(
    'article',
    { class: 'card', 'aria-labelledby': `${id}-title` },
    h('h3', { id: `${id}-title` }, m.title),
    h('p', null, m.description),
    h(
      'p',
      { class: 'muted small' },
      `${m.trainCount.toLocaleString()} training and ${m.testCount.toLocaleString()} test images, ${m.imageShape.width}×${m.imageShape.height}, ${m.classes.length} classes`,
      m.available ? ` · ${formatBytes(m.totalBytes)} · from ${m.provider} · ${m.license}` : null,
    ),
    m.available ? null : h('p', { class: 'error small' }, m.unavailableReason ?? 'unavailable on this machine'),
    h('div', { class: 'actions' }, toggle),
    form,
    status.el,
  );
}
