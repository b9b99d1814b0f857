// A small hand-written SVG line chart (value vs iteration): axes with round-number ticks, one path, a dot per point
// when there are few. The caption states the latest value, for everyone and for screen readers.
import { h, put, svg } from './dom.js';

const W = 360;
const H = 200;
const M = { l: 52, r: 12, t: 10, b: 28 };

/** About `n` round tick values covering [lo, hi] (steps of 1, 2 or 5 times a power of ten). */
export function ticks(lo: number, hi: number, n = 4): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

export function formatNumber(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(1);
  return Number(v.toPrecision(4)).toString();
}

export interface Chart {
  el: HTMLElement;
  update(points: [number, number][]): void;
}

export function lineChart(id: string, title: string): Chart {
  const plot = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart-svg', role: 'img', 'aria-labelledby': `${id}-cap` });
  const caption = h('figcaption', { id: `${id}-cap` }, h('strong', null, title), h('span', { class: 'muted' }, ' · no data yet'));
  const el = h('figure', { class: 'chart', id, 'data-points': 0 }, caption, plot);
  let lastKey = '';
  return {
    el,
    update(all) {
      const pts = all.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
      const key = `${pts.length}:${pts[pts.length - 1]?.join(',') ?? ''}`;
      if (key === lastKey) return;
      lastKey = key;
      el.dataset.points = String(pts.length);
      if (!pts.length) return;
      const [lastX, lastY] = pts[pts.length - 1]!;
      put(caption, h('strong', null, title), h('span', { class: 'muted' }, ` · ${formatNumber(lastY)} at iteration ${lastX}`));
      let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
      for (const [x, y] of pts) [x0, x1, y0, y1] = [Math.min(x0, x), Math.max(x1, x), Math.min(y0, y), Math.max(y1, y)];
      if (x1 === x0) x1 = x0 + 1;
      if (y1 === y0) [y0, y1] = [y0 - (Math.abs(y0) || 1) * 0.05, y1 + (Math.abs(y1) || 1) * 0.05];
      const pad = (y1 - y0) * 0.05;
      if (y0 >= 0 && y0 - pad < 0) y0 = 0;
      else y0 -= pad;
      y1 += pad;
      const sx = (x: number) => M.l + ((x - x0) / (x1 - x0)) * (W - M.l - M.r);
      const sy = (y: number) => H - M.b - ((y - y0) / (y1 - y0)) * (H - M.t - M.b);
      const d = pts.map(([x, y], i) => `${i ? 'L' : 'M'}${sx(x).toFixed(1)} ${sy(y).toFixed(1)}`).join(' ');
      put(
        plot,
        ticks(y0, y1).map((t) => [
          svg('line', { x1: M.l, x2: W - M.r, y1: sy(t), y2: sy(t), class: 'grid' }),
          svg('text', { x: M.l - 6, y: sy(t) + 4, 'text-anchor': 'end', class: 'tick' }, formatNumber(t)),
        ]),
        ticks(x0, x1, 4).map((t) => svg('text', { x: sx(t), y: H - M.b + 16, 'text-anchor': 'middle', class: 'tick' }, formatNumber(t))),
        svg('line', { x1: M.l, x2: W - M.r, y1: H - M.b, y2: H - M.b, class: 'axis' }),
        svg('line', { x1: M.l, x2: M.l, y1: M.t, y2: H - M.b, class: 'axis' }),
        svg('path', { d, class: 'series' }),
        pts.length <= 40 ? pts.map(([x, y]) => svg('circle', { cx: sx(x), cy: sy(y), r: 2.5, class: 'dot' })) : null,
      );
    },
  };
}
