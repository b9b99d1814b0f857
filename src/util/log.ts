// glog-format logging, as Caffe prints it: "I20261126 04:23:53.123456 12345 solver.cpp:218] message".
// Caffe log parsers key on the message text, so the prefix only has to keep glog's shape.
export type Severity = 'I' | 'W' | 'E' | 'F';

export interface LogSink {
  write(line: string): void;
}

// stderr, or the console where there is no process (a browser).
let sink: LogSink = {
  write: (line) => (typeof process === 'undefined' ? console.error(line.trimEnd()) : process.stderr.write(line)),
};
let quiet = false;

/** Redirect log lines (e.g. into a job's log file as well as stderr). Returns the previous sink. */
export function setLogSink(s: LogSink): LogSink {
  const prev = sink;
  sink = s;
  return prev;
}

/** Silence info lines (tests); warnings and errors still print. */
export function setQuiet(q: boolean): void {
  quiet = q;
}

function pad(n: number, w: number): string {
  return String(n).padStart(w, '0');
}

export function glogPrefix(sev: Severity, source: string, now = new Date()): string {
  const us = pad(now.getMilliseconds() * 1000, 6);
  return `${sev}${now.getFullYear()}${pad(now.getMonth() + 1, 2)}${pad(now.getDate(), 2)} ${pad(now.getHours(), 2)}:${pad(now.getMinutes(), 2)}:${pad(now.getSeconds(), 2)}.${us} ${String(typeof process === 'undefined' ? 0 : process.pid).padStart(5, ' ')} ${source}]`;
}

function emit(sev: Severity, source: string, msg: string): void {
  if (quiet && sev === 'I') return;
  sink.write(`${glogPrefix(sev, source)} ${msg}\n`);
}

/** A logger for one source file, e.g. `const log = logger('solver.cpp:0')`. */
export function logger(source: string) {
  return {
    info: (msg: string) => emit('I', source, msg),
    warn: (msg: string) => emit('W', source, msg),
    error: (msg: string) => emit('E', source, msg),
  };
}
