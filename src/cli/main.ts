import { Command, CommanderError } from 'commander';
import { isIdbridgeError } from '../errors.js';
import { registerClusters } from './commands/clusters.js';
import { registerCredConfig } from './commands/cred-config.js';
import { registerDoctor } from './commands/doctor.js';
import { registerGcpSetup } from './commands/gcp-setup.js';
import { registerServe } from './commands/serve.js';
import { registerSync } from './commands/sync.js';
import { registerWhoami } from './commands/whoami.js';
import { registerWebhook } from './commands/webhook.js';

/** Each command lives in ./commands/<name>.ts and registers itself here, one line each. */
function program(): Command {
  const root = new Command('idbridge')
    .description('Keyless Google Workload Identity Federation for Kubernetes clusters outside Google Cloud')
    .showHelpAfterError('(run with --help for usage)')
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
    if (err instanceof CommanderError) return err.exitCode;
    const message = isIdbridgeError(err) || err instanceof Error ? err.message : String(err);
    process.stderr.write(`idbridge: ${message}\n`);
    return isIdbridgeError(err) && err.status < 500 ? 2 : 1;
  }
}
