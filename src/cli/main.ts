import { Command, CommanderError } from 'commander';
import { isIdbridgeError } from '../errors.js';
import { runServe } from '../server/serve.js';

function program(): Command {
  const root = new Command('idbridge')
    .description('Keyless Google Workload Identity Federation for Kubernetes clusters outside Google Cloud')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  root
    .command('serve')
    .description('run the issuer and registration API (and broker) in one process on a local store')
    .option('--port <port>', 'listen port (env PORT, default 8787)')
    .option('--host <address>', 'listen address (env HOST, default 127.0.0.1)')
    .option('--store <location>', 'file:DIR, memory: or gcs://BUCKET/PREFIX (env IDBRIDGE_STORE, default file:./data)')
    .option('--public-url <url>', 'external base URL of the issuer (env IDBRIDGE_PUBLIC_URL)')
    .action(async (flags) => {
      process.exitCode = await runServe(process.env, flags);
    });

  return root;
}

/** Runs the CLI; resolves to the process exit code. Errors go to stderr as one line. */
export async function main(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    const message = isIdbridgeError(err) || err instanceof Error ? err.message : String(err);
    process.stderr.write(`idbridge: ${message}\n`);
    return isIdbridgeError(err) && err.status < 500 ? 2 : 1;
  }
}
