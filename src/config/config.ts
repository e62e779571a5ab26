import { z } from 'zod';
import { IdbridgeError } from '../errors.js';
import { describeIssue, zodDetails } from '../errors/zod.js';

/** Admin tokens travel as bearer tokens; hono's bearer check accepts this alphabet. */
const ADMIN_TOKEN = /^[A-Za-z0-9._~+/-]{16,512}=*$/;

/** An absolute http(s) base URL without credentials, query or fragment; a trailing slash is dropped. */
export const baseUrl = (name: string) =>
  z
    .string()
    .trim()
    .transform((value) => value.replace(/\/+$/, ''))
    .superRefine((value, ctx) => {
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        ctx.addIssue({
          code: 'custom',
          message: `${name} must be an absolute http(s) URL, e.g. https://issuer.example.com`,
        });
        return;
      }
      if (url.protocol !== 'https:' && url.protocol !== 'http:')
        ctx.addIssue({
          code: 'custom',
          message: `${name} must use https (http only for local testing)`,
        });
      if (url.username || url.password)
        ctx.addIssue({ code: 'custom', message: `${name} must not contain credentials` });
      if (url.search || url.hash)
        ctx.addIssue({
          code: 'custom',
          message: `${name} must not have a query or fragment: it is the base of issuer URLs`,
        });
    });

const FLEET_PROVIDER =
  /^projects\/\d{1,20}\/locations\/global\/workloadIdentityPools\/[a-z0-9-]{4,32}\/providers\/[a-z0-9-]{4,32}$/;
const FLEET_SIGNER =
  /^(?:local|gcpkms:\/\/projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/]+\/cryptoKeyVersions\/\d+)$/;

