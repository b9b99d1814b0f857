// A Caffe-format training log (tscaffe's or real Caffe's: both glog) as series against iterations and seconds, the
// numbers Caffe's tools/extra/parse_log.py and plot_training_log.py read. The line matching is the job service's
// (platform/jobs/metrics.ts); this adds each point's time since the start ("Solving ..." line, as Caffe's
// extract_seconds.py) and the "Train net output" values. No Node imports: the web console charts the same series.
import { MetricsParser, type TestPoint, type TrainPoint } from '../platform/jobs/metrics.js';

export interface LogPoint {
  iteration: number;
  /** Seconds since the solver started (the "Solving" line; else the log's first timestamped line). */
  seconds: number;
  value: number;
}

export interface CaffeLogSeries {
  /** "Iteration N (...), loss = X": the displayed (smoothed) training loss. */
  trainLoss: LogPoint[];
  /** "Iteration N, lr = X". */
  learningRate: LogPoint[];
  /** Test net #0's output named "loss" (else the first one whose name contains "loss"). */
  testLoss: LogPoint[];
  /** Test net #0's output named "accuracy" (else the first one whose name contains "acc"). */
  testAccuracy: LogPoint[];
  /** Every "Train net output #k: name = X" by name. */
  trainOutputs: Record<string, LogPoint[]>;
  /** Every "Test net output #k: name = X" by name; outputs of test nets other than #0 as "name (#1)". */
  testOutputs: Record<string, LogPoint[]>;
}

// glog's prefix: severity, [yyyy]mmdd, time; the year is missing in older glog (Caffe 1.0's logs).
const GLOG_TIME = /^[IWEF](\d{8}|\d{4}) (\d\d):(\d\d):(\d\d(?:\.\d+)?)\s/;
const NUM = '([-+]?(?:\\d+\\.?\\d*|\\.\\d+)(?:[eE][-+]?\\d+)?|[-+]?inf|nan)';
const TRAIN_OUT_RE = new RegExp(`\\]\\s+Train net output #\\d+: (\\S+) = ${NUM}`);

const num = (s: string): number => (/^[-+]?inf$/i.test(s) ? (s.startsWith('-') ? -Infinity : Infinity) : Number(s));

/** Milliseconds of a glog line's timestamp (years without one counted from 2000, a leap year), or undefined. */
function glogMillis(line: string): number | undefined {
  const m = GLOG_TIME.exec(line);
  if (!m) return undefined;
  const d = m[1]!;
  const [y, mo, day] = d.length === 8 ? [+d.slice(0, 4), +d.slice(4, 6), +d.slice(6, 8)] : [2000, +d.slice(0, 2), +d.slice(2, 4)];
  const sec = Number(m[4]);
  return Date.UTC(y, mo - 1, day, +m[2]!, +m[3]!, Math.floor(sec)) + (sec - Math.floor(sec)) * 1000;
}

function pickName(names: string[], exact: string, part: string): string | undefined {
  return names.includes(exact) ? exact : names.find((n) => n.toLowerCase().includes(part));
}

/** Parse a whole log. Lines that are not Caffe's are ignored; a log without iterations gives empty series. */
export function parseCaffeLog(text: string): CaffeLogSeries {
  const mp = new MetricsParser();
  const when = new Map<TrainPoint | TestPoint, number>();
  const trainOutputs: Record<string, LogPoint[]> = {};
  let start: number | undefined, solving: number | undefined, now = 0, yearShift = 0, prev: number | undefined;
  for (const line of text.split('\n')) {
    let t = glogMillis(line);
    if (t !== undefined) {
      // A log without years that runs over New Year's Eve goes back ~365 days: count on into the next year.
      if (prev !== undefined && t + yearShift < prev - 86_400_000) yearShift += 366 * 86_400_000;
      t += yearShift;
      prev = now = t;
      start ??= t;
      if (solving === undefined && /\] Solving /.test(line)) solving = t;
    }
    const { train, test } = mp.metrics;
    const [nTrain, nTest] = [train.length, test.length];
    mp.line(line);
    if (train.length > nTrain) when.set(train[train.length - 1]!, now);
    if (test.length > nTest) when.set(test[test.length - 1]!, now);
    const m = TRAIN_OUT_RE.exec(line);
    const last = train[train.length - 1];
    if (m && last) (trainOutputs[m[1]!] ??= []).push({ iteration: last.iteration, seconds: now, value: num(m[2]!) });
  }
  const t0 = solving ?? start ?? 0;
  const sec = (ms: number) => (ms - t0) / 1000;
  const { train, test } = mp.metrics;
  const trainSeries = (key: 'loss' | 'lr'): LogPoint[] => train
    .filter((p) => p[key] !== undefined)
    .map((p) => ({ iteration: p.iteration, seconds: sec(when.get(p) ?? t0), value: p[key]! }));
  const testOutputs: Record<string, LogPoint[]> = {};
  for (const p of test) {
    for (const [name, value] of Object.entries(p.scores)) {
      const key = p.net === 0 ? name : `${name} (#${p.net})`;
      (testOutputs[key] ??= []).push({ iteration: p.iteration, seconds: sec(when.get(p) ?? t0), value });
    }
  }
  for (const list of Object.values(trainOutputs)) for (const p of list) p.seconds = sec(p.seconds);
  const net0 = [...new Set(test.filter((p) => p.net === 0).flatMap((p) => Object.keys(p.scores)))];
  const lossName = pickName(net0, 'loss', 'loss');
  const accName = pickName(net0, 'accuracy', 'acc');
  return {
    trainLoss: trainSeries('loss'),
    learningRate: trainSeries('lr'),
    testLoss: lossName ? testOutputs[lossName]! : [],
    testAccuracy: accName ? testOutputs[accName]! : [],
    trainOutputs,
    testOutputs,
  };
}

/** Whether the log had any training or test iteration at all. */
export function hasIterations(s: CaffeLogSeries): boolean {
  return s.trainLoss.length + s.learningRate.length + Object.keys(s.testOutputs).length > 0;
}
