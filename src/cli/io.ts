import { CommanderError, InvalidArgumentError, type Command } from 'commander';
import { wantsColour } from '../report/render.js';

/** Where a command writes: results on stdout, diagnostics on stderr; colour decided once. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  colour: boolean;
}

export function processIo(): CliIo {
  return {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    colour: wantsColour(process.stdout, process.env),
  };
}

/**
 * Usage mistakes (unknown flag, missing argument) exit 2 like every other refusal, instead of
 * commander's 1, which idbridge keeps for warnings. Subcommands inherit this.
 */
export function usageErrorsExit2(command: Command): Command {
  return command.exitOverride((err) => {
    throw err.exitCode === 0 ? err : new CommanderError(2, err.code, err.message);
  });
}

/** commander argParser: a positive number of seconds. */
export function parseSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError('expected a positive number of seconds');
  return n;
}

/** commander argParser for repeatable flags: collects every occurrence. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