/** The environment every host reads (DESIGN.md, "Configuration"); CLI flags override it. */
export const environmentSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8787).describe('listen port'),
  HOST: z
    .string()
    .default('127.0.0.1')
    .describe(
      'listen address. Loopback by default so a laptop never exposes the admin API by accident; use `0.0.0.0` on a VM or in a container.',
    ),
  IDBRIDGE_PUBLIC_URL: baseUrl('IDBRIDGE_PUBLIC_URL').optional().meta({
    description:
      'external base URL; cluster `c` has issuer `{PUBLIC_URL}/c`. A trailing slash is dropped.',
    defaultText: '`http://127.0.0.1:{PORT}`; `https://…` when TLS is on',
  }),
  IDBRIDGE_ADMIN_TOKEN: z
    .string()
    .regex(ADMIN_TOKEN, 'IDBRIDGE_ADMIN_TOKEN must be 16-512 characters of A-Z a-z 0-9 . _ ~ + / -')
    .optional()
    .meta({
      description: 'admin bearer token, 16–512 characters of `A-Za-z0-9._~+/-`',
      defaultText:
        '`serve`: generated on first start, kept in `DIR/admin-token` (mode 0600), printed once to stderr',
    }),
  IDBRIDGE_STORE: z
    .string()
    .default('file:./data')
    .describe('`file:DIR`, `memory:`, `gcs://BUCKET/PREFIX`'),
  IDBRIDGE_SYNC_AUDIENCE: z
    .string()
    .min(1)
    .max(512)
    .optional()
    .meta({ description: 'audience a sync token must carry', defaultText: '`{PUBLIC_URL}`' }),
  IDBRIDGE_STS_URL: baseUrl('IDBRIDGE_STS_URL')
    .default('https://sts.googleapis.com')
    .describe('upstream Google endpoint: Security Token Service'),
  IDBRIDGE_IAMCREDENTIALS_URL: baseUrl('IDBRIDGE_IAMCREDENTIALS_URL')
    .default('https://iamcredentials.googleapis.com')
    .describe('upstream Google endpoint: IAM Credentials'),
  IDBRIDGE_IAM_URL: baseUrl('IDBRIDGE_IAM_URL')
    .default('https://iam.googleapis.com')
    .describe(
      "Google's IAM API (workload identity providers): what `sync --target wif-provider://…` writes and `doctor --wif-provider` reads",
    ),
  IDBRIDGE_BROKER_AWS_STS_URL: baseUrl('IDBRIDGE_BROKER_AWS_STS_URL')
    .default('https://sts.amazonaws.com')
    .describe(
      'broker: upstream AWS STS endpoint (`POST /aws/sts/` forwards AssumeRoleWithWebIdentity here)',
    ),
  IDBRIDGE_BROKER_AZURE_AUTHORITY_URL: baseUrl('IDBRIDGE_BROKER_AZURE_AUTHORITY_URL')
    .default('https://login.microsoftonline.com')
    .describe(
      'broker: upstream Entra ID authority host (`POST /azure/{tenant}/oauth2/v2.0/token` forwards to `{this}/{tenant}/oauth2/v2.0/token`)',
    ),
  IDBRIDGE_BROKER_PUBLIC_URL: baseUrl('IDBRIDGE_BROKER_PUBLIC_URL').optional().meta({
    description:
      "broker: the URL pods reach the broker at; Entra ID tenant discovery (`/azure/{tenant}/v2.0/.well-known/openid-configuration`) points MSAL's token requests there",
    defaultText: '`{PUBLIC_URL}`',
  }),
  IDBRIDGE_LOG_LEVEL: z
    .enum(['debug', 'info', 'warn', 'error'])
    .default('info')
    .describe('`debug`, `info`, `warn`, `error`'),
  /** GCS JSON API base URL; unset means Google's. Set for an emulator (no credentials are sent there). */
  IDBRIDGE_GCS_ENDPOINT: baseUrl('IDBRIDGE_GCS_ENDPOINT').optional().meta({
    description:
      "Cloud Storage JSON API base URL, for an emulator or the tests' fake; the client sends no credentials to a custom endpoint",
    defaultText: "Google's",
  }),
  /** `fine-grained`: documents publicRead, records private. `uniform`: no object ACLs (bucket IAM decides). */
  /** The GCS store: each request's call to Cloud Storage is abandoned after this long. */
  IDBRIDGE_GCS_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(100)
    .max(60_000)
    .default(3_000)
    .describe(
      "GCS store: each call to Cloud Storage (the client's own retries included) is abandoned after this long, answering `503`",
    ),
  /** The GCS store: after an outage, requests get a 503 at once for this long before GCS is probed again. */
  IDBRIDGE_GCS_FAIL_FAST_MS: z.coerce
    .number()
    .int()
    .min(0)
    .max(300_000)
    .default(5_000)
    .describe(
      'GCS store: after an outage, requests needing the store get `503` with `Retry-After` at once for this long, then one request probes GCS again',
    ),
  IDBRIDGE_GCS_OBJECT_ACL: z
    .enum(['fine-grained', 'uniform'], {
      error: 'IDBRIDGE_GCS_OBJECT_ACL must be "fine-grained" or "uniform"',
    })
    .default('fine-grained')
    .describe(
      '`fine-grained`: public documents `publicRead`, records `private`; `uniform`: no object ACLs (a bucket with uniform bucket-level access)',
    ),
  IDBRIDGE_BROKER_CLOCK_SKEW_SECONDS: z.coerce
    .number()
    .int()
    .min(0)
    .max(300)
    .default(60)
    .describe("broker: tolerance on a subject token's `exp`, `nbf`, `iat`"),
  IDBRIDGE_BROKER_UPSTREAM_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(100)
    .max(60_000)
    .default(10_000)
    .describe('broker: each call to Google is abandoned after this long'),
  IDBRIDGE_BROKER_UPSTREAM_ATTEMPTS: z.coerce
    .number()
    .int()
    .min(1)
    .max(5)
    .default(3)
    .describe(
      'broker: attempts per call to Google, retrying timeouts, network failures, 429 and 5xx',
    ),
  IDBRIDGE_BROKER_RATE_PER_CLUSTER: z.coerce
    .number()
    .int()
    .min(0)
    .max(1_000_000)
    .default(6_000)
    .describe('broker: token exchanges sent to Google per minute per cluster; `0` = no limit'),
  IDBRIDGE_BROKER_RATE_PER_SUBJECT: z.coerce
    .number()
    .int()
    .min(0)
    .max(1_000_000)
    .default(600)
    .describe('broker: the same per Kubernetes ServiceAccount (`sub`); `0` = no limit'),
  IDBRIDGE_BROKER_CACHE_MB: z.coerce
    .number()
    .int()
    .min(0)
    .max(4096)
    .default(32)
    .describe('broker: memory for cached token answers; `0` = no cache (coalescing stays)'),
  /** After SIGTERM, how long requests in flight may finish before their connections are dropped. */
  IDBRIDGE_SHUTDOWN_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(0)
    .max(600_000)
    .default(10_000)
    .describe(
      '`serve` and `webhook`: after SIGTERM, how long requests in flight may finish before their connections are dropped',
    ),
  /** `issued`: IAM Credentials and introspection only for access tokens this broker issued; `any`: every bearer is relayed. */
  IDBRIDGE_BROKER_RELAY: z
    .enum(['issued', 'any'], { error: 'IDBRIDGE_BROKER_RELAY must be "issued" or "any"' })
    .default('issued')
    .meta({
      description:
        'broker: which bearers IAM Credentials and `/v1/introspect` relay: `issued` (access tokens this broker issued) or `any`',
      defaultText: '`issued`; `any` on the Cloud Function',
    }),
  IDBRIDGE_FLEET_PROVIDER: z
    .string()
    .trim()
    .transform((value) => value.replace(/^(?:https:)?\/\/iam\.googleapis\.com\//, ''))
    .pipe(
      z
        .string()
        .regex(
          FLEET_PROVIDER,
          'IDBRIDGE_FLEET_PROVIDER must be projects/PROJECT_NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER',
        ),
    )
    .optional()
    .meta({
      description:
        'broker fleet mode: the one workload identity provider that trusts the fleet issuer `{PUBLIC_URL}/_fleet` (docs/fleet.md); clusters registered with `mode: "fleet"` exchange through it',
      defaultText: 'fleet mode off',
    }),
  IDBRIDGE_FLEET_SIGNER: z
    .string()
    .regex(
      FLEET_SIGNER,
      'IDBRIDGE_FLEET_SIGNER must be "local" or gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/N',
    )
    .default('local')
    .describe(
      'fleet mode: `local` (an ES256 key made on first use, kept as a private record of the store, rotated) or `gcpkms://projects/…/cryptoKeyVersions/N` (Cloud KMS `EC_SIGN_P256_SHA256` signs; the private key never leaves KMS)',
    ),
  IDBRIDGE_FLEET_KMS_PUBLISH: z
    .string()
    .transform((value) =>
      value
        .split(',')
        .map((part) => part.trim())
        .filter(Boolean),
    )
    .pipe(
      z
        .array(
          z
            .string()
            .regex(
              FLEET_SIGNER,
              'each entry of IDBRIDGE_FLEET_KMS_PUBLISH must be gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/N',
            )
            .refine(
              (entry) => entry !== 'local',
              'IDBRIDGE_FLEET_KMS_PUBLISH lists KMS key versions only',
            ),
        )
        .max(5, 'IDBRIDGE_FLEET_KMS_PUBLISH lists at most 5 key versions'),
    )
    .optional()
    .meta({
      description:
        'fleet mode, KMS signer: other key versions (comma-separated `gcpkms://…`) published in the fleet JWKS without signing, so a version can be published well before it signs and kept after (docs/fleet.md, KMS rotation)',
      defaultText: 'none',
    }),
  IDBRIDGE_FLEET_KEY_ROTATION_SECONDS: z.coerce
    .number()
    .int()
    .min(3600)
    .max(366 * 86400)
    .default(30 * 86400)
    .describe('fleet mode, `local` signer: how long one key signs before the next takes over'),
  IDBRIDGE_FLEET_KEY_LEAD_SECONDS: z.coerce
    .number()
    .int()
    .min(60)
    .max(30 * 86400)
    .default(3600)
    .describe(
      'fleet mode, `local` signer: how long a new key is published before it signs (less than the rotation period)',
    ),
  IDBRIDGE_KMS_URL: baseUrl('IDBRIDGE_KMS_URL')
    .default('https://cloudkms.googleapis.com')
    .describe('fleet mode, KMS signer: the Cloud KMS endpoint'),
  GOOGLE_APPLICATION_CREDENTIALS: z.string().min(1).optional().meta({
    description:
      "fleet mode, KMS signer: the broker's own Google credentials for Cloud KMS (Application Default Credentials): a service account key or an `external_account` credential configuration",
    defaultText: "gcloud's application default login, then the metadata server",
  }),
  /** `serve` over HTTPS: `local` makes a local CA and a loopback certificate in the data dir. */
  IDBRIDGE_TLS: z
    .enum(['off', 'local'], {
      error: 'IDBRIDGE_TLS must be "local" (a local CA and loopback certificate) or "off"',
    })
    .optional()
    .meta({
      description:
        "`local`: HTTPS with a local CA and a certificate for `127.0.0.1`, `::1`, `localhost` (and the public URL's host) in `DIR/tls` of the file store; the CA (`ca.crt`, key `ca.key` mode 0600) is made once and reused, the serving certificate is reissued from it when it nears expiry; `serve` prints the CA path and how to trust it (`NODE_EXTRA_CA_CERTS=…`, `curl --cacert …`, the kube-apiserver flags)",
      defaultText: '`off`',
    }),
  IDBRIDGE_TLS_CERT_FILE: z.string().min(1).optional().meta({
    description:
      '`serve` over HTTPS with this certificate (PEM); both it and `IDBRIDGE_TLS_KEY_FILE` or neither, checked at startup',
    defaultText: 'plain HTTP',
  }),
  IDBRIDGE_TLS_KEY_FILE: z.string().min(1).optional().meta({
    description:
      '`serve` over HTTPS with this key (PEM); both it and `IDBRIDGE_TLS_CERT_FILE` or neither, checked at startup',
    defaultText: 'plain HTTP',
  }),
});

