// #/storage?url=U: the object store. Without a URL, the buckets (and a form to create one); with a folder URL, its
// folders and objects, uploads of files or a whole folder (webkitdirectory keeps the folder's relative paths),
// downloads and deletes.
import { api, listStorage, type Listing } from './api.js';
import { formatBytes, h, put, saveBlob, time, uid } from './dom.js';
import { act, pageHeader, statusLine, type PageContext } from './page.js';
import { baseName, crumbs, formatUrl, parseUrl, storageHref } from './urls.js';

export async function storagePage(ctx: PageContext): Promise<void> {
  const url = ctx.query.get('url') ?? '';
  const u = url ? parseUrl(url) : undefined;
  if (!u || !u.bucket) return bucketsView(ctx);
  const folder = formatUrl(u, u.key === '' || u.key.endsWith('/') ? u.key : `${u.key}/`);
  const status = statusLine();
  const list = h('div', { class: 'listing' });
  const refresh = async () => render(list, await listStorage(folder, false, ctx.signal), folder, status, refresh);
  put(
    ctx.main,
    pageHeader('Storage'),
    h(
      'nav',
      { 'aria-label': 'Folder path', class: 'crumbs' },
      h('a', { href: storageHref('') }, 'Buckets'),
      crumbs(folder).map(([label, href], i, all) => [' / ', i === all.length - 1 ? h('span', { 'aria-current': 'location' }, label) : h('a', { href: storageHref(href) }, label)]),
    ),
    h('p', { class: 'muted mono' }, folder),
    uploadControls(folder, status, refresh),
    status.el,
    list,
  );
  await refresh();
}

async function bucketsView(ctx: PageContext): Promise<void> {
  const r = await listStorage('/', false, ctx.signal);
  const nameId = uid('bucket');
  const input = h('input', { id: nameId, name: 'bucket', required: true, pattern: '[a-z0-9][a-z0-9.\\-]{1,61}[a-z0-9]', placeholder: 'work', 'aria-describedby': `${nameId}-hint` });
  const status = statusLine();
  const form = h(
    'form',
    { class: 'inline-form', 'aria-label': 'Create a bucket' },
    h('label', { for: nameId }, 'New bucket'),
    input,
    h('button', { type: 'submit' }, 'Create'),
    h('small', { id: `${nameId}-hint`, class: 'muted' }, '3-63 lowercase letters, digits, dots and hyphens'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void act(form.querySelector('button')!, status, async () => {
      await api.post('/api/storage/buckets', { url: `s3://${input.value.trim()}` });
      location.hash = storageHref(`s3://${input.value.trim()}/`);
    });
  });
  const buckets = r.buckets ?? [];
  put(
    ctx.main,
    pageHeader('Storage'),
    buckets.length
      ? h('ul', { class: 'plain-list', 'aria-label': 'Buckets' }, buckets.map((b) => h('li', null, h('a', { href: storageHref(`s3://${b}/`), class: 'folder' }, b))))
      : h('p', { class: 'muted' }, 'No buckets yet.'),
    form,
    status.el,
  );
}

function render(el: HTMLElement, l: Listing, folder: string, status: ReturnType<typeof statusLine>, refresh: () => Promise<void>): void {
  const u = parseUrl(folder)!;
  const folders = l.folders ?? [];
  const objects = l.objects ?? [];
  if (!folders.length && !objects.length) return put(el, h('p', { class: 'muted' }, 'This folder is empty.'));
  const del = (target: string, recursive: boolean) => async (e: Event) => {
    if (!confirm(`Delete ${target}${recursive ? ' and everything in it' : ''}?`)) return;
    await act(e.currentTarget as HTMLButtonElement, status, async () => {
      await api.del(`/api/storage?url=${encodeURIComponent(target)}${recursive ? '&recursive=1' : ''}`);
      status.info(`Deleted ${target}`);
      await refresh();
    });
  };
  put(
    el,
    h(
      'table',
      { class: 'table' },
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'Size'), h('th', { scope: 'col' }, 'Modified'), h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')))),
      h(
        'tbody',
        null,
        folders.map((f) =>
          h(
            'tr',
            null,
            h('td', null, h('a', { href: storageHref(formatUrl(u, f)), class: 'folder' }, `${baseName(f)}/`)),
            h('td'),
            h('td'),
            h('td', { class: 'row-actions' }, h('button', { type: 'button', class: 'small danger', 'aria-label': `Delete folder ${baseName(f)}`, onclick: del(formatUrl(u, f), true) }, 'Delete')),
          ),
        ),
        objects.map((o) => {
          const name = baseName(o.key);
          const objUrl = formatUrl(u, o.key);
          return h(
            'tr',
            null,
            h('td', { class: 'mono' }, name),
            h('td', null, formatBytes(o.size)),
            h('td', null, time(o.lastModified)),
            h(
              'td',
              { class: 'row-actions' },
              downloadButton(objUrl, status),
              h('button', { type: 'button', class: 'small danger', 'aria-label': `Delete ${name}`, onclick: del(objUrl, false) }, 'Delete'),
            ),
          );
        }),
      ),
    ),
  );
}

/** A Download button for a storage object (the API needs the token, so it is fetched, then saved). */
export function downloadButton(objUrl: string, status: ReturnType<typeof statusLine>): HTMLButtonElement {
  const name = baseName(objUrl);
  const b = h('button', { type: 'button', class: 'small', 'aria-label': `Download ${name}`, 'data-url': objUrl }, 'Download');
  b.addEventListener('click', () => void act(b, status, async () => saveBlob(await api.download(objUrl), name)));
  return b;
}

function uploadControls(folder: string, status: ReturnType<typeof statusLine>, refresh: () => Promise<void>): HTMLElement {
  const filesId = uid('upload-files');
  const dirId = uid('upload-dir');
  const files = h('input', { id: filesId, type: 'file', multiple: true, class: 'sr-only' });
  const dir = h('input', { id: dirId, type: 'file', multiple: true, webkitdirectory: true, class: 'sr-only' });
  const upload = async (input: HTMLInputElement) => {
    const list = [...(input.files ?? [])];
    input.value = '';
    if (!list.length) return;
    files.disabled = dir.disabled = true;
    let bytes = 0;
    try {
      for (const [i, f] of list.entries()) {
        // A folder upload names each file by its path inside the chosen folder (codes/lenet_solver.prototxt).
        const rel = f.webkitRelativePath || f.name;
        status.info(`Uploading ${i + 1} of ${list.length}: ${rel} (${formatBytes(f.size)})…`);
        await api.upload(folder + rel, f);
        bytes += f.size;
      }
      status.info(`Uploaded ${list.length} file${list.length === 1 ? '' : 's'} (${formatBytes(bytes)}) to ${folder}`);
    } catch (e) {
      status.error(e);
    } finally {
      files.disabled = dir.disabled = false;
      await refresh().catch((e: unknown) => status.error(e));
    }
  };
  files.addEventListener('change', () => void upload(files));
  dir.addEventListener('change', () => void upload(dir));
  return h(
    'div',
    { class: 'actions upload' },
    h('span', { class: 'file-button' }, files, h('label', { for: filesId, class: 'button' }, 'Upload files')),
    h('span', { class: 'file-button' }, dir, h('label', { for: dirId, class: 'button' }, 'Upload a folder')),
  );
}
