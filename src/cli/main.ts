import { Command } from 'commander';
import { VERSION } from '../version.js';
import { runProgram } from './run-program.js';
import { registerClusters } from './commands/clusters.js';
import { registerCredConfig } from './commands/cred-config.js';
import { registerDoctor } from './commands/doctor.js';
import { registerGcpSetup } from './commands/gcp-setup.js';
import { registerMetadataServer } from './commands/metadata-server.js';
import { registerServe } from './commands/serve.js';
import { registerSetup } from './commands/setup.js';
import { registerSync } from './commands/sync.js';
import { registerWhoami } from './commands/whoami.js';
import { registerWebhook } from './commands/webhook.js';

/** Each command lives in ./commands/<name>.ts and registers itself here, one line each. */
export function program(): Command {
  const root = new Command('idbridge')
    .description(
      'Keyless Google Workload Identity Federation for Kubernetes clusters outside Google Cloud',
    )
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
  registerSetup(root);
  registerSync(root);
  registerWebhook(root);
  registerMetadataServer(root);
  return root;
}

/** Runs the CLI; resolves to the process exit code. Errors go to stderr as one line. */
export function main(argv: string[]): Promise<number> {
  return runProgram(program(), argv);
}