export interface Config {
  port: number;
  host: string;
  publicUrl: string;
  adminToken?: string;
  store: string;
  syncAudience: string;
  stsUrl: string;
  iamCredentialsUrl: string;
  /** Google's IAM API, where workload identity providers live (sync's wif-provider target, doctor). */
  iamUrl: string;
  /** The broker's upstream AWS STS and Entra ID authority host (docs/broker.md). */
  awsStsUrl: string;
  azureAuthorityUrl: string;
  /** Where pods reach the broker (Entra ID tenant discovery points there). */
  brokerPublicUrl: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** True when publicUrl (and so syncAudience, unless set) was derived from the port. */
  publicUrlFromPort: boolean;
  gcs: GcsOptions;
  broker: BrokerSettings;
  /** Drain deadline after SIGTERM (docs/configuration.md, "Shutdown"). */
  shutdownTimeoutMs: number;
  /** Which bearers the broker relays to IAM Credentials and introspection (docs/broker.md). */
  brokerRelay: BrokerRelay;
  tls: ServeTls;
  /** Broker fleet mode (docs/fleet.md); absent when IDBRIDGE_FLEET_PROVIDER is unset. */
  fleet?: FleetSettings;
}

/** Fleet mode: the fleet provider, who signs, and the local key's rotation. */
export interface FleetSettings {
  /** `projects/NUM/locations/global/workloadIdentityPools/POOL/providers/PROV` */
  provider: string;
  /** `local`, or the Cloud KMS key version's resource name. */
  signer: { kind: 'local' } | { kind: 'kms'; keyVersion: string; alsoPublish: string[] };
  rotationSeconds: number;
  leadSeconds: number;
  kmsUrl: string;
  /** The KMS signer's credential file (GOOGLE_APPLICATION_CREDENTIALS); unset: the rest of ADC. */
  credentialsFile?: string;
}

