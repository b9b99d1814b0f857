// The platform API from the browser: every call sends the bearer token kept in sessionStorage ('tscaffe.token', shared
// with the draw page); a 401 asks for the token again (one dialog for all waiting calls) and retries. Errors come
// back as ApiError with the API's message and, for a bad request field, the field's name.
import { ApiError } from '../../../src/platform/jobs/api_error.js';
import { h, uid } from './dom.js';

export const TOKEN_KEY = 'tscaffe.token';

export { ApiError };

export const getToken = (): string | null => sessionStorage.getItem(TOKEN_KEY);

let asking: Promise<string | null> | undefined;

/** Show the token dialog (once for any number of callers); resolves to the token, or null when cancelled. */
export function askToken(reason?: string): Promise<string | null> {
  return (asking ??= new Promise<string | null>((resolve) => {
    const inputId = uid('token');
    const input = h('input', { id: inputId, name: 'token', type: 'password', autocomplete: 'off', spellcheck: 'false', required: true, value: getToken() ?? '' });
    const dialog = h(
      'dialog',
      { id: 'token-dialog', 'aria-labelledby': `${inputId}-title` },
      h(
        'form',
        { method: 'dialog' },
        h('h2', { id: `${inputId}-title` }, 'API token'),
        reason ? h('p', { class: 'error', role: 'alert' }, reason) : null,
        h('p', null, 'tscaffe serve printed it at its first start; it is also in ~/.tscaffe/token on the server machine. It is kept for this browser tab only.'),
        h('label', { for: inputId }, 'Token'),
        input,
        h('div', { class: 'actions' }, h('button', { type: 'submit', value: 'ok', class: 'primary' }, 'Continue'), h('button', { type: 'submit', value: 'cancel', formnovalidate: true }, 'Cancel')),
      ),
    );
    dialog.addEventListener('close', () => {
      const t = input.value.trim();
      const ok = dialog.returnValue === 'ok' && t !== '';
      if (ok) sessionStorage.setItem(TOKEN_KEY, t);
      dialog.remove();
      asking = undefined;
      resolve(ok ? t : null);
    });
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
  }));
}

export interface RequestOptions {
  json?: unknown;
  body?: BodyInit;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** fetch() with the token; resolves to an OK response, else throws ApiError. */
export async function request(method: string, path: string, o: RequestOptions = {}): Promise<Response> {
  // Without a stored token, try without one first: a service started with --insecure-localhost needs none.
  let token = getToken();
  for (let attempt = 0; ; attempt++) {
    if (token === null && attempt > 0) throw new ApiError(401, 'No API token: use the "API token" button at the top to enter it.');
    const headers: Record<string, string> = { ...(token !== null ? { authorization: `Bearer ${token}` } : {}), ...o.headers };
    let body = o.body;
    if (o.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(o.json);
    }
    let res: Response;
    try {
      res = await fetch(path, { method, headers, ...(body !== undefined ? { body } : {}), ...(o.signal ? { signal: o.signal } : {}) });
    } catch (e) {
      if (o.signal?.aborted) throw e;
      throw new ApiError(0, `Cannot reach the service (${(e as Error).message}). Is tscaffe serve running?`);
    }
    if (res.ok) return res;
    const err = await errorOf(res);
    if (res.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      token = await askToken(token === null ? undefined : 'The service refused the token; enter it again.');
      continue;
    }
    throw err;
  }
}

async function errorOf(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  try {
    const b = JSON.parse(text) as { error?: unknown; field?: unknown };
    if (typeof b.error === 'string') return new ApiError(res.status, b.error, typeof b.field === 'string' ? b.field : undefined);
  } catch {
    /* not JSON: a proxy's page, say */
  }
  return new ApiError(res.status, `${res.status} ${res.statusText}${text ? `: ${text.slice(0, 200)}` : ''}`);
}

export const api = {
  get: async <T>(path: string, signal?: AbortSignal): Promise<T> => (await request('GET', path, signal ? { signal } : {})).json() as Promise<T>,
  post: async <T>(path: string, json: unknown = {}): Promise<T> => (await request('POST', path, { json })).json() as Promise<T>,
  del: async <T>(path: string): Promise<T> => (await request('DELETE', path)).json() as Promise<T>,
  /** Upload a file or blob to a storage object URL. */
  upload: async (url: string, data: Blob): Promise<{ url: string; size: number }> =>
    (await request('PUT', `/api/storage/object?url=${encodeURIComponent(url)}`, { body: data, headers: { 'content-type': 'application/octet-stream' } })).json() as Promise<{ url: string; size: number }>,
  /** Download a storage object as a Blob. */
  download: async (url: string): Promise<Blob> => (await request('GET', `/api/storage/object?url=${encodeURIComponent(url)}`)).blob(),
};

/** Storage listing (GET /api/storage): folders are full keys from the bucket root, ending in '/'. */
export interface Listing {
  buckets?: string[];
  url?: string;
  objects?: { key: string; size: number; lastModified: string }[];
  folders?: string[];
}

export const listStorage = (url: string, recursive = false, signal?: AbortSignal): Promise<Listing> =>
  api.get<Listing>(`/api/storage?url=${encodeURIComponent(url)}${recursive ? '&recursive=1' : ''}`, signal);
