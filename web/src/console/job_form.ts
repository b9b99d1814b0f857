// #/jobs/new and #/jobs/:id/rerun: every field of a training job (model.ts validateJobRequest): code folder (picked
// over storage), boot file, run parameters as key/value rows, data source (a dataset version or a storage folder),
// output and log locations, pool and GPU count, copy interval, retries and threads. Required fields are checked here
// first; the service's 400 {error, field} is shown next to that field. A re-run prefills the latest version's spec
// and posts the changes as a new version (removed parameters are sent as null).
import { ApiError, api, listStorage } from './api.js';
import { h, put } from './dom.js';
import { pageHeader, statusLine, type PageContext } from './page.js';
import { pickFolder } from './picker.js';
import type { DatasetWithVersions, JobSpec, JobVersion, JobWithVersion } from './types.js';
import { parseUrl } from './urls.js';

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const PARAM_KEY_RE = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const BOOT_RE = /\.(prototxt|js|mjs|ts|sh)$/;

type Input = HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;
interface Field {
  row: HTMLElement;
  input: Input;
  error(msg: string): void;
}

function field(id: string, label: string, input: Input, hint?: string, extra?: Node): Field {
  input.id = `job-${id}`;
  input.name = id;
  const err = h('span', { class: 'field-error', id: `job-${id}-err` });
  input.setAttribute('aria-describedby', `${err.id}${hint ? ` job-${id}-hint` : ''}`);
  const row = h('div', { class: 'field' }, h('label', { for: input.id }, label), extra ? h('div', { class: 'with-button' }, input, extra) : input, hint ? h('small', { id: `job-${id}-hint`, class: 'muted' }, hint) : null, err);
  return {
    row,
    input,
    error(msg) {
      err.textContent = msg;
      if (msg) input.setAttribute('aria-invalid', 'true');
      else input.removeAttribute('aria-invalid');
    },
  };
}

const text = (value = '', attrs: Record<string, string | boolean> = {}) => h('input', { value, ...attrs });
const num = (value: number, min: number, max: number, step = '1') => h('input', { type: 'number', value, min, max, step, inputmode: step === '1' ? 'numeric' : 'decimal' });

function browse(f: () => Field, title: string): HTMLButtonElement {
  return h('button', { type: 'button', onclick: () => void pickFolder(title, f().input.value.trim()).then((u) => u && ((f().input.value = u), f().input.dispatchEvent(new Event('change')))) }, 'Browse…');
}

function dataRef(spec: JobSpec | undefined): string {
  const d = spec?.data;
  return !d ? '' : d.kind === 'url' ? d.url : `dataset:${d.name}:${d.version}`;
}

