// Line charts as hand-written SVG: one or more panels stacked vertically, each with a title, axes with "nice" ticks
// and grid lines, axis labels and a legend. One <polyline> per series (data-series = its label), markers when the
// series is short. No Node imports (the web console can draw the same charts).

export interface ChartSeries {
  label: string;
  points: { x: number; y: number }[];
}

export interface ChartPanel {
  title: string;
  xLabel: string;
  yLabel: string;
  series: ChartSeries[];
}

export interface ChartOptions {
  width: number;
  height: number;
  /** A heading above all panels. */
  title?: string;
}

const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#be185d', '#4d7c0f'];
const FONT = "DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif";
const MARGIN = { left: 78, right: 28, top: 40, bottom: 52 };
const HEADING = 36;
/** Series with at most this many points get a marker on each point. */
const MARKER_MAX = 60;

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

function niceNum(x: number, round: boolean): number {
  const e = Math.floor(Math.log10(x));
  const f = x / 10 ** e;
  const nf = round ? (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) : (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10);
  return nf * 10 ** e;
}

/** Axis bounds and tick values covering [lo, hi] in steps of 1, 2 or 5 times a power of ten. */
export function niceTicks(lo: number, hi: number, count = 6): { min: number; max: number; step: number; ticks: number[] } {
  if (!(hi > lo)) {
    const pad = Math.abs(lo) * 0.1 || 1;
    lo -= pad;
    hi += pad;
  }
  const step = niceNum(niceNum(hi - lo, false) / (count - 1), true);
  const min = Math.floor(lo / step) * step, max = Math.ceil(hi / step) * step;
  const ticks: number[] = [];
  for (let i = 0; min + i * step <= max + step * 1e-9; i++) ticks.push(min + i * step);
  return { min, max, step, ticks };
}

function tickLabel(v: number, step: number): string {
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || step < 1e-5)) return v.toExponential(Math.max(0, Math.min(3, Math.ceil(-Math.log10(step / a)))));
  const decimals = Math.max(0, Math.ceil(-Math.log10(step) - 1e-9));
  const s = v.toFixed(decimals);
  return /^-0(\.0*)?$/.test(s) ? s.slice(1) : s;
}

const f2 = (v: number) => (Math.round(v * 100) / 100).toString();

function panelSvg(p: ChartPanel, x0: number, y0: number, w: number, h: number, colorOffset: number): string {
  const out: string[] = [];
  const pts = p.series.flatMap((s) => s.points).filter((q) => Number.isFinite(q.x) && Number.isFinite(q.y));
  const left = x0 + MARGIN.left, top = y0 + MARGIN.top, pw = w - MARGIN.left - MARGIN.right, ph = h - MARGIN.top - MARGIN.bottom;
  out.push(`<text x="${f2(left)}" y="${f2(y0 + 26)}" font-size="15" font-weight="bold" fill="#111827">${escapeXml(p.title)}</text>`);
  const xs = pts.map((q) => q.x), ys = pts.map((q) => q.y);
  const xt = niceTicks(xs.length ? Math.min(...xs) : 0, xs.length ? Math.max(...xs) : 1);
  const yt = niceTicks(ys.length ? Math.min(...ys) : 0, ys.length ? Math.max(...ys) : 1, 5);
  const sx = (v: number) => left + ((v - xt.min) / (xt.max - xt.min)) * pw;
  const sy = (v: number) => top + ph - ((v - yt.min) / (yt.max - yt.min)) * ph;
  out.push(`<rect x="${f2(left)}" y="${f2(top)}" width="${f2(pw)}" height="${f2(ph)}" fill="#ffffff" stroke="none"/>`);
  out.push('<g stroke="#e5e7eb" stroke-width="1">');
  for (const t of xt.ticks) out.push(`<line x1="${f2(sx(t))}" y1="${f2(top)}" x2="${f2(sx(t))}" y2="${f2(top + ph)}"/>`);
  for (const t of yt.ticks) out.push(`<line x1="${f2(left)}" y1="${f2(sy(t))}" x2="${f2(left + pw)}" y2="${f2(sy(t))}"/>`);
  out.push('</g>');
  out.push(`<g font-size="12" fill="#4b5563">`);
  for (const t of xt.ticks) out.push(`<text x="${f2(sx(t))}" y="${f2(top + ph + 18)}" text-anchor="middle">${tickLabel(t, xt.step)}</text>`);
  for (const t of yt.ticks) out.push(`<text x="${f2(left - 8)}" y="${f2(sy(t) + 4)}" text-anchor="end">${tickLabel(t, yt.step)}</text>`);
  out.push('</g>');
  out.push(`<path d="M${f2(left)},${f2(top)} V${f2(top + ph)} H${f2(left + pw)}" fill="none" stroke="#374151" stroke-width="1.2"/>`);
  out.push(`<text x="${f2(left + pw / 2)}" y="${f2(top + ph + 40)}" font-size="13" fill="#374151" text-anchor="middle">${escapeXml(p.xLabel)}</text>`);
  const ly = top + ph / 2;
  out.push(`<text x="${f2(x0 + 18)}" y="${f2(ly)}" font-size="13" fill="#374151" text-anchor="middle" transform="rotate(-90 ${f2(x0 + 18)} ${f2(ly)})">${escapeXml(p.yLabel)}</text>`);
  p.series.forEach((s, i) => {
    const color = PALETTE[(i + colorOffset) % PALETTE.length]!;
    const q = s.points.filter((v) => Number.isFinite(v.x) && Number.isFinite(v.y));
    const coords = q.map((v) => `${f2(sx(v.x))},${f2(sy(v.y))}`);
    out.push(`<g data-series="${escapeXml(s.label)}">`);
    out.push(`<polyline points="${coords.join(' ')}" fill="none" stroke="${color}" stroke-width="1.8" stroke-linejoin="round" stroke-linecap="round"/>`);
    if (q.length <= MARKER_MAX) for (const c of coords) { const [cx, cy] = c.split(','); out.push(`<circle cx="${cx}" cy="${cy}" r="2.6" fill="${color}"/>`); }
    out.push('</g>');
  });
  out.push(legendSvg(p, left, top, pw, y0, colorOffset));
  return out.join('\n');
}

