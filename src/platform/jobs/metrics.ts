// Training metrics parsed from a job's Caffe log: loss and learning rate per displayed iteration, and each test
// pass's outputs (accuracy, loss, ...) — the lines Caffe's own log parsers read.
//
//   I... solver.cpp:218] Iteration 100 (12.3 iter/s, 8.1s/100 iters), loss = 0.2             -> train loss
//   I... sgd_solver.cpp:105] Iteration 100, lr = 0.0099                                       -> learning rate
//   I... solver.cpp:347] Iteration 100, Testing net (#0)                                      -> test pass at 100
//   I... solver.cpp:414]     Test net output #0: accuracy = 0.97                              -> its outputs
export interface TrainPoint {
  iteration: number;
  loss?: number;
  lr?: number;
}

export interface TestPoint {
  iteration: number;
  net: number;
  scores: Record<string, number>;
}

export interface Metrics {
  train: TrainPoint[];
  test: TestPoint[];
}

const NUM = '([-+]?(?:\\d+\\.?\\d*|\\.\\d+)(?:[eE][-+]?\\d+)?|[-+]?inf|nan)';
const LOSS_RE = new RegExp(`\\] Iteration (\\d+)(?: \\([^)]*\\))?, loss = ${NUM}`);
const LR_RE = new RegExp(`\\] Iteration (\\d+), lr = ${NUM}`);
const TESTING_RE = /\] Iteration (\d+), Testing net \(#(\d+)\)/;
const TEST_OUT_RE = new RegExp(`\\]\\s+Test net output #\\d+: (\\S+) = ${NUM}`);

const num = (s: string): number => (/^[-+]?inf$/i.test(s) ? (s.startsWith('-') ? -Infinity : Infinity) : Number(s));

/** Incremental parser: feed lines as they come, read `metrics` at any time. */
export class MetricsParser {
  readonly metrics: Metrics = { train: [], test: [] };
  private currentTest: TestPoint | undefined;

  private point(iteration: number): TrainPoint {
    const last = this.metrics.train[this.metrics.train.length - 1];
    if (last && last.iteration === iteration) return last;
    const p: TrainPoint = { iteration };
    this.metrics.train.push(p);
    return p;
  }

  line(line: string): void {
    let m: RegExpExecArray | null;
    if ((m = TEST_OUT_RE.exec(line))) {
      if (this.currentTest) this.currentTest.scores[m[1]!] = num(m[2]!);
    } else if ((m = TESTING_RE.exec(line))) {
      this.currentTest = { iteration: Number(m[1]), net: Number(m[2]), scores: {} };
      this.metrics.test.push(this.currentTest);
    } else if ((m = LR_RE.exec(line))) {
      this.point(Number(m[1])).lr = num(m[2]!);
    } else if ((m = LOSS_RE.exec(line))) {
      this.point(Number(m[1])).loss = num(m[2]!);
    }
  }

  text(text: string): void {
    for (const l of text.split('\n')) this.line(l);
  }
}

export function parseMetrics(log: string): Metrics {
  const p = new MetricsParser();
  p.text(log);
  return p.metrics;
}