export async function jobFormPage(ctx: PageContext): Promise<void> {
  const jobId = ctx.params[0];
  const job = jobId ? await api.get<JobWithVersion>(`/api/jobs/${encodeURIComponent(jobId)}`, ctx.signal) : undefined;
  const base: JobVersion | undefined = job?.current;
  const spec = base?.spec;
  const datasets = await api.get<{ datasets: DatasetWithVersions[] }>('/api/datasets', ctx.signal).then((d) => d.datasets, () => []);

  const name = field('name', 'Name', text(job?.name ?? '', { required: true, autocomplete: 'off' }), "Letters, digits, '_', '.', '-'");
  const description = field('description', 'Description (optional)', h('textarea', { rows: 2 }, job?.description ?? ''));
  if (job) name.input.disabled = description.input.disabled = true;
  let code: Field, output: Field, log: Field, dataUrl: Field;
  code = field('code', 'Code folder', text(spec?.code ?? '', { required: true, placeholder: 's3://work/codes/', class: 'mono' }), 'The storage folder with the solver and net (or the script)', browse(() => code, 'Code folder'));
  const bootList = h('datalist', { id: 'job-boot-files' });
  const boot = field('boot', 'Boot file', text(spec?.boot ?? '', { required: true, list: bootList.id, placeholder: 'lenet_solver.prototxt', class: 'mono' }), 'Relative to the code folder: a solver .prototxt, or a .js, .mjs, .ts or .sh script');
  boot.row.append(bootList);

  // Run parameters: key/value rows.
  const rows = h('div', { class: 'param-rows', id: 'job-params' });
  const paramsErr = h('span', { class: 'field-error', id: 'job-params-err' });
  const addRow = (k = '', v = '') => {
    const n = rows.children.length + 1;
    const key = h('input', { value: k, 'aria-label': `Parameter ${n} name`, class: 'mono param-key', placeholder: 'max_iter' });
    const val = h('input', { value: v, 'aria-label': `Parameter ${n} value`, class: 'mono param-value', placeholder: '2000' });
    const row = h('div', { class: 'param-row' }, key, h('span', { 'aria-hidden': 'true' }, '='), val);
    row.append(h('button', { type: 'button', class: 'small', 'aria-label': `Remove parameter ${n}`, onclick: () => row.remove() }, 'Remove'));
    rows.append(row);
    return key;
  };
  for (const [k, v] of Object.entries(spec?.params ?? {})) addRow(k, v);
  const params = h(
    'fieldset',
    { class: 'field', 'aria-describedby': 'job-params-hint job-params-err' },
    h('legend', null, 'Run parameters'),
    rows,
    h('button', { type: 'button', id: 'job-add-param', onclick: () => addRow().focus() }, 'Add parameter'),
    h('small', { id: 'job-params-hint', class: 'muted' }, 'Solver fields (max_iter, base_lr, …) override the solver file; every parameter is also an environment variable, and scripts get --key=value.'),
    paramsErr,
  );

  // Data source: none, a dataset version, or a storage folder.
  const current = dataRef(spec);
  const dataKind = current.startsWith('dataset:') ? 'dataset' : current ? 'url' : datasets.length ? 'dataset' : 'none';
  const dsSelect = h(
    'select',
    null,
    datasets.flatMap((d) => [
      h('option', { value: `dataset:${d.dataset.name}:latest` }, `${d.dataset.name} (latest version)`),
      ...d.versions.filter((v) => v.status === 'normal').map((v) => h('option', { value: `dataset:${d.dataset.name}:${v.version}` }, `${d.dataset.name} v${v.version} · ${v.storageUrl}`)),
    ]),
  );
  const dataset = field('dataset', 'Dataset', dsSelect);
  if (current.startsWith('dataset:')) dsSelect.value = current;
  dataUrl = field('data-url', 'Data folder', text(current.startsWith('dataset:') ? '' : current, { placeholder: 's3://datasets/mnist/', class: 'mono' }), undefined, browse(() => dataUrl, 'Data folder'));
  const radio = (value: string, label: string) =>
    h('label', { class: 'radio' }, h('input', { type: 'radio', name: 'data-kind', value, checked: value === dataKind, onchange: showData }), label);
  const dataErr = h('span', { class: 'field-error', id: 'job-data-err' });
  const data = h('fieldset', { class: 'field', id: 'job-data' }, h('legend', null, 'Data source'), h('div', { class: 'radios' }, radio('dataset', 'A dataset'), radio('url', 'A storage folder'), radio('none', 'None')), dataset.row, dataUrl.row, h('small', { class: 'muted' }, 'Mounted at /home/work/dataset in the job (the seed\u2019s nets read their LMDBs there).'), dataErr);
  function showData(): void {
    const kind = data.querySelector<HTMLInputElement>('input[name=data-kind]:checked')?.value;
    dataset.row.hidden = kind !== 'dataset';
    dataUrl.row.hidden = kind !== 'url';
  }
  showData();
  if (!datasets.length) dataset.row.append(h('p', { class: 'muted small' }, 'No datasets yet: ', h('a', { href: '#/datasets' }, 'import one'), '.'));

  output = field('output', 'Output folder', text(spec?.output ?? '', { required: true, placeholder: 's3://work/output/', class: 'mono' }), 'Snapshots are copied to <output>/1/, <output>/2/, … and <output>/final/', browse(() => output, 'Output folder'));
  log = field('log', 'Log location (optional)', text(spec?.log ?? '', { placeholder: 's3://work/logs/', class: 'mono' }), "A folder URL ending in '/' gets <job>-v<N>.log", browse(() => log, 'Log folder'));

  // Resources.
  const pool = field('pool', 'Resource pool', h('select', null, h('option', { value: 'cpu' }, 'CPU'), h('option', { value: 'gpu' }, 'GPU')));
  pool.input.value = spec?.pool ?? 'cpu';
  const gpus = field('gpus', 'GPUs', num(spec?.gpus ?? 0, 0, 64));
  const syncPool = () => {
    const gpu = pool.input.value === 'gpu';
    gpus.input.disabled = !gpu;
    const g = gpus.input as HTMLInputElement;
    if (gpu && Number(g.value) < 1) g.value = '1';
    if (!gpu) g.value = '0';
  };
  pool.input.addEventListener('change', syncPool);
  syncPool();
  const copy = field('copyIntervalMin', 'Copy interval (minutes)', num(spec?.copyIntervalMin ?? 10, 0.01, 10080, 'any'), 'How often the snapshot folder is copied to the output');
  const retries = field('retries', 'Retries', num(spec?.retries ?? 0, 0, 100), 'Re-runs after a failure (not after a stop)');
  const threads = field('threads', 'CPU threads', num(spec?.threads ?? 0, 0, 1024), '0: all cores');

  const fields: Record<string, Field> = { name, description, code, boot, dataset, 'data-url': dataUrl, output, log, pool, gpus, copyIntervalMin: copy, retries, threads };
  // Suggest boot files from the code folder once it is known.
  const suggestBoot = async () => {
    const u = parseUrl(code.input.value.trim());
    if (!u?.bucket) return;
    try {
      const l = await listStorage(code.input.value.trim().replace(/\/?$/, '/'), true, ctx.signal);
      const prefix = u.key.replace(/\/?$/, '/').replace(/^\/$/, '');
      const files = (l.objects ?? []).map((o) => o.key.slice(prefix.length)).filter((k) => BOOT_RE.test(k));
      put(bootList, files.map((f) => h('option', { value: f })));
      const solver = files.filter((f) => /solver.*\.prototxt$/.test(f));
      if (!boot.input.value && solver.length === 1) boot.input.value = solver[0]!;
    } catch {
      /* a folder that does not exist yet: no suggestions */
    }
  };
  code.input.addEventListener('change', () => void suggestBoot());
  void suggestBoot();

  const status = statusLine();
  const submit = h('button', { type: 'submit', class: 'primary' }, job ? 'Start the new version' : 'Create and start');
  const form = h(
    'form',
    { class: 'job-form', novalidate: true, 'aria-label': job ? `Re-run ${job.name}` : 'New training job' },
    h('fieldset', null, h('legend', null, 'Job'), name.row, description.row),
    h('fieldset', null, h('legend', null, 'Code'), code.row, boot.row),
    params,
    data,
    h('fieldset', null, h('legend', null, 'Output'), output.row, log.row),
    h('fieldset', null, h('legend', null, 'Resources'), h('div', { class: 'grid2' }, pool.row, gpus.row, copy.row, retries.row, threads.row)),
    h('div', { class: 'actions' }, submit, h('a', { href: job ? `#/jobs/${encodeURIComponent(job.id)}` : '#/jobs', class: 'button' }, 'Cancel')),
    status.el,
  );

  const collect = (): Record<string, unknown> | undefined => {
    for (const f of Object.values(fields)) f.error('');
    paramsErr.textContent = dataErr.textContent = '';
    status.clear();
    const bad: Field[] = [];
    const need = (f: Field, ok: boolean, msg: string) => {
      if (!ok && !bad.includes(f)) {
        f.error(msg);
        bad.push(f);
      }
    };
    const v = (f: Field) => f.input.value.trim();
    if (!job) {
      need(name, v(name) !== '', 'A name is required.');
      need(name, NAME_RE.test(v(name)), "Use 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit.");
    }
    need(code, v(code) !== '', 'The code folder is required.');
    need(code, !v(code) || !!parseUrl(v(code)), 'Give a storage URL: s3://bucket/folder/, obs://… or /bucket/…');
    need(boot, v(boot) !== '', 'The boot file is required.');
    need(boot, !v(boot) || BOOT_RE.test(v(boot)), 'A solver .prototxt or a .js, .mjs, .ts or .sh script.');
    need(output, v(output) !== '', 'The output folder is required.');
    const p: Record<string, string | null> = {};
    for (const row of rows.querySelectorAll('.param-row')) {
      const k = row.querySelector<HTMLInputElement>('.param-key')!.value.trim();
      const val = row.querySelector<HTMLInputElement>('.param-value')!.value;
      if (!k && !val) continue;
      if (!PARAM_KEY_RE.test(k)) paramsErr.textContent = `Invalid parameter name '${k}': letters, digits and '_', not starting with a digit.`;
      else if (k in p) paramsErr.textContent = `Parameter '${k}' is given twice.`;
      p[k] = val;
    }
    const kind = data.querySelector<HTMLInputElement>('input[name=data-kind]:checked')?.value;
    if (kind === 'dataset' && !v(dataset)) need(dataset, false, 'Choose a dataset (import one on the Datasets page).');
    if (kind === 'url' && !v(dataUrl)) need(dataUrl, false, 'Give the data folder, or choose None.');
    if (bad.length || paramsErr.textContent) {
      (bad[0]?.input ?? rows.querySelector('input'))?.focus();
      status.error(new Error('Please correct the marked fields.'));
      return undefined;
    }
    // A re-run merges parameters over the old ones: remove the ones dropped here explicitly.
    for (const k of Object.keys(spec?.params ?? {})) if (!(k in p)) p[k] = null;
    const body: Record<string, unknown> = {
      code: v(code),
      boot: v(boot),
      params: p,
      data: kind === 'dataset' ? v(dataset) : kind === 'url' ? v(dataUrl) : null,
      output: v(output),
      log: v(log) || null,
      pool: v(pool),
      gpus: Number(v(gpus)),
      copyIntervalMin: Number(v(copy)),
      retries: Number(v(retries)),
      threads: Number(v(threads)),
    };
    if (!job) {
      body.name = v(name);
      if (v(description)) body.description = v(description);
      for (const k of ['data', 'log'] as const) if (body[k] === null) delete body[k];
    }
    return body;
  };

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const body = collect();
    if (!body) return;
    submit.disabled = true;
    status.info(job ? 'Starting a new version…' : 'Creating the job…');
    const done = job
      ? api.post<JobVersion>(`/api/jobs/${encodeURIComponent(job.id)}/versions`, body).then(() => job.id)
      : api.post<JobWithVersion>('/api/jobs', body).then((j) => j.id);
    done
      .then((id) => (location.hash = `#/jobs/${encodeURIComponent(id)}`))
      .catch((err: unknown) => {
        status.error(err);
        if (!(err instanceof ApiError) || !err.field) return;
        const f = err.field === 'data' ? undefined : fields[err.field];
        if (f) {
          f.error(err.detail);
          f.input.focus();
        } else if (err.field === 'params') paramsErr.textContent = err.detail;
        else if (err.field === 'data') dataErr.textContent = err.detail;
      })
      .finally(() => (submit.disabled = false));
  });

  put(
    ctx.main,
    pageHeader(job ? `Re-run ${job.name}` : 'New training job'),
    job ? h('p', { class: 'muted' }, `Version ${job.latestVersion + 1}, starting from version ${base!.version}'s settings.`) : null,
    form,
  );
}
