// gflags-style command-line parsing, as Caffe's tools accept it: `-solver x`, `--solver=x`, `-solver=x`,
// booleans as `-flag`, `--flag=true|false`, `--noflag`. Unknown flags are errors, as in gflags.
export type FlagType = 'string' | 'int' | 'float' | 'bool';

export interface FlagSpec {
  type: FlagType;
  default?: string | number | boolean;
  help: string;
  /** A string flag that may be given several times (e.g. `--param k=v --param k2=v2`): its value is a string[]. */
  repeated?: boolean;
}

export type FlagValues = Record<string, string | number | boolean | string[] | undefined>;

export interface ParsedArgs {
  flags: FlagValues;
  positional: string[];
}

export class UsageError extends Error {}

function convert(name: string, spec: FlagSpec, raw: string): string | number | boolean {
  switch (spec.type) {
    case 'string':
      return raw;
    case 'int': {
      if (!/^[-+]?\d+$/.test(raw)) throw new UsageError(`flag -${name}: expected an integer, got '${raw}'`);
      return parseInt(raw, 10);
    }
    case 'float': {
      const v = Number(raw);
      if (raw.trim() === '' || Number.isNaN(v)) throw new UsageError(`flag -${name}: expected a number, got '${raw}'`);
      return v;
    }
    case 'bool': {
      if (/^(true|1|yes|t|y)$/i.test(raw)) return true;
      if (/^(false|0|no|f|n)$/i.test(raw)) return false;
      throw new UsageError(`flag -${name}: expected true or false, got '${raw}'`);
    }
  }
}

export function parseFlags(argv: string[], specs: Record<string, FlagSpec>): ParsedArgs {
  const flags: FlagValues = {};
  for (const [k, s] of Object.entries(specs)) flags[k] = s.repeated ? [] : s.default;
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('-') || a === '-' || /^-\d/.test(a)) {
      positional.push(a);
      continue;
    }
    const body = a.replace(/^--?/, '');
    const eq = body.indexOf('=');
    let name = eq >= 0 ? body.slice(0, eq) : body;
    let raw: string | undefined = eq >= 0 ? body.slice(eq + 1) : undefined;
    name = name.replace(/-/g, '_');
    let spec = specs[name];
    if (!spec && raw === undefined && name.startsWith('no') && specs[name.slice(2)]?.type === 'bool') {
      name = name.slice(2);
      spec = specs[name];
      raw = 'false';
    }
    if (!spec) throw new UsageError(`unknown flag '${a}'`);
    if (raw === undefined) {
      if (spec.type === 'bool') raw = 'true';
      else {
        if (i + 1 >= argv.length) throw new UsageError(`flag -${name} needs a value`);
        raw = argv[++i]!;
      }
    }
    if (spec.repeated) (flags[name] as string[]).push(raw);
    else flags[name] = convert(name, spec, raw);
  }
  return { flags, positional };
}

export function flagHelp(specs: Record<string, FlagSpec>): string {
  return Object.entries(specs)
    .map(([k, s]) => `  -${k} (${s.help})${s.default !== undefined ? ` default: ${JSON.stringify(s.default)}` : ''}`)
    .join('\n');
}