export type BrokerRelay = 'issued' | 'any';

/** How `serve` listens: plain HTTP, HTTPS with the operator's files, or HTTPS with a local CA. */
export type ServeTls =
  { mode: 'off' } | { mode: 'files'; certFile: string; keyFile: string } | { mode: 'local' };

/** How the GCS store and `sync --target gcs://` reach and write the bucket. */
export interface GcsOptions {
  apiEndpoint?: string;
  objectAcl: 'fine-grained' | 'uniform';
  /** The store's bound on one call, and its fail-fast period after an outage (docs/stores.md). */
  timeoutMs?: number;
  failFastMs?: number;
}

/** The STS broker's limits (docs/broker.md). */
export interface BrokerSettings {
  /** Tolerance for a subject token's exp/nbf/iat, seconds. */
  clockSkewSeconds: number;
  /** Each upstream attempt is abandoned after this long. */
  upstreamTimeoutMs: number;
  /** Attempts per upstream call; retries only after timeouts, network failures, 429 and 5xx. */
  upstreamAttempts: number;
  /** Exchanges sent upstream per minute, per cluster and per subject; 0 = no limit. */
  ratePerClusterPerMinute: number;
  ratePerSubjectPerMinute: number;
  /** Memory for cached upstream answers; 0 turns caching off (coalescing stays). */
  cacheBytes: number;
}

