// A modal folder browser over the object store, for the job form's storage fields: walk buckets and folders, see the
// files, pick the folder. Resolves to the folder URL (ending in '/'), or null when cancelled.
import { listStorage } from './api.js';
import { formatBytes, h, put } from './dom.js';
import { messageOf } from './page.js';
import { baseName, crumbs, folderOf, formatUrl, parseUrl } from './urls.js';

export function pickFolder(title: string, start: string): Promise<string | null> {
  return new Promise((resolve) => {
    let current = '';
    const where = h('p', { class: 'mono muted', 'aria-live': 'polite' });
    const body = h('div', { class: 'picker-body' });
    const choose = h('button', { type: 'submit', value: 'ok', class: 'primary', id: 'picker-choose' }, 'Use this folder');
    const dialog = h(
      'dialog',
      { class: 'picker', 'aria-label': title },
      h('form', { method: 'dialog' }, h('h2', null, title), where, body, h('div', { class: 'actions' }, choose, h('button', { type: 'submit', value: 'cancel' }, 'Cancel'))),
    );
    const open = async (url: string): Promise<void> => {
      current = url;
      const u = parseUrl(url);
      choose.disabled = !u?.bucket;
      where.textContent = u?.bucket ? url : 'Buckets';
      put(body, h('p', { class: 'muted' }, 'Loading…'));
      try {
        const l = await listStorage(url || '/');
        if (current !== url) return;
        const nav = (label: string, target: string, cls = 'folder') => h('li', null, h('button', { type: 'button', class: `link ${cls}`, onclick: () => void open(target) }, label));
        const items: HTMLElement[] = [];
        if (u?.bucket) {
          const up = crumbs(url);
          items.push(nav('.. (up)', up.length > 1 ? up[up.length - 2]![1] : '', 'up'));
          for (const f of l.folders ?? []) items.push(nav(`${baseName(f)}/`, formatUrl(u, f)));
          for (const o of l.objects ?? []) items.push(h('li', { class: 'file' }, baseName(o.key), h('span', { class: 'muted small' }, ` ${formatBytes(o.size)}`)));
        } else {
          for (const b of l.buckets ?? []) items.push(nav(b, `s3://${b}/`));
        }
        put(body, items.length ? h('ul', { class: 'plain-list' }, items) : h('p', { class: 'muted' }, u?.bucket ? 'Empty folder.' : 'No buckets yet: create one on the Storage page.'));
        body.querySelector<HTMLButtonElement>('button')?.focus();
      } catch (e) {
        put(body, h('p', { class: 'error', role: 'alert' }, messageOf(e)), h('button', { type: 'button', class: 'link', onclick: () => void open('') }, 'Show the buckets'));
      }
    };
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(dialog.returnValue === 'ok' && current ? folderOf(current) : null);
    });
    document.body.append(dialog);
    dialog.showModal();
    const s = parseUrl(start);
    void open(s?.bucket ? folderOf(start) : '');
  });
}
