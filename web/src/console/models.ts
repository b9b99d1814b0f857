// #/models: the final model of each succeeded job, with Deploy; the running deployments, each linked to the draw
// page (/draw.html?deployment=<id>) and with Undeploy.
import { api } from './api.js';
import { h, put, time } from './dom.js';
import { act, pageHeader, poll, statusLine, type PageContext } from './page.js';
import type { DeploymentInfo as Deployment, ModelEntry } from './types.js';
import { storageHref } from './urls.js';

export async function modelsPage(ctx: PageContext): Promise<void> {
  const modelsEl = h('div', { id: 'models' });
  const deploymentsEl = h('div', { id: 'deployments' });
  const status = statusLine();
  put(
    ctx.main,
    pageHeader('Models'),
    status.el,
    h('section', { 'aria-labelledby': 'deployments-h' }, h('h2', { id: 'deployments-h' }, 'Deployments'), deploymentsEl),
    h('section', { 'aria-labelledby': 'models-h' }, h('h2', { id: 'models-h' }, 'Trained models'), modelsEl),
  );
  let last = '';
  const p = poll(ctx.signal, 5000, async () => {
    const [m, d] = await Promise.all([api.get<{ models: ModelEntry[] }>('/api/models', ctx.signal), api.get<{ deployments: Deployment[] }>('/api/models/deployments', ctx.signal)]);
    const key = JSON.stringify([m, d]);
    if (key === last) return;
    last = key;
    renderDeployments(deploymentsEl, d.deployments, status, () => p.wake());
    renderModels(modelsEl, m.models, status, () => p.wake());
  });
}

function renderModels(el: HTMLElement, models: ModelEntry[], status: ReturnType<typeof statusLine>, changed: () => void): void {
  if (!models.length) return put(el, h('p', { class: 'muted' }, 'No trained models yet: a job that succeeds puts its final model here. ', h('a', { href: '#/jobs' }, 'Training jobs')));
  put(
    el,
    h(
      'table',
      { class: 'table' },
      h('thead', null, h('tr', null, ['Job', 'Model', 'Iteration', 'Finished', ''].map((c) => h('th', { scope: 'col' }, c)))),
      h(
        'tbody',
        null,
        models.map((m) => {
          const deploy = h('button', { type: 'button', class: 'primary small', 'data-job': m.jobId, 'aria-label': `Deploy ${m.jobName} v${m.version}` }, 'Deploy');
          deploy.addEventListener('click', () =>
            void act(deploy, status, async () => {
              const d = await api.post<{ id: string; predictUrl: string }>(`/api/models/${encodeURIComponent(m.jobId)}/deploy`);
              status.info(`Deployed ${m.jobName} v${m.version} as ${d.id}.`);
              changed();
            }),
          );
          deploy.disabled = !m.deployable;
          return h(
            'tr',
            { 'data-job': m.jobId },
            h('td', null, h('a', { href: `#/jobs/${encodeURIComponent(m.jobId)}?v=${m.version}` }, m.jobName), ` v${m.version}`),
            h(
              'td',
              { class: 'mono' },
              m.weights ? h('a', { href: storageHref(m.output) }, m.weights.split('/').pop()) : h('span', { class: 'muted' }, m.output),
              m.problem ? h('div', { class: 'error small' }, m.problem) : null,
            ),
            h('td', null, m.iteration ?? ''),
            h('td', null, time(m.finishedAt)),
            h('td', { class: 'row-actions' }, m.deployments.length ? h('span', { class: 'muted small' }, `${m.deployments.length} deployed `) : null, deploy),
          );
        }),
      ),
    ),
  );
}

function renderDeployments(el: HTMLElement, deployments: Deployment[], status: ReturnType<typeof statusLine>, changed: () => void): void {
  if (!deployments.length) return put(el, h('p', { class: 'muted' }, 'Nothing deployed. Deploy a trained model below to try it on drawn digits.'));
  put(
    el,
    h(
      'table',
      { class: 'table' },
      h('thead', null, h('tr', null, ['Model', 'Try it', 'Predict endpoint', 'Requests', 'Deployed', ''].map((c) => h('th', { scope: 'col' }, c)))),
      h(
        'tbody',
        null,
        deployments.map((d) => {
          const undeploy = h('button', { type: 'button', class: 'small danger', 'aria-label': `Undeploy ${d.jobName} v${d.version} (${d.id})` }, 'Undeploy');
          undeploy.addEventListener('click', () =>
            void act(undeploy, status, async () => {
              await api.del(`/api/models/deployments/${encodeURIComponent(d.id)}`);
              status.info(`Undeployed ${d.id}.`);
              changed();
            }),
          );
          return h(
            'tr',
            { class: 'deployment', 'data-deployment': d.id },
            h('td', null, h('strong', null, d.jobName), ` v${d.version}`, h('div', { class: 'mono muted small' }, d.id)),
            h('td', null, h('a', { href: `/draw.html?deployment=${encodeURIComponent(d.id)}`, class: 'draw-link' }, 'Draw a digit')),
            h('td', { class: 'mono small' }, `POST ${d.predictUrl}`),
            h('td', null, d.requests),
            h('td', null, time(d.createdAt)),
            h('td', { class: 'row-actions' }, undeploy),
          );
        }),
      ),
    ),
  );
}
