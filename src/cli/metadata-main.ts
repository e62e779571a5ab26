import { Command } from 'commander';
import { registerMetadataServer } from './commands/metadata-server.js';
import { runProgram } from './run-program.js';

/**
 * `idbridge metadata-server` alone (bin/idbridge.js picks this entry for it): the sidecar runs in
 * every pod, so none of the other commands' modules (hono, the registry, the Kubernetes client) load.
 */
export function main(argv: string[]): Promise<number> {
  const root = new Command('idbridge').configureOutput({ outputError: () => {} }).exitOverride();
  registerMetadataServer(root);
  return runProgram(root, argv);
}
