import type { Command } from 'commander';
import { loadWebhookConfig, type WebhookEnvironment } from '../../webhook/config.js';
import { createLogger } from '../../log/logger.js';
import { bufferedWriter } from '../../hosts/node/stdout-sink.js';
import { untilSignal } from '../../hosts/node/until-signal.js';

/** Each flag overrides the environment variable of the same meaning. */
const FLAGS: Array<[flag: string, variable: keyof WebhookEnvironment, help: string]> = [
  ['--port <port>', 'IDBRIDGE_WEBHOOK_PORT', 'HTTPS listen port (default 9443)'],
  ['--host <address>', 'IDBRIDGE_WEBHOOK_HOST', 'listen address (default 0.0.0.0)'],
  [
    '--tls-cert-file <path>',
    'IDBRIDGE_WEBHOOK_TLS_CERT_FILE',
    'serving certificate (PEM), reloaded when it changes (default /etc/idbridge-webhook/tls/tls.crt)',
  ],
  [
    '--tls-key-file <path>',
    'IDBRIDGE_WEBHOOK_TLS_KEY_FILE',
    'serving key (PEM) (default /etc/idbridge-webhook/tls/tls.key)',
  ],
  [
    '--tls-min-version <version>',
    'IDBRIDGE_WEBHOOK_TLS_MIN_VERSION',
    'TLSv1.2 or TLSv1.3 (default TLSv1.2)',
  ],
  [
    '--tls-reload-interval <seconds>',
    'IDBRIDGE_WEBHOOK_TLS_RELOAD_INTERVAL',
    'how often the certificate files are re-read besides file events (default 60)',
  ],
  [
    '--kubeconfig <path>',
    'IDBRIDGE_WEBHOOK_KUBECONFIG',
    'kubeconfig file (default: in-cluster configuration)',
  ],
  [
    '--annotation-prefix <domain>',
    'IDBRIDGE_WEBHOOK_ANNOTATION_PREFIX',
    'prefix of the GCP-webhook-compatible annotations (default cloud.google.com/)',
  ],
  [
    '--default-provider <provider>',
    'IDBRIDGE_WEBHOOK_DEFAULT_PROVIDER',
    'workload identity provider for ServiceAccounts that name none (iam.gke.io/gcp-service-account)',
  ],
  [
    '--default-audience <audience>',
    'IDBRIDGE_WEBHOOK_DEFAULT_AUDIENCE',
    'token audience when none is annotated',
  ],
  [
    '--token-expiration <seconds>',
    'IDBRIDGE_WEBHOOK_TOKEN_EXPIRATION',
    'projected token lifetime when none is annotated (default 86400)',
  ],
  [
    '--token-lifetime <seconds>',
    'IDBRIDGE_WEBHOOK_TOKEN_LIFETIME',
    'impersonated access token lifetime (default 3600)',
  ],
  [
    '--token-url <url>',
    'IDBRIDGE_WEBHOOK_TOKEN_URL',
    'broker token_url (https://BROKER/v1/token) for clusters that cannot reach Google',
  ],
  [
    '--default-project <id>',
    'IDBRIDGE_WEBHOOK_DEFAULT_PROJECT',
    "project for ServiceAccounts that name none (GOOGLE_CLOUD_PROJECT, and the metadata server sidecar's --project-id)",
  ],
  [
    '--default-region <region>',
    'IDBRIDGE_WEBHOOK_DEFAULT_REGION',
    'sets CLOUDSDK_COMPUTE_REGION in mutated containers',
  ],
  [
    '--aws-region <region>',
    'IDBRIDGE_WEBHOOK_AWS_REGION',
    'sets AWS_REGION and AWS_DEFAULT_REGION in containers of pods with an AWS role',
  ],
  [
    '--azure-tenant-id <tenant>',
    'IDBRIDGE_WEBHOOK_AZURE_TENANT_ID',
    'AZURE_TENANT_ID for ServiceAccounts without azure.workload.identity/tenant-id',
  ],
  [
    '--azure-authority-host <url>',
    'IDBRIDGE_WEBHOOK_AZURE_AUTHORITY_HOST',
    'AZURE_AUTHORITY_HOST when no broker is named (default https://login.microsoftonline.com/)',
  ],
  [
    '--file-mode <mode>',
    'IDBRIDGE_WEBHOOK_FILE_MODE',
    'mode of the token and configuration files (default 0644: readable by non-root users)',
  ],
  [
    '--overwrite-env <bool>',
    'IDBRIDGE_WEBHOOK_OVERWRITE_ENV',
    'replace environment variables a container already sets (default false)',
  ],
  [
    '--missing-service-account <action>',
    'IDBRIDGE_WEBHOOK_MISSING_SERVICE_ACCOUNT',
    'admit (unmutated, with a warning) or deny (default admit)',
  ],
  [
    '--lookup-timeout <ms>',
    'IDBRIDGE_WEBHOOK_LOOKUP_TIMEOUT',
    'timeout of a live ServiceAccount GET (default 3000)',
  ],
  [
    '--metadata-server <mode>',
    'IDBRIDGE_WEBHOOK_METADATA_SERVER',
    'metadata server for pods: always (sidecar), annotated (idbridge.dev/metadata-server), never, node (the DaemonSet) (default annotated)',
  ],
  [
    '--metadata-server-image <image>',
    'IDBRIDGE_WEBHOOK_METADATA_SERVER_IMAGE',
    "image of the metadata server sidecar: the webhook's own",
  ],
];

const optionKey = (flag: string) =>
  flag
    .replace(/^--/, '')
    .replace(/ .*$/, '')
    .replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

export function registerWebhook(program: Command): void {
  const command = program
    .command('webhook')
    .description(
      'run the mutating admission webhook that gives pods Workload Identity Federation credentials',
    );
  for (const [flag, , help] of FLAGS) command.option(flag, help);
  command.action(async (flags: Record<string, string | undefined>) => {
    const overrides: Partial<Record<keyof WebhookEnvironment, string>> = {};
    for (const [flag, variable] of FLAGS) {
      const value = flags[optionKey(flag)];
      if (value !== undefined) overrides[variable] = value;
    }
    const config = loadWebhookConfig(process.env, overrides);
    const out = bufferedWriter((chunk) => process.stdout.write(chunk));
    const logger = createLogger(out.write, { level: config.logLevel });
    // Loaded only for the webhook: the Kubernetes client is large and other commands do not need it.
    const { startWebhook } = await import('../../hosts/node/webhook.js');
    const running = await startWebhook(config, logger);
    process.exitCode = await untilSignal(running, logger, out.flush);
  });
}
