// A one-line progress bar on a TTY (stderr by default), redrawn at most every 100 ms; a no-op when the stream is not a
// terminal (logs and pipes keep only the glog lines).
//
//   const bar = progressBar(60000, 'convert');  bar.tick(); ...  bar.done();
export interface Progress {
  /** Advance by n (default 1). */
  tick(n?: number): void;
  /** Set the absolute position. */
  update(value: number): void;
  /** Draw the final state and end the line (or erase it with clear = true). */
  done(clear?: boolean): void;
  readonly enabled: boolean;
}

export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(s: string): unknown;
}

export function progressBar(total: number, label = '', stream: ProgressStream = process.stderr, force = false): Progress {
  const enabled = force || stream.isTTY === true;
  let value = 0;
  let last = 0;
  let finished = false;
  const started = Date.now();

  const draw = () => {
    const cols = Math.max(40, Math.min(stream.columns ?? 80, 120));
    const frac = total > 0 ? Math.min(1, value / total) : 1;
    const secs = (Date.now() - started) / 1000;
    const rate = secs > 0 ? value / secs : 0;
    const tail = ` ${value}/${total} ${(frac * 100).toFixed(0).padStart(3)}% ${rate >= 1 ? Math.round(rate) + '/s' : ''}`;
    const head = label ? `${label} ` : '';
    const width = Math.max(10, cols - head.length - tail.length - 3);
    const fill = Math.round(frac * width);
    stream.write(`\r${head}[${'#'.repeat(fill)}${'.'.repeat(width - fill)}]${tail}\x1b[K`);
  };

  const maybeDraw = () => {
    if (!enabled || finished) return;
    const now = Date.now();
    if (now - last >= 100 || value >= total) {
      last = now;
      draw();
    }
  };

  return {
    enabled,
    tick(n = 1) {
      value += n;
      maybeDraw();
    },
    update(v: number) {
      value = v;
      maybeDraw();
    },
    done(clear = false) {
      if (!enabled || finished) return;
      finished = true;
      if (clear) stream.write('\r\x1b[K');
      else {
        draw();
        stream.write('\n');
      }
    },
  };
}
