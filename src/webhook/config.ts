import { z } from 'zod';
import {
  MAX_IMPERSONATION_LIFETIME_SECONDS,
  MIN_IMPERSONATION_LIFETIME_SECONDS,
  parseProvider,
  projectIdSchema,
} from '../credentials/credential-config.js';
import { environmentProblems, environmentSchema, parseEnvironment } from '../config/config.js';
import { IdbridgeError, isIdbridgeError } from '../errors.js';
import type { LogLevel } from '../log/logger.js';
import {
  MAX_TOKEN_EXPIRATION_SECONDS,
  MIN_TOKEN_EXPIRATION_SECONDS,
  normalizePrefix,
  parseTokenUrl,
  type InjectionDefaults,
} from './annotations.js';
import { AWS_REGION, TENANT } from './clouds.js';
import { AZURE_DEFAULT_AUTHORITY_HOST } from './conventions.js';
import { METADATA_SERVER_MODES, type MetadataServerSettings } from './metadata-server.js';
import type { MutationSettings } from './pod-mutation.js';
import type { TlsMinVersion } from './tls.js';

/** Where the Deployment mounts the serving certificate's Secret. */
export const DEFAULT_TLS_DIR = '/etc/idbridge-webhook/tls';

/** `idbridge webhook`'s environment; every variable has a flag of the same name (see the CLI). */
export const webhookEnvironmentSchema = z.object({
  IDBRIDGE_WEBHOOK_PORT: z.coerce
    .number()
    .int()
    .min(0)
    .max(65535)
    .default(9443)
    .describe('HTTPS listen port'),
  IDBRIDGE_WEBHOOK_HOST: z.string().default('0.0.0.0').describe('HTTPS listen address'),
  IDBRIDGE_WEBHOOK_TLS_CERT_FILE: z
    .string()
    .default(`${DEFAULT_TLS_DIR}/tls.crt`)
    .describe(
      'serving certificate; re-read on file events and every `--tls-reload-interval` seconds; a new pair is used only if it is valid and matches',
    ),
  IDBRIDGE_WEBHOOK_TLS_KEY_FILE: z
    .string()
    .default(`${DEFAULT_TLS_DIR}/tls.key`)
    .describe('serving key, re-read with the certificate'),
  IDBRIDGE_WEBHOOK_TLS_MIN_VERSION: z
    .enum(['TLSv1.2', 'TLSv1.3'], { error: 'must be TLSv1.2 or TLSv1.3' })
    .default('TLSv1.2')
    .describe('lowest TLS version accepted: `TLSv1.2` or `TLSv1.3`'),
  IDBRIDGE_WEBHOOK_TLS_RELOAD_INTERVAL: z.coerce
    .number()
    .min(0.05, 'must be at least 0.05 seconds')
    .max(86_400)
    .default(60)
    .describe('seconds between re-reads of the certificate files, besides file events'),
  IDBRIDGE_WEBHOOK_KUBECONFIG: z
    .string()
    .optional()
    .meta({ description: 'where ServiceAccounts are read', defaultText: 'in-cluster' }),
  IDBRIDGE_WEBHOOK_ANNOTATION_PREFIX: z
    .string()
    .regex(
      /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\/?$/,
      'must be a DNS subdomain such as cloud.google.com',
    )
    .default('cloud.google.com/')
    .describe('prefix of the GCP-webhook-compatible annotations'),
  IDBRIDGE_WEBHOOK_DEFAULT_PROVIDER: z
    .string()
    .optional()
    .describe('provider for ServiceAccounts that name none (see the annotation table)'),
  IDBRIDGE_WEBHOOK_DEFAULT_AUDIENCE: z
    .string()
    .regex(/^[\x21-\x7e]{1,256}$/, 'must be 1-256 printable characters without spaces')
    .optional()
    .describe('projected token audience when none is annotated (see the annotation table)'),
  IDBRIDGE_WEBHOOK_TOKEN_EXPIRATION: z.coerce
    .number()
    .int()
    .min(MIN_TOKEN_EXPIRATION_SECONDS)
    .max(MAX_TOKEN_EXPIRATION_SECONDS)
    .default(86_400)
    .describe('projected token lifetime, seconds'),
  IDBRIDGE_WEBHOOK_TOKEN_LIFETIME: z.coerce
    .number()
    .int()
    .min(MIN_IMPERSONATION_LIFETIME_SECONDS)
    .max(MAX_IMPERSONATION_LIFETIME_SECONDS)
    .default(3600)
    .describe('impersonated token lifetime, seconds'),
  IDBRIDGE_WEBHOOK_TOKEN_URL: z.string().optional().describe('cluster-wide broker `token_url`'),
  IDBRIDGE_WEBHOOK_DEFAULT_PROJECT: projectIdSchema
    .optional()
    .describe(
      "project of ServiceAccounts that name none and whose Google service account (if any) does not give one: `GOOGLE_CLOUD_PROJECT` and the metadata server sidecar's `--project-id` (a direct-access ServiceAccount's sidecar needs one)",
    ),
  IDBRIDGE_WEBHOOK_DEFAULT_REGION: z
    .string()
    .regex(/^[a-z]+-[a-z]+\d+$/, 'must be a Google Cloud region such as europe-west1')
    .optional()
    .describe('`CLOUDSDK_COMPUTE_REGION` in mutated containers'),
  IDBRIDGE_WEBHOOK_AWS_REGION: z
    .string()
    .regex(AWS_REGION, 'must be an AWS region such as eu-west-1')
    .optional()
    .describe(
      "`AWS_REGION` and `AWS_DEFAULT_REGION` in containers of pods with an AWS role (as the AWS webhook's `--aws-default-region`)",
    ),
  IDBRIDGE_WEBHOOK_AZURE_TENANT_ID: z
    .string()
    .regex(TENANT, 'must be a tenant id (a GUID) or a domain such as contoso.onmicrosoft.com')
    .optional()
    .describe(
      "`AZURE_TENANT_ID` for ServiceAccounts without `azure.workload.identity/tenant-id` (as azure-workload-identity's `AZURE_TENANT_ID`)",
    ),
  IDBRIDGE_WEBHOOK_AZURE_AUTHORITY_HOST: z
    .url({
      protocol: /^https$/,
      error: 'must be an https URL such as https://login.microsoftonline.com/',
    })
    .refine(
      (url) => url.endsWith('/'),
      'must end with "/", e.g. https://login.microsoftonline.com/',
    )
    .default(AZURE_DEFAULT_AUTHORITY_HOST)
    .describe(
      '`AZURE_AUTHORITY_HOST` when no broker is named (a broker sets `https://BROKER/azure/` instead)',
    ),
  IDBRIDGE_WEBHOOK_FILE_MODE: z
    .string()
    .regex(/^0?[0-7]{3}$/, 'must be an octal mode such as 0644')
    .default('0644')
    .describe('token and configuration file mode'),
  IDBRIDGE_WEBHOOK_OVERWRITE_ENV: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .default('false')
    .describe('replace variables containers already set'),
  IDBRIDGE_WEBHOOK_MISSING_SERVICE_ACCOUNT: z
    .enum(['admit', 'deny'], { error: 'must be admit or deny' })
    .default('admit')
    .describe(
      '`admit` (unmutated, with a warning) or `deny` a pod whose ServiceAccount does not exist (see below: a real cluster rarely gets here)',
    ),
  IDBRIDGE_WEBHOOK_LOOKUP_TIMEOUT: z.coerce
    .number()
    .int()
    .min(100)
    .max(30_000)
    .default(3000)
    .describe("ms for a live ServiceAccount GET (below the webhook's `timeoutSeconds`)"),
  IDBRIDGE_WEBHOOK_METADATA_SERVER: z
    .enum(METADATA_SERVER_MODES, { error: 'must be always, annotated, never or node' })
    .default('annotated')
    .describe(
      'inject the metadata server sidecar: `always`, `annotated` (ServiceAccount or pod `idbridge.dev/metadata-server: "true"`), `never`, or `node` (point pods at the node-mode DaemonSet)',
    ),
  IDBRIDGE_WEBHOOK_METADATA_SERVER_IMAGE: z
    .string()
    .regex(
      /^[\x21-\x7e]{1,512}$/,
      'must be a container image reference such as idbridge/webhook:0.1.0',
    )
    .optional()
    .describe(
      "image of the injected metadata server sidecar (the webhook's own image in the kustomize base)",
    ),
  IDBRIDGE_LOG_LEVEL: environmentSchema.shape.IDBRIDGE_LOG_LEVEL,
  IDBRIDGE_SHUTDOWN_TIMEOUT_MS: environmentSchema.shape.IDBRIDGE_SHUTDOWN_TIMEOUT_MS,
});

