import type { Command } from 'commander';

export function registerSync(program: Command): void {
  program
    .command('sync')
    .description(
      "publish this cluster's service-account issuer documents (discovery and JWKS) to idbridge, and keep them current",
    )
    .option('--api <url>', 'base URL of the registration API, e.g. https://idbridge.example.com')
    .option('--cluster <id>', 'the cluster id registered with idbridge')
    .option(
      '--token-file <path>',
      "projected ServiceAccount token whose audience is the API's IDBRIDGE_SYNC_AUDIENCE (read again for every push)",
    )
    .option(
      '--kubeconfig <path>',
      'kubeconfig to reach the kube-apiserver (env KUBECONFIG; default: the in-cluster ServiceAccount)',
    )
    .option('--once', 'sync once and exit (a CronJob)')
    .option(
      '--interval <duration>',
      'sync every D, with jitter, until stopped (a Deployment); default 5m',
    )
    .option(
      '--target <location>',
      "instead of pushing to --api: gcs://BUCKET/PREFIX writes the public documents into a bucket; wif-provider://projects/NUM/locations/global/workloadIdentityPools/POOL/providers/PROV keeps the provider's uploaded keys current (no public issuer; Application Default Credentials)",
    )
    .option(
      '--issuer <url>',
      "the cluster's registered issuer; checked against the kube-apiserver before pushing (default with --target: the bucket's public URL)",
    )
    .option('--attempts <n>', 'tries per step before giving up (default 5)')
    .option(
      '--backoff <duration>',
      'first retry delay, doubled per retry up to 60s, with jitter (default 1s)',
    )
    .addHelpText(
      'after',
      "\nExit codes: 0 ok, 2 configuration, 3 the cluster's documents cannot be published, 4 refused (credentials, registration, RBAC), 5 unreachable after retries.",
    )
    .action(async (flags) => {
      const stop = new AbortController();
      process.once('SIGTERM', () => stop.abort());
      process.once('SIGINT', () => stop.abort());
      // Loaded only for sync: the Kubernetes client is large and serve does not need it.
      const { runSyncCommand } = await import('../../sync/command.js');
      process.exitCode = await runSyncCommand(process.env, flags, {
        stdout: (chunk) => process.stdout.write(chunk),
        stderr: (line) => process.stderr.write(`${line}\n`),
        signal: stop.signal,
      });
    });
}