/**
 * The variables `schema` knows, parsed: a flag (given under the variable's name) wins over the
 * environment, and an empty value counts as unset. Shared by every command's configuration.
 */
export function parseEnvironment<S extends z.ZodObject>(
  schema: S,
  env: Record<string, string | undefined>,
  overrides: Partial<Record<string, string>> = {},
): z.ZodSafeParseResult<z.output<S>> {
  const merged: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = overrides[key] ?? env[key];
    if (value !== undefined && value !== '') merged[key] = value;
  }
  return schema.safeParse(merged);
}

/** `VARIABLE: what is wrong`, one per problem. */
export function environmentProblems(
  error: z.ZodError,
  flagNames: Readonly<Record<string, string>> = {},
): string[] {
  return zodDetails(error, { name: (variable) => named(variable, flagNames) }).map((detail) =>
    describeIssue(detail),
  );
}

/** `--port (PORT)` when the variable has a flag, so the message names what the user typed. */
function named(variable: string, flagNames: Readonly<Record<string, string>>): string {
  const flag = flagNames[variable];
  return flag ? `${flag} (${variable})` : variable;
}

/**
 * Parses configuration once, at startup. Unset variables are read as absent, empty ones too,
 * so `FOO=` in a manifest means "default" rather than an invalid empty value.
 */
export function loadConfig(
  env: Record<string, string | undefined>,
  overrides: Partial<Record<keyof z.input<typeof environmentSchema>, string>> = {},
  flagNames: Readonly<Record<string, string>> = {},
): Config {
  const parsed = parseEnvironment(environmentSchema, env, overrides);
  if (!parsed.success)
    throw new IdbridgeError(
      'invalid_request',
      `invalid configuration: ${environmentProblems(parsed.error, flagNames).join('; ')}`,
    );
  const e = parsed.data;
  const tls = serveTls(e, flagNames);
  const publicUrl = e.IDBRIDGE_PUBLIC_URL ?? defaultPublicUrl(tls, e.PORT);
  return {
    port: e.PORT,
    host: e.HOST,
    publicUrl,
    ...(e.IDBRIDGE_ADMIN_TOKEN ? { adminToken: e.IDBRIDGE_ADMIN_TOKEN } : {}),
    store: e.IDBRIDGE_STORE,
    syncAudience: e.IDBRIDGE_SYNC_AUDIENCE ?? publicUrl,
    stsUrl: e.IDBRIDGE_STS_URL,
    iamCredentialsUrl: e.IDBRIDGE_IAMCREDENTIALS_URL,
    iamUrl: e.IDBRIDGE_IAM_URL,
    awsStsUrl: e.IDBRIDGE_BROKER_AWS_STS_URL,
    azureAuthorityUrl: e.IDBRIDGE_BROKER_AZURE_AUTHORITY_URL,
    brokerPublicUrl: e.IDBRIDGE_BROKER_PUBLIC_URL ?? publicUrl,
    logLevel: e.IDBRIDGE_LOG_LEVEL,
    publicUrlFromPort: e.IDBRIDGE_PUBLIC_URL === undefined,
    gcs: {
      ...(e.IDBRIDGE_GCS_ENDPOINT ? { apiEndpoint: e.IDBRIDGE_GCS_ENDPOINT } : {}),
      objectAcl: e.IDBRIDGE_GCS_OBJECT_ACL,
      timeoutMs: e.IDBRIDGE_GCS_TIMEOUT_MS,
      failFastMs: e.IDBRIDGE_GCS_FAIL_FAST_MS,
    },
    broker: {
      clockSkewSeconds: e.IDBRIDGE_BROKER_CLOCK_SKEW_SECONDS,
      upstreamTimeoutMs: e.IDBRIDGE_BROKER_UPSTREAM_TIMEOUT_MS,
      upstreamAttempts: e.IDBRIDGE_BROKER_UPSTREAM_ATTEMPTS,
      ratePerClusterPerMinute: e.IDBRIDGE_BROKER_RATE_PER_CLUSTER,
      ratePerSubjectPerMinute: e.IDBRIDGE_BROKER_RATE_PER_SUBJECT,
      cacheBytes: e.IDBRIDGE_BROKER_CACHE_MB * 1024 * 1024,
    },
    shutdownTimeoutMs: e.IDBRIDGE_SHUTDOWN_TIMEOUT_MS,
    brokerRelay: e.IDBRIDGE_BROKER_RELAY,
    tls,
    ...(e.IDBRIDGE_FLEET_PROVIDER
      ? { fleet: fleetSettings(e, e.IDBRIDGE_FLEET_PROVIDER, flagNames) }
      : {}),
  };
}