/**
 * The legend: one row on the panel's title line, right-aligned, when it fits beside the title; else a box in the
 * plot's top right corner, one series per row.
 */
function legendSvg(p: ChartPanel, left: number, top: number, pw: number, y0: number, colorOffset: number): string {
  if (!p.series.length) return '';
  const out: string[] = [];
  const charW = 7, sample = 30;
  const widths = p.series.map((s) => sample + 6 + charW * s.label.length + 18);
  const total = widths.reduce((a, b) => a + b, 0);
  const color = (i: number) => PALETTE[(i + colorOffset) % PALETTE.length]!;
  const item = (i: number, x: number, y: number) => {
    out.push(`<line x1="${f2(x)}" y1="${f2(y)}" x2="${f2(x + sample)}" y2="${f2(y)}" stroke="${color(i)}" stroke-width="2.5"/>`);
    out.push(`<text x="${f2(x + sample + 6)}" y="${f2(y + 4)}" font-size="12" fill="#111827">${escapeXml(p.series[i]!.label)}</text>`);
  };
  const titleW = 9 * p.title.length + 24;
  if (total <= pw - titleW) {
    let x = left + pw - total;
    p.series.forEach((_, i) => { item(i, x, y0 + 21); x += widths[i]!; });
    return out.join('\n');
  }
  const rowH = 18, lw = Math.min(pw - 16, Math.max(...widths));
  const lx = left + pw - lw - 8, ly0 = top + 8;
  out.push(`<rect x="${f2(lx)}" y="${f2(ly0)}" width="${f2(lw)}" height="${p.series.length * rowH + 8}" rx="4" fill="#ffffff" fill-opacity="0.85" stroke="#d1d5db"/>`);
  p.series.forEach((_, i) => item(i, lx + 8, ly0 + 4 + rowH * i + rowH / 2));
  return out.join('\n');
}

/** The chart as an SVG document of exactly width x height pixels. */
export function renderChartSvg(panels: ChartPanel[], o: ChartOptions): string {
  if (!panels.length) throw new Error('nothing to plot');
  const head = o.title ? HEADING : 0;
  const ph = (o.height - head) / panels.length;
  const body: string[] = [];
  if (o.title) body.push(`<text x="${f2(o.width / 2)}" y="24" font-size="17" font-weight="bold" fill="#111827" text-anchor="middle">${escapeXml(o.title)}</text>`);
  let colors = 0;
  panels.forEach((p, i) => {
    body.push(panelSvg(p, 0, head + i * ph, o.width, ph, colors));
    colors += p.series.length;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="${o.width}" height="${o.height}" viewBox="0 0 ${o.width} ${o.height}" font-family="${FONT}">
<rect width="100%" height="100%" fill="#f9fafb"/>
${body.join('\n')}
</svg>
`;
}
