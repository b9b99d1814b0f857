// The registry of subcommands, by Caffe's tool names. Each command lives in its own module; add one import and one
// entry per command.
import type { Command } from './command.js';

export const commands: Record<string, Command> = {
};
