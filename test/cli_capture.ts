// Run a `tscaffe` command in this process and capture what it prints (platform commands print through cliOut).
import { main } from '../src/cli/main.js';
import { cliOut } from '../src/platform/storage/cli.js';
import { setLogSink } from '../src/util/log.js';

export async function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const [ow, ew] = [cliOut.write, process.stderr.write];
  cliOut.write = (c: string) => void out.push(c);
  process.stderr.write = ((c: string) => err.push(String(c)) > 0) as typeof process.stderr.write;
  let code: number;
  try {
    code = await main(args);
  } catch (e) {
    err.push(`tscaffe: ${(e as Error).message}\n`);
    code = 1;
  } finally {
    cliOut.write = ow;
    process.stderr.write = ew;
  }
  return { code, stdout: out.join(''), stderr: err.join('') };
}

/** Run a tscaffe command in-process, returning its exit code and its log lines (glog lines, through the log sink). */
export async function runLogged(args: string[]): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const prev = setLogSink({ write: (l) => void lines.push(l.trimEnd()) });
  try {
    return { code: await main(args), lines };
  } finally {
    setLogSink(prev);
  }
}
