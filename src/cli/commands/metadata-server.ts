import type { Command } from 'commander';
import type { MetadataEnvironment } from '../../metadata/config.js';
import { NODE_FLAGS, type NodeEnvironment } from '../../metadata/node-config.js';
import { usageErrorsExit2 } from '../io.js';

/** Each flag overrides the environment variable of the same meaning. */
const FLAGS: Array<
  [flag: string, variable: keyof MetadataEnvironment | keyof NodeEnvironment, help: string]
> = [
  [
    '--mode <mode>',
    'IDBRIDGE_METADATA_MODE',
    'sidecar (one pod, from its credential configuration) or node (the DaemonSet: every pod of this node, by source address) (default sidecar)',
  ],
  [
    '--credential-config <path>',
    'IDBRIDGE_METADATA_CREDENTIAL_CONFIG',
    'sidecar mode: the external_account credential configuration the webhook mounts (required)',
  ],
  [
    '--host <address>',
    'IDBRIDGE_METADATA_HOST',
    'listen address (default 127.0.0.1; ::1 on IPv6-only pods)',
  ],
  [
    '--port <port>',
    'IDBRIDGE_METADATA_PORT',
    "listen port (default 988, as GKE's metadata server)",
  ],
  [
    '--project-id <id>',
    'IDBRIDGE_METADATA_PROJECT_ID',
    "project/project-id (sidecar default: from the Google service account's email; required in node mode)",
  ],
  [
    '--numeric-project-id <n>',
    'IDBRIDGE_METADATA_NUMERIC_PROJECT_ID',
    "project/numeric-project-id (default: the provider's project number)",
  ],
  [
    '--service-account <ns/name>',
    'IDBRIDGE_METADATA_SERVICE_ACCOUNT',
    "the pod's Kubernetes ServiceAccount (default: from the projected token)",
  ],
  [
    '--cluster-name <name>',
    'IDBRIDGE_METADATA_CLUSTER_NAME',
    'instance/attributes/cluster-name (not served when unset)',
  ],
  [
    '--cluster-location <location>',
    'IDBRIDGE_METADATA_CLUSTER_LOCATION',
    'instance/attributes/cluster-location (not served when unset)',
  ],
  [
    '--link-local [bool]',
    'IDBRIDGE_METADATA_LINK_LOCAL',
    "sidecar mode: add 169.254.169.254 to the pod's loopback (`ip`, NET_ADMIN) and also listen there on port 80, for clients that hard-code it",
  ],
  [
    '--upstream-timeout <ms>',
    'IDBRIDGE_METADATA_UPSTREAM_TIMEOUT_MS',
    'each call to STS / IAM Credentials is abandoned after this long (default 10000)',
  ],
  ...NODE_FLAGS,
];

const optionKey = (flag: string) =>
  flag
    .replace(/^--/, '')
    .replace(/ .*$/, '')
    .replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

export function registerMetadataServer(program: Command): void {
  const command = usageErrorsExit2(
    program
      .command('metadata-server')
      .description(
        'serve the GKE metadata server API (/computeMetadata/v1) with Workload Identity Federation credentials: for this pod (sidecar mode) or for every pod of this node (--mode node)',
      ),
  );
  for (const [flag, , help] of FLAGS) command.option(flag, help);
  command.action(async (flags: Record<string, string | boolean | undefined>) => {
    const overrides: Partial<Record<keyof MetadataEnvironment | keyof NodeEnvironment, string>> =
      {};
    const flagNames: Record<string, string> = {};
    for (const [flag, variable] of FLAGS) {
      const value = flags[optionKey(flag)];
      flagNames[variable] = flag.replace(/ .*$/, '');
      // A bare `--link-local` (what the webhook injects) means true.
      if (value !== undefined) overrides[variable] = value === true ? 'true' : String(value);
    }
    // Loaded only here: the sidecar's start time and memory are a per-pod price.
    const { runMetadataServer } = await import('../../hosts/node/metadata-run.js');
    process.exitCode = await runMetadataServer(process.env, overrides, flagNames);
  });
}
