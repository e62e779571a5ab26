import { z } from 'zod';
import { environmentProblems, environmentSchema, parseEnvironment } from '../config/config.js';
import { projectIdSchema } from '../credentials/credential-config.js';
import { IdbridgeError } from '../errors.js';
import type { LogLevel } from '../log/logger.js';
import { loadNodeModeConfig, type NodeEnvironment, type NodeModeConfig } from './node-config.js';

/** `sidecar`: one pod, from its credential configuration; `node`: the DaemonSet, every pod of its node. */
export const METADATA_MODES = ['sidecar', 'node'] as const;
export type MetadataMode = (typeof METADATA_MODES)[number];

/** `idbridge metadata-server`'s environment; every variable has a flag (src/cli/commands/metadata-server.ts). */
export const metadataEnvironmentSchema = z.object({
  IDBRIDGE_METADATA_MODE: z
    .enum(METADATA_MODES, { error: 'must be sidecar or node' })
    .default('sidecar'),
  // Required in sidecar mode only (checked in loadMetadataConfig): node mode asks TokenRequest per pod.
  IDBRIDGE_METADATA_CREDENTIAL_CONFIG: z.string().min(1).optional(),
  IDBRIDGE_METADATA_HOST: z.string().min(1).default('127.0.0.1'),
  IDBRIDGE_METADATA_PORT: z.coerce.number().int().min(0).max(65535).default(988),
  IDBRIDGE_METADATA_PROJECT_ID: projectIdSchema.optional(),
  IDBRIDGE_METADATA_NUMERIC_PROJECT_ID: z
    .string()
    .regex(/^\d{1,20}$/, 'must be digits only (the project number)')
    .optional(),
  IDBRIDGE_METADATA_SERVICE_ACCOUNT: z
    .string()
    .regex(
      /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\/[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/,
      'must be NAMESPACE/NAME of a Kubernetes ServiceAccount',
    )
    .optional(),
  IDBRIDGE_METADATA_CLUSTER_NAME: z
    .string()
    .regex(/^[\x21-\x7e]{1,128}$/, 'must be 1-128 printable characters')
    .optional(),
  IDBRIDGE_METADATA_CLUSTER_LOCATION: z
    .string()
    .regex(/^[\x21-\x7e]{1,128}$/, 'must be 1-128 printable characters')
    .optional(),
  /** Also listen on 169.254.169.254:80 (the link-local variant; the address must be on the pod's loopback). */
  IDBRIDGE_METADATA_LINK_LOCAL: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .default('false'),
  IDBRIDGE_METADATA_LINK_LOCAL_ADDRESS: z
    .string()
    .regex(/^[^\s:]+:\d{1,5}$/, 'must be ADDRESS:PORT')
    .default('169.254.169.254:80'),
  IDBRIDGE_METADATA_UPSTREAM_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(100)
    .max(60_000)
    .default(10_000),
  IDBRIDGE_METADATA_UPSTREAM_ATTEMPTS: z.coerce.number().int().min(1).max(5).default(3),
  IDBRIDGE_METADATA_CACHE_ENTRIES: z.coerce.number().int().min(1).max(100_000).default(1_000),
  IDBRIDGE_LOG_LEVEL: environmentSchema.shape.IDBRIDGE_LOG_LEVEL,
  IDBRIDGE_SHUTDOWN_TIMEOUT_MS: environmentSchema.shape.IDBRIDGE_SHUTDOWN_TIMEOUT_MS,
});

export type MetadataEnvironment = z.input<typeof metadataEnvironmentSchema>;

export interface MetadataServerConfig {
  /** Sidecar: the credential configuration; node: the node-mode settings (src/metadata/node-config.ts). */
  source:
    { mode: 'sidecar'; credentialConfigPath: string } | { mode: 'node'; node: NodeModeConfig };
  host: string;
  port: number;
  /** Set by --project-id; else derived from the Google service account's email (see sidecar-identity.ts). */
  projectId?: string;
  numericProjectId?: string;
  /** NAMESPACE/NAME; else read from the projected token's claims. */
  serviceAccount?: { namespace: string; name: string };
  attributes: Record<string, string>;
  /** Second listener for clients that hard-code 169.254.169.254. */
  linkLocal?: { host: string; port: number };
  upstreamTimeoutMs: number;
  upstreamAttempts: number;
  cacheEntries: number;
  logLevel: LogLevel;
  shutdownTimeoutMs: number;
}

/** Parses the configuration once at startup; flags (under the variables' names) override the environment. */
export function loadMetadataConfig(
  env: Record<string, string | undefined>,
  overrides: Partial<Record<keyof MetadataEnvironment | keyof NodeEnvironment, string>> = {},
  flagNames: Readonly<Record<string, string>> = {},
): MetadataServerConfig {
  const parsed = parseEnvironment(metadataEnvironmentSchema, env, overrides);
  const invalid = (problems: string[]) =>
    new IdbridgeError(
      'invalid_request',
      `invalid metadata-server configuration: ${problems.join('; ')}`,
    );
  if (!parsed.success) throw invalid(environmentProblems(parsed.error, flagNames));
  const e = parsed.data;
  const named = (variable: string) =>
    flagNames[variable] ? `${flagNames[variable]} (${variable})` : variable;
  let source: MetadataServerConfig['source'];
  if (e.IDBRIDGE_METADATA_MODE === 'sidecar') {
    if (!e.IDBRIDGE_METADATA_CREDENTIAL_CONFIG)
      throw invalid([
        `${named('IDBRIDGE_METADATA_CREDENTIAL_CONFIG')}: the credential configuration file is required (the external_account JSON the webhook mounts)`,
      ]);
    source = { mode: 'sidecar', credentialConfigPath: e.IDBRIDGE_METADATA_CREDENTIAL_CONFIG };
  } else {
    const problems: string[] = [];
    // Host networking: the address would go on the node's loopback, and node mode answers on the node's address already.
    if (e.IDBRIDGE_METADATA_LINK_LOCAL === 'true')
      problems.push(
        `${named('IDBRIDGE_METADATA_LINK_LOCAL')}: link-local is a sidecar variant; node mode listens on the node's address (--host)`,
      );
    if (e.IDBRIDGE_METADATA_CREDENTIAL_CONFIG)
      problems.push(
        `${named('IDBRIDGE_METADATA_CREDENTIAL_CONFIG')}: node mode gets each pod's token with TokenRequest; a credential configuration is for sidecar mode`,
      );
    // Direct-access pods have no Google service account email to read the project from.
    if (!e.IDBRIDGE_METADATA_PROJECT_ID)
      problems.push(
        `${named('IDBRIDGE_METADATA_PROJECT_ID')}: node mode needs the project id (the project of the workload identity pool) for project/project-id`,
      );
    if (problems.length > 0) throw invalid(problems);
    source = { mode: 'node', node: loadNodeModeConfig(env, overrides) };
  }
  const [namespace, name] = e.IDBRIDGE_METADATA_SERVICE_ACCOUNT?.split('/') ?? [];
  const [linkHost, linkPort] = e.IDBRIDGE_METADATA_LINK_LOCAL_ADDRESS.split(':');
  return {
    source,
    host: e.IDBRIDGE_METADATA_HOST,
    port: e.IDBRIDGE_METADATA_PORT,
    ...(e.IDBRIDGE_METADATA_PROJECT_ID ? { projectId: e.IDBRIDGE_METADATA_PROJECT_ID } : {}),
    ...(e.IDBRIDGE_METADATA_NUMERIC_PROJECT_ID
      ? { numericProjectId: e.IDBRIDGE_METADATA_NUMERIC_PROJECT_ID }
      : {}),
    ...(namespace && name ? { serviceAccount: { namespace, name } } : {}),
    attributes: {
      ...(e.IDBRIDGE_METADATA_CLUSTER_NAME
        ? { 'cluster-name': e.IDBRIDGE_METADATA_CLUSTER_NAME }
        : {}),
      ...(e.IDBRIDGE_METADATA_CLUSTER_LOCATION
        ? { 'cluster-location': e.IDBRIDGE_METADATA_CLUSTER_LOCATION }
        : {}),
    },
    ...(e.IDBRIDGE_METADATA_LINK_LOCAL === 'true'
      ? { linkLocal: { host: linkHost!, port: Number(linkPort) } }
      : {}),
    upstreamTimeoutMs: e.IDBRIDGE_METADATA_UPSTREAM_TIMEOUT_MS,
    upstreamAttempts: e.IDBRIDGE_METADATA_UPSTREAM_ATTEMPTS,
    cacheEntries: e.IDBRIDGE_METADATA_CACHE_ENTRIES,
    logLevel: e.IDBRIDGE_LOG_LEVEL,
    shutdownTimeoutMs: e.IDBRIDGE_SHUTDOWN_TIMEOUT_MS,
  };
}
