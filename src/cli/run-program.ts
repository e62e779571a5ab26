import { CommanderError, type Command } from 'commander';
import { isIdbridgeError } from '../errors.js';

/** Parses and runs `program`; resolves to the process exit code. Errors go to stderr as one line. */
export async function runProgram(program: Command, argv: string[]): Promise<number> {
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return usageError(err);
    const message = isIdbridgeError(err) || err instanceof Error ? err.message : String(err);
    process.stderr.write(`idbridge: ${message}\n`);
    return isIdbridgeError(err) && err.status < 500 ? 2 : 1;
  }
}

/** Help and --version exit 0 as commander says; every other commander error is a usage error: one line, exit 2. */
function usageError(err: CommanderError): number {
  if (
    err.exitCode === 0 ||
    err.code === 'commander.helpDisplayed' ||
    err.code === 'commander.version'
  )
    return 0;
  // With no command at all commander has already printed the help.
  if (err.code === 'commander.help') return 2;
  process.stderr.write(
    `idbridge: ${err.message.replace(/^error: /, '')} (run idbridge --help for usage)\n`,
  );
  return 2;
}
