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

  root
    .command('sync')
    .description("publish this cluster's service-account issuer documents (discovery and JWKS) to idbridge, and keep them current")
    .option('--api <url>', 'base URL of the registration API, e.g. https://idbridge.example.com')
    .option('--cluster <id>', 'the cluster id registered with idbridge')
    .option('--token-file <path>', "projected ServiceAccount token whose audience is the API's IDBRIDGE_SYNC_AUDIENCE (read again for every push)")
    .option('--kubeconfig <path>', 'kubeconfig to reach the kube-apiserver (env KUBECONFIG; default: the in-cluster ServiceAccount)')
    .option('--once', 'sync once and exit (a CronJob)')
    .option('--interval <duration>', 'sync every D, with jitter, until stopped (a Deployment); default 5m')
    .option('--target <gcs://BUCKET/PREFIX>', 'write the public documents straight into a bucket instead of pushing to --api')
    .option('--issuer <url>', "the cluster's registered issuer; checked against the kube-apiserver before pushing (default with --target: the bucket's public URL)")
    .option('--attempts <n>', 'tries per step before giving up (default 5)')
    .option('--backoff <duration>', 'first retry delay, doubled per retry up to 60s, with jitter (default 1s)')
    .addHelpText('after', '\nExit codes: 0 ok, 2 configuration, 3 the cluster\'s documents cannot be published, 4 refused (credentials, registration, RBAC), 5 unreachable after retries.')
    .action(async (flags) => {
      const stop = new AbortController();
      process.once('SIGTERM', () => stop.abort());
      process.once('SIGINT', () => stop.abort());
      // Loaded only for sync: the Kubernetes client is large and serve does not need it.
      const { runSyncCommand } = await import('../sync/command.js');
      process.exitCode = await runSyncCommand(process.env, flags, {
        stdout: (chunk) => process.stdout.write(chunk),
        stderr: (line) => process.stderr.write(`${line}\n`),
        signal: stop.signal,
      });
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
