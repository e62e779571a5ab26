import { Command, CommanderError } from 'commander';
import { isIdbridgeError } from '../errors.js';
import { VERSION } from '../version.js';
import { registerClusters } from './commands/clusters.js';
import { registerCredConfig } from './commands/cred-config.js';
import { registerDoctor } from './commands/doctor.js';
import { registerGcpSetup } from './commands/gcp-setup.js';
import { registerServe } from './commands/serve.js';
import { registerSync } from './commands/sync.js';
import { registerWhoami } from './commands/whoami.js';
import { registerWebhook } from './commands/webhook.js';

/** Each command lives in ./commands/<name>.ts and registers itself here, one line each. */
export function program(): Command {
  const root = new Command('idbridge')
    .description('Keyless Google Workload Identity Federation for Kubernetes clusters outside Google Cloud')
    .version(VERSION, '-V, --version', 'print the idbridge version (package.json) and exit')
    // Usage errors become one `idbridge: …` line in main(), not commander's two lines.
    .configureOutput({ outputError: () => {} })
    .exitOverride();
  registerServe(root);
  registerDoctor(root);
  registerWhoami(root);
  registerCredConfig(root);
  registerClusters(root);
  registerGcpSetup(root);
  registerSync(root);
  registerWebhook(root);
  return root;
}

/** Runs the CLI; resolves to the process exit code. Errors go to stderr as one line. */
export async function main(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv);
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
  if (err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
  // With no command at all commander has already printed the help.
  if (err.code === 'commander.help') return 2;
  process.stderr.write(`idbridge: ${err.message.replace(/^error: /, '')} (run idbridge --help for usage)\n`);
  return 2;
}
