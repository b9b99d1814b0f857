import type { FlagSpec, ParsedArgs } from './flags.js';

export interface Command {
  summary: string;
  usage: string;
  flags: Record<string, FlagSpec>;
  /** Returns the process exit code. Throw an Error with a one-line message for bad input. */
  run(args: ParsedArgs): Promise<number>;
}