type Environment = z.output<typeof environmentSchema>;

function fleetSettings(
  e: Environment,
  provider: string,
  flagNames: Readonly<Record<string, string>>,
): FleetSettings {
  if (e.IDBRIDGE_FLEET_KEY_LEAD_SECONDS >= e.IDBRIDGE_FLEET_KEY_ROTATION_SECONDS)
    throw new IdbridgeError(
      'invalid_request',
      `invalid configuration: ${named('IDBRIDGE_FLEET_KEY_LEAD_SECONDS', flagNames)} must be less than ${named('IDBRIDGE_FLEET_KEY_ROTATION_SECONDS', flagNames)}: a new key is published that long before it signs`,
    );
  const signer = e.IDBRIDGE_FLEET_SIGNER;
  return {
    provider,
    signer:
      signer === 'local'
        ? { kind: 'local' }
        : {
            kind: 'kms',
            keyVersion: signer.slice('gcpkms://'.length),
            alsoPublish: (e.IDBRIDGE_FLEET_KMS_PUBLISH ?? []).map((entry) =>
              entry.slice('gcpkms://'.length),
            ),
          },
    rotationSeconds: e.IDBRIDGE_FLEET_KEY_ROTATION_SECONDS,
    leadSeconds: e.IDBRIDGE_FLEET_KEY_LEAD_SECONDS,
    kmsUrl: e.IDBRIDGE_KMS_URL,
    ...(e.GOOGLE_APPLICATION_CREDENTIALS
      ? { credentialsFile: e.GOOGLE_APPLICATION_CREDENTIALS }
      : {}),
  };
}

function serveTls(e: Environment, flagNames: Readonly<Record<string, string>>): ServeTls {
  const name = (variable: string) => named(variable, flagNames);
  const files = e.IDBRIDGE_TLS_CERT_FILE !== undefined || e.IDBRIDGE_TLS_KEY_FILE !== undefined;
  if (e.IDBRIDGE_TLS === 'local' && files) {
    throw new IdbridgeError(
      'invalid_request',
      `invalid configuration: ${name('IDBRIDGE_TLS')}=local makes its own certificate; leave out ${name('IDBRIDGE_TLS_CERT_FILE')} and ${name('IDBRIDGE_TLS_KEY_FILE')}`,
    );
  }
  if (e.IDBRIDGE_TLS === 'local') return { mode: 'local' };
  if (!files) return { mode: 'off' };
  if (e.IDBRIDGE_TLS_CERT_FILE === undefined || e.IDBRIDGE_TLS_KEY_FILE === undefined) {
    throw new IdbridgeError(
      'invalid_request',
      `invalid configuration: give both ${name('IDBRIDGE_TLS_CERT_FILE')} and ${name('IDBRIDGE_TLS_KEY_FILE')} (PEM files), or ${name('IDBRIDGE_TLS')}=local`,
    );
  }
  return { mode: 'files', certFile: e.IDBRIDGE_TLS_CERT_FILE, keyFile: e.IDBRIDGE_TLS_KEY_FILE };
}

/** Without IDBRIDGE_PUBLIC_URL the issuer is this listener on loopback, https when TLS is on. */
function defaultPublicUrl(tls: ServeTls, port: number): string {
  return `${tls.mode === 'off' ? 'http' : 'https'}://127.0.0.1:${port}`;
}

/**
 * The configuration once the listen port is known (PORT=0 picks a free one): the default public
 * URL, and the sync audience derived from it, follow the real port.
 */
export function withListenPort(config: Config, port: number): Config {
  if (!config.publicUrlFromPort || config.port === port) return { ...config, port };
  const publicUrl = defaultPublicUrl(config.tls, port);
  return {
    ...config,
    port,
    publicUrl,
    brokerPublicUrl:
      config.brokerPublicUrl === config.publicUrl ? publicUrl : config.brokerPublicUrl,
    syncAudience: config.syncAudience === config.publicUrl ? publicUrl : config.syncAudience,
  };
}

export function isValidAdminToken(token: string): boolean {
  return ADMIN_TOKEN.test(token);
}