export type WebhookEnvironment = z.input<typeof webhookEnvironmentSchema>;

export interface WebhookConfig {
  host: string;
  port: number;
  tls: { certFile: string; keyFile: string; minVersion: TlsMinVersion; reloadIntervalMs: number };
  /** Absent: in-cluster configuration (the pod's ServiceAccount). */
  kubeconfig?: string;
  defaults: InjectionDefaults;
  mutation: MutationSettings;
  missingServiceAccount: 'admit' | 'deny';
  lookupTimeoutMs: number;
  /** Which pods get `idbridge metadata-server`, and the sidecar's image. */
  metadataServer: MetadataServerSettings;
  logLevel: LogLevel;
  /** Drain deadline after SIGTERM, as for serve. */
  shutdownTimeoutMs: number;
}

/** Parses the webhook's configuration once, at startup; flags (as variable names) override the environment. */
export function loadWebhookConfig(
  env: Record<string, string | undefined>,
  overrides: Partial<Record<keyof WebhookEnvironment, string>> = {},
): WebhookConfig {
  const parsed = parseEnvironment(webhookEnvironmentSchema, env, overrides);
  const problems = parsed.success ? [] : environmentProblems(parsed.error);
  const e = parsed.data;

  let provider;
  let brokerUrl: string | undefined;
  if (e?.IDBRIDGE_WEBHOOK_DEFAULT_PROVIDER) {
    try {
      provider = parseProvider(e.IDBRIDGE_WEBHOOK_DEFAULT_PROVIDER);
    } catch (err) {
      if (!isIdbridgeError(err)) throw err;
      problems.push(`IDBRIDGE_WEBHOOK_DEFAULT_PROVIDER: ${err.message}`);
    }
  }
  if (e?.IDBRIDGE_WEBHOOK_TOKEN_URL) {
    const tokenUrl = parseTokenUrl(e.IDBRIDGE_WEBHOOK_TOKEN_URL);
    if ('problem' in tokenUrl)
      problems.push(
        `IDBRIDGE_WEBHOOK_TOKEN_URL: ${tokenUrl.problem}, e.g. https://broker.example.com/v1/token`,
      );
    else brokerUrl = tokenUrl.base;
  }
  if (
    e?.IDBRIDGE_WEBHOOK_METADATA_SERVER === 'always' &&
    !e.IDBRIDGE_WEBHOOK_METADATA_SERVER_IMAGE
  ) {
    problems.push(
      "IDBRIDGE_WEBHOOK_METADATA_SERVER=always injects a sidecar into every pod: set IDBRIDGE_WEBHOOK_METADATA_SERVER_IMAGE (--metadata-server-image) to the webhook's own image",
    );
  }
  if (problems.length > 0 || !e)
    throw new IdbridgeError(
      'invalid_request',
      `invalid webhook configuration: ${problems.join('; ')}`,
    );

  return {
    host: e.IDBRIDGE_WEBHOOK_HOST,
    port: e.IDBRIDGE_WEBHOOK_PORT,
    tls: {
      certFile: e.IDBRIDGE_WEBHOOK_TLS_CERT_FILE,
      keyFile: e.IDBRIDGE_WEBHOOK_TLS_KEY_FILE,
      minVersion: e.IDBRIDGE_WEBHOOK_TLS_MIN_VERSION,
      reloadIntervalMs: Math.round(e.IDBRIDGE_WEBHOOK_TLS_RELOAD_INTERVAL * 1000),
    },
    ...(e.IDBRIDGE_WEBHOOK_KUBECONFIG ? { kubeconfig: e.IDBRIDGE_WEBHOOK_KUBECONFIG } : {}),
    defaults: {
      annotationPrefix: normalizePrefix(e.IDBRIDGE_WEBHOOK_ANNOTATION_PREFIX),
      ...(provider ? { provider } : {}),
      ...(e.IDBRIDGE_WEBHOOK_DEFAULT_AUDIENCE
        ? { audience: e.IDBRIDGE_WEBHOOK_DEFAULT_AUDIENCE }
        : {}),
      tokenExpirationSeconds: e.IDBRIDGE_WEBHOOK_TOKEN_EXPIRATION,
      tokenLifetimeSeconds: e.IDBRIDGE_WEBHOOK_TOKEN_LIFETIME,
      ...(brokerUrl ? { brokerUrl } : {}),
      ...(e.IDBRIDGE_WEBHOOK_DEFAULT_PROJECT
        ? { project: e.IDBRIDGE_WEBHOOK_DEFAULT_PROJECT }
        : {}),
      ...(e.IDBRIDGE_WEBHOOK_DEFAULT_REGION ? { region: e.IDBRIDGE_WEBHOOK_DEFAULT_REGION } : {}),
      ...(e.IDBRIDGE_WEBHOOK_AWS_REGION ? { awsRegion: e.IDBRIDGE_WEBHOOK_AWS_REGION } : {}),
      ...(e.IDBRIDGE_WEBHOOK_AZURE_TENANT_ID
        ? { azureTenantId: e.IDBRIDGE_WEBHOOK_AZURE_TENANT_ID }
        : {}),
      azureAuthorityHost: e.IDBRIDGE_WEBHOOK_AZURE_AUTHORITY_HOST,
    },
    mutation: {
      annotationPrefix: normalizePrefix(e.IDBRIDGE_WEBHOOK_ANNOTATION_PREFIX),
      fileMode: parseInt(e.IDBRIDGE_WEBHOOK_FILE_MODE, 8),
      overwriteEnv: e.IDBRIDGE_WEBHOOK_OVERWRITE_ENV === 'true',
    },
    missingServiceAccount: e.IDBRIDGE_WEBHOOK_MISSING_SERVICE_ACCOUNT,
    lookupTimeoutMs: e.IDBRIDGE_WEBHOOK_LOOKUP_TIMEOUT,
    metadataServer: {
      mode: e.IDBRIDGE_WEBHOOK_METADATA_SERVER,
      ...(e.IDBRIDGE_WEBHOOK_METADATA_SERVER_IMAGE
        ? { image: e.IDBRIDGE_WEBHOOK_METADATA_SERVER_IMAGE }
        : {}),
    },
    logLevel: e.IDBRIDGE_LOG_LEVEL,
    shutdownTimeoutMs: e.IDBRIDGE_SHUTDOWN_TIMEOUT_MS,
  };
}
