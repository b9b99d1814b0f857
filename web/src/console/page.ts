// What every page shares: its context, the error banner, error messages next to an action, and polling.
import { ApiError } from './api.js';
import { h, put, sleep } from './dom.js';

export interface PageContext {
  main: HTMLElement;
  /** The route's captured path segments (e.g. the job id). */
  params: string[];
  /** The query after '?' in the hash (e.g. #/storage?url=s3://work/). */
  query: URLSearchParams;
  /** Aborted when the user leaves the page. */
  signal: AbortSignal;
}

export type Page = (ctx: PageContext) => void | Promise<void>;

export const messageOf = (e: unknown): string => (e instanceof ApiError ? e.message : e instanceof Error ? e.message : String(e));

const banner = (): HTMLElement => document.getElementById('banner')!;

/** A page-wide error (what failed to load), with a Retry button when given. */
export function showBanner(e: unknown, retry?: () => void): void {
  const b = banner();
  put(b, h('span', null, messageOf(e)), retry ? h('button', { type: 'button', onclick: retry }, 'Retry') : null);
  b.hidden = false;
}

export function clearBanner(): void {
  const b = banner();
  b.hidden = true;
  put(b);
}

/** An inline status line for an action (role=status; errors get the error style). */
export function statusLine(): { el: HTMLElement; error(e: unknown): void; info(text: string): void; clear(): void } {
  const el = h('p', { class: 'status', role: 'status' });
  return {
    el,
    error(e) {
      el.className = 'status error';
      el.textContent = messageOf(e);
    },
    info(text) {
      el.className = 'status';
      el.textContent = text;
    },
    clear() {
      el.textContent = '';
    },
  };
}

/** A heading with optional action buttons on the same row. */
export function pageHeader(title: string | Node, ...actions: Node[]): HTMLElement {
  return h('div', { class: 'page-head' }, h('h1', { tabindex: -1 }, title), actions.length ? h('div', { class: 'actions' }, actions) : null);
}

/**
 * Run `tick` now and then again after `ms` (or the delay in ms it returns) until the page is left or it returns
 * false; wake() runs the next tick at once. A failing tick shows the error in the banner and polling goes on (the
 * service may come back); the banner clears on the next success.
 */
export function poll(signal: AbortSignal, ms: number, tick: () => Promise<number | boolean | void>): { wake(): void; done: Promise<void> } {
  let nap: AbortController | undefined;
  const done = (async () => {
    let failed = false;
    for (;;) {
      let next: number | boolean | void = ms;
      try {
        next = await tick();
        if (failed) clearBanner();
        failed = false;
        if (next === false) return;
      } catch (e) {
        if (signal.aborted) return;
        showBanner(e);
        failed = true;
      }
      nap = new AbortController();
      await sleep(typeof next === 'number' ? next : ms, AbortSignal.any([signal, nap.signal]));
      if (signal.aborted) return;
    }
  })();
  return { wake: () => nap?.abort(), done };
}

/** Run an action from a button: disable it meanwhile, report failures in `status`. */
export async function act(button: HTMLButtonElement, status: ReturnType<typeof statusLine>, fn: () => Promise<void>): Promise<void> {
  button.disabled = true;
  status.clear();
  try {
    await fn();
  } catch (e) {
    status.error(e);
  } finally {
    button.disabled = false;
  }
}
