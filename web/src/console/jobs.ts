// #/jobs: the training jobs with their latest version's status and duration, polled (faster while one is active).
import { api } from './api.js';
import { badge, formatDuration, h, put, time } from './dom.js';
import { pageHeader, poll, type PageContext } from './page.js';
import type { JobVersion, JobWithVersion } from './types.js';

const ACTIVE = new Set(['queued', 'initializing', 'running']);
export const isActive = (v: JobVersion): boolean => ACTIVE.has(v.status);

/** How long a version ran (or has been running): from its start to its end or now. */
export function duration(v: JobVersion): string {
  const start = v.startedAt ?? v.runningAt;
  if (!start) return '';
  const end = v.finishedAt ? Date.parse(v.finishedAt) : Date.now();
  return formatDuration(end - Date.parse(start));
}

export function jobsPage(ctx: PageContext): void {
  const list = h('div', { id: 'job-list' }, h('p', { class: 'muted' }, 'Loading…'));
  put(ctx.main, pageHeader('Training jobs', h('a', { href: '#/jobs/new', class: 'button primary' }, 'New job')), list);
  let last = '';
  poll(ctx.signal, 1000, async () => {
    const { jobs } = await api.get<{ jobs: JobWithVersion[] }>('/api/jobs', ctx.signal);
    // Rebuild the table only when something changed (keeps focus and selection); else tick the running durations.
    const key = JSON.stringify(jobs);
    if (key !== last) render(list, jobs);
    else for (const j of jobs) if (isActive(j.current)) list.querySelector(`tr[data-job="${CSS.escape(j.id)}"] .duration`)!.textContent = duration(j.current);
    last = key;
    return jobs.some((j) => isActive(j.current)) ? 1000 : 5000;
  });
}

function render(el: HTMLElement, jobs: JobWithVersion[]): void {
  if (!jobs.length) return put(el, h('p', { class: 'muted' }, 'No training jobs yet. ', h('a', { href: '#/jobs/new' }, 'Create one'), '.'));
  put(
    el,
    h(
      'table',
      { class: 'table' },
      h('thead', null, h('tr', null, ['Name', 'Version', 'Status', 'Pool', 'Duration', 'Created'].map((c) => h('th', { scope: 'col' }, c)))),
      h(
        'tbody',
        null,
        [...jobs].reverse().map((j) =>
          h(
            'tr',
            { 'data-job': j.id, 'data-status': j.current.status },
            h('td', null, h('a', { href: `#/jobs/${encodeURIComponent(j.id)}` }, j.name), j.description ? h('div', { class: 'muted small' }, j.description) : null),
            h('td', null, `v${j.current.version}`),
            h('td', null, badge(j.current.status), j.current.reason && j.current.status !== 'succeeded' ? h('div', { class: 'muted small clip' }, j.current.reason) : null),
            h('td', null, j.current.spec.pool === 'gpu' ? `GPU ×${j.current.spec.gpus}` : 'CPU'),
            h('td', { class: 'duration' }, duration(j.current)),
            h('td', null, time(j.createdAt)),
          ),
        ),
      ),
    ),
  );
}
