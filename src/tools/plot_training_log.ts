// `tscaffe plot_training_log`: charts of a Caffe-format training log.
//   tscaffe plot_training_log train.log out.png|out.svg          loss (train + test), test accuracy, learning rate
//   tscaffe plot_training_log <chart_type> out.png a.log [b.log]   Caffe's tools/extra/plot_training_log.py: one
//                                                                   field of several logs overlaid (types 0-7)
import path from 'node:path';
import { readTextFile } from '../proto/upgrade.js';
import { writeFileAtomic } from '../util/atomic.js';
import { logger } from '../util/log.js';
import type { Command } from '../cli/command.js';
import { UsageError } from '../cli/flags.js';
import { hasIterations, parseCaffeLog, type CaffeLogSeries, type LogPoint } from './parse_log.js';
import { renderChartSvg, type ChartPanel } from './plot/svg.js';
import { svgToPng } from './plot/png.js';

const log = logger('plot_training_log.cpp:0');

type Field = 'testAccuracy' | 'testLoss' | 'learningRate' | 'trainLoss';

/** Caffe's chart types, in its numbering: field and x axis. */
export const CHART_TYPES: readonly { field: Field; name: string; x: 'Iters' | 'Seconds' }[] = [
  { field: 'testAccuracy', name: 'Test accuracy', x: 'Iters' },
  { field: 'testAccuracy', name: 'Test accuracy', x: 'Seconds' },
  { field: 'testLoss', name: 'Test loss', x: 'Iters' },
  { field: 'testLoss', name: 'Test loss', x: 'Seconds' },
  { field: 'learningRate', name: 'Train learning rate', x: 'Iters' },
  { field: 'learningRate', name: 'Train learning rate', x: 'Seconds' },
  { field: 'trainLoss', name: 'Train loss', x: 'Iters' },
  { field: 'trainLoss', name: 'Train loss', x: 'Seconds' },
];

const chartTypeList = CHART_TYPES.map((t, i) => `${i}: ${t.name} vs. ${t.x}`).join(', ');

const byIter = (p: LogPoint[]) => p.map((q) => ({ x: q.iteration, y: q.value }));

/** The default chart of one log: loss (train and test), test accuracy (every accuracy-like output), learning rate. */
export function trainingLogPanels(s: CaffeLogSeries): ChartPanel[] {
  const panels: ChartPanel[] = [];
  const loss = [
    { label: 'train loss', points: byIter(s.trainLoss) },
    { label: 'test loss', points: byIter(s.testLoss) },
  ].filter((x) => x.points.length);
  if (loss.length) panels.push({ title: 'Loss', xLabel: 'Iterations', yLabel: 'loss', series: loss });
  const acc = Object.entries(s.testOutputs).filter(([n]) => /acc/i.test(n)).map(([n, p]) => ({ label: `test ${n}`, points: byIter(p) }));
  if (acc.length) panels.push({ title: 'Test accuracy', xLabel: 'Iterations', yLabel: 'accuracy', series: acc });
  if (s.learningRate.length) {
    panels.push({ title: 'Learning rate', xLabel: 'Iterations', yLabel: 'learning rate', series: [{ label: 'lr', points: byIter(s.learningRate) }] });
  }
  return panels;
}

/** Caffe's chart `type` of several logs, one series per log. */
export function caffeChartPanel(type: number, logs: { label: string; series: CaffeLogSeries }[]): ChartPanel {
  const t = CHART_TYPES[type];
  if (!t) throw new UsageError(`chart type must be 0-7 (${chartTypeList}), got ${type}`);
  return {
    title: `${t.name} vs. ${t.x}`,
    xLabel: t.x,
    yLabel: t.name,
    series: logs.map((l) => ({
      label: l.label,
      points: l.series[t.field].map((p) => ({ x: t.x === 'Iters' ? p.iteration : p.seconds, y: p.value })),
    })),
  };
}

function outputKind(out: string): 'png' | 'svg' {
  const ext = path.extname(out).toLowerCase();
  if (ext === '.png' || ext === '.svg') return ext.slice(1) as 'png' | 'svg';
  throw new UsageError(`${out}: unknown output extension '${ext || '(none)'}': write .png or .svg`);
}

function readLog(file: string): CaffeLogSeries {
  const s = parseCaffeLog(readTextFile(file));
  if (!hasIterations(s)) throw new Error(`${file}: no training or test iterations found (not a Caffe training log?)`);
  return s;
}

/** Render the panels and write `out` (.svg as is, .png rasterized) atomically. */
export function writeChart(out: string, panels: ChartPanel[], width: number, height: number, title?: string): void {
  const kind = outputKind(out);
  const svg = renderChartSvg(panels, { width, height, title });
  if (kind === 'svg') {
    writeFileAtomic(out, svg);
    return;
  }
  const { png, warning } = svgToPng(svg);
  if (warning) log.warn(warning);
  writeFileAtomic(out, png);
}

export const plotTrainingLogCommand: Command = {
  summary: 'chart a Caffe training log (loss, test accuracy, learning rate) as .png or .svg',
  usage: `<log> <out.png|out.svg>  |  <chart_type> <out.png|out.svg> <log> [log...]   (chart types: ${chartTypeList})`,
  flags: {
    width: { type: 'int', default: 960, help: 'Chart width in pixels.' },
    height: { type: 'int', default: 0, help: 'Chart height in pixels (0: 300 per panel plus the heading; 540 for a chart type).' },
  },
  async run({ flags, positional }) {
    const width = Number(flags.width), heightFlag = Number(flags.height);
    if (!(width >= 200 && width <= 10000) || !(heightFlag === 0 || (heightFlag >= 150 && heightFlag <= 10000))) {
      throw new UsageError('-width must be 200-10000 and -height 0 or 150-10000');
    }
    if (positional.length >= 1 && /^[-+]?\d+$/.test(positional[0]!)) {
      // Caffe's form: chart_type out logs...
      const type = Number(positional[0]);
      if (!CHART_TYPES[type]) throw new UsageError(`chart type must be 0-7 (${chartTypeList}), got ${positional[0]}`);
      const [, out, ...files] = positional;
      if (!out || !files.length) throw new UsageError('give the chart type, the output file and at least one log');
      outputKind(out);
      const logs = files.map((f) => ({ label: path.basename(f), series: readLog(f) }));
      const panel = caffeChartPanel(type, logs);
      for (const s of panel.series) if (!s.points.length) log.warn(`${s.label}: no ${CHART_TYPES[type]!.name.toLowerCase()} values`);
      if (panel.series.every((s) => !s.points.length)) throw new Error(`no log has ${CHART_TYPES[type]!.name.toLowerCase()} values to plot`);
      writeChart(out, [panel], width, heightFlag || 540);
      log.info(`Wrote ${out}: ${panel.title}, ${logs.length} log(s)`);
      return 0;
    }
    if (positional.length !== 2) throw new UsageError('give a log and an output file (or a chart type, an output file and logs)');
    const [file, out] = positional as [string, string];
    outputKind(out);
    const panels = trainingLogPanels(readLog(file));
    writeChart(out, panels, width, heightFlag || 36 + 300 * panels.length, `Training log: ${path.basename(file)}`);
    log.info(`Wrote ${out}: ${panels.map((p) => p.title.toLowerCase()).join(', ')}`);
    return 0;
  },
};
