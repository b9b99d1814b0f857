// The `tscaffe` command: Caffe's tools (caffe train/test/time, convert_mnist_data, compute_image_mean,
// upgrade_net_proto_text, ...) as subcommands with Caffe's flags.
import { commands } from './commands.js';
import { flagHelp, parseFlags, UsageError } from './flags.js';

function usage(): string {
  const lines = ['usage: tscaffe <command> [args]', '', 'commands:'];
  for (const [name, c] of Object.entries(commands).sort()) lines.push(`  ${name.padEnd(28)} ${c.summary}`);
  lines.push('', "Run 'tscaffe <command> --help' for a command's flags.");
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name ? 0 : 1;
  }
  if (name === '--version' || name === 'version') {
    process.stdout.write('tscaffe 0.1.0\n');
    return 0;
  }
  const cmd = commands[name];
  if (!cmd) {
    process.stderr.write(`tscaffe: unknown command '${name}'\n${usage()}\n`);
    return 1;
  }
  if (rest.includes('--help') || rest.includes('-help') || rest.includes('-h')) {
    process.stdout.write(`usage: tscaffe ${name} ${cmd.usage}\n${cmd.summary}\n\nflags:\n${flagHelp(cmd.flags)}\n`);
    return 0;
  }
  try {
    const args = parseFlags(rest, cmd.flags);
    return await cmd.run(args);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`tscaffe ${name}: ${e.message}\nusage: tscaffe ${name} ${cmd.usage}\n`);
      return 1;
    }
    throw e;
  }
}
