import { createHash } from 'node:crypto';
import { z } from 'zod';
import { IdbridgeError } from '../errors.js';

/**
 * Google `external_account` credential configurations: what Google's client libraries and gcloud
 * read from GOOGLE_APPLICATION_CREDENTIALS / CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE. Field names,
 * order and defaults follow `gcloud iam workload-identity-pools create-cred-config`.
 */
export const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
export const DEFAULT_UNIVERSE_DOMAIN = 'googleapis.com';
/**
 * A Google Cloud project id as the metadata server answers it (project/project-id), with the
 * legacy `domain:` form: what `idbridge metadata-server --project-id` and the webhook's
 * `--default-project` accept. A project number is not one.
 */
export const PROJECT_ID = /^[a-z][-a-z0-9.:]{4,61}[a-z0-9]$/;
/** PROJECT_ID as a setting's schema, with the message every command gives. */
export const projectIdSchema = z
  .string()
  .regex(PROJECT_ID, 'must be a Google Cloud project id such as my-project-123');
/** Kubernetes' limits on impersonated token lifetime (IAM Credentials: 10 min to 12 h). */
export const MIN_IMPERSONATION_LIFETIME_SECONDS = 600;
export const MAX_IMPERSONATION_LIFETIME_SECONDS = 43_200;

/** Google refuses a mapped google.subject longer than this (one of Google's token rules). */
export { GOOGLE_SUBJECT_MAX_BYTES } from '../verify/google-rules.js';

/** Google's rule for pool and provider ids: 4-32 of a-z 0-9 -, no hyphen at either end, and the gcp- prefix is reserved. */
export const RESOURCE_ID_RULE =
  '4-32 characters of a-z, 0-9 and "-", not starting or ending with "-", not starting with "gcp-"';
const RESOURCE_ID = /^(?!gcp-)[a-z0-9][a-z0-9-]{2,30}[a-z0-9]$/;
const PROVIDER_PATH =
  /^projects\/(\d{1,20})\/locations\/global\/workloadIdentityPools\/([^/]*)\/providers\/([^/]*)$/;

export function isResourceId(value: string): boolean {
  return RESOURCE_ID.test(value);
}

/**
 * The provider id idbridge derives from a cluster id (a DNS label, 1-63 characters): the id itself
 * when Google accepts it; else "idbridge-" + id (short ids such as c1, and ids starting with gcp-);
 * and when that is over 32 characters, its first 25 characters, "-" and 6 hex of the id's SHA-256.
 */
export function providerIdFor(clusterId: string): string {
  if (isResourceId(clusterId)) return clusterId;
  const prefixed =
    clusterId.length < 4 || clusterId.startsWith('gcp-') ? `idbridge-${clusterId}` : clusterId;
  if (isResourceId(prefixed)) return prefixed;
  const hash = createHash('sha256').update(clusterId).digest('hex').slice(0, 6);
  return `${prefixed.slice(0, 25).replace(/-+$/, '')}-${hash}`;
}
const SERVICE_ACCOUNT_EMAIL =
  /^[a-z0-9][-a-z0-9]{0,62}@(?:[a-z0-9][-a-z0-9.]{0,100}\.iam\.gserviceaccount\.com|developer\.gserviceaccount\.com)$/;

export interface WorkloadIdentityProvider {
  projectNumber: string;
  pool: string;
  provider: string;
  /** `projects/NUM/locations/global/workloadIdentityPools/POOL/providers/PROV` */
  path: string;
  /** The STS audience: `//iam.googleapis.com/` + path. */
  audience: string;
}

/**
 * Accepts a provider as `projects/NUM/locations/global/workloadIdentityPools/POOL/providers/PROV`
 * or with a `//iam.googleapis.com/` or `https://iam.googleapis.com/` prefix.
 */
export function parseProvider(value: string): WorkloadIdentityProvider {
  const path = stripProviderPrefix(value.trim());
  const match = PROVIDER_PATH.exec(path);
  if (match && !(isResourceId(match[2]!) && isResourceId(match[3]!))) {
    const [kind, id] = isResourceId(match[2]!) ? ['provider', match[3]!] : ['pool', match[2]!];
    throw new IdbridgeError(
      'invalid_request',
      `${JSON.stringify(value.slice(0, 200))} is not a workload identity provider: the ${kind} id ${JSON.stringify(id.slice(0, 64))} breaks Google's rule for ids (${RESOURCE_ID_RULE}). idbridge gcp-setup names the provider of cluster c1 idbridge-c1.`,
    );
  }
  if (!match) {
    const hint = providerHint(value);
    throw new IdbridgeError(
      'invalid_request',
      `${JSON.stringify(value.slice(0, 200))} is not a workload identity provider; expected projects/PROJECT_NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER.${hint ? ` ${hint}` : ''}`,
    );
  }
  return {
    projectNumber: match[1]!,
    pool: match[2]!,
    provider: match[3]!,
    path,
    audience: `//iam.googleapis.com/${path}`,
  };
}

/** The likely mistake behind a provider name parseProvider refuses, or '' (a project id where the number belongs). */
export function providerHint(value: string): string {
  const path = stripProviderPrefix(value.trim());
  return /^projects\/[a-z][-a-z0-9]+\//.test(path) && !/^projects\/\d+\//.test(path)
    ? 'It names the project by id; Workload Identity Federation needs the project NUMBER (gcloud projects describe PROJECT --format="value(projectNumber)").'
    : '';
}

/** A provider name without the `//iam.googleapis.com/` or `https://iam.googleapis.com/` prefix. */
export function stripProviderPrefix(value: string): string {
  return value.replace(/^(?:https:)?\/\/iam\.googleapis\.com\//, '');
}

/** Google's default allowed audiences of a provider: its resource name with `//` or `https:`. */
export function defaultAudiences(provider: WorkloadIdentityProvider): string[] {
  return [provider.audience, `https://iam.googleapis.com/${provider.path}`];
}

export function isServiceAccountEmail(value: string): boolean {
  return value.length <= 254 && SERVICE_ACCOUNT_EMAIL.test(value);
}

export interface CredentialConfigInput {
  provider: WorkloadIdentityProvider;
  /** Path of the projected ServiceAccount token (credential_source.file). */
  tokenPath: string;
  /** Google service account to impersonate; absent = direct principal access. */
  serviceAccountEmail?: string;
  /** Impersonated token lifetime, seconds (600–43200). */
  tokenLifetimeSeconds?: number;
  /** STS base URL (Google or an idbridge broker): token_url = `${stsUrl}/v1/token`. */
  stsUrl?: string;
  /** IAM Credentials base URL (Google or an idbridge broker). */
  iamCredentialsUrl?: string;
  universeDomain?: string;
  /** `text` (the token file as is, what gcloud writes with --credential-source-type=text). */
  format?: 'text';
}

export interface ExternalAccountConfig {
  universe_domain: string;
  type: 'external_account';
  audience: string;
  subject_token_type: string;
  token_url: string;
  credential_source: { file: string; format?: { type: 'text' } };
  service_account_impersonation_url?: string;
  service_account_impersonation?: { token_lifetime_seconds: number };
  token_info_url?: string;
}

/** The configuration, with the same fields, values and order as gcloud's create-cred-config. */
export function externalAccountConfig(input: CredentialConfigInput): ExternalAccountConfig {
  const universe = input.universeDomain ?? DEFAULT_UNIVERSE_DOMAIN;
  const sts = (input.stsUrl ?? `https://sts.${universe}`).replace(/\/+$/, '');
  const iam = (input.iamCredentialsUrl ?? `https://iamcredentials.${universe}`).replace(/\/+$/, '');
  if (
    input.serviceAccountEmail !== undefined &&
    !isServiceAccountEmail(input.serviceAccountEmail)
  ) {
    throw new IdbridgeError(
      'invalid_request',
      `${JSON.stringify(input.serviceAccountEmail.slice(0, 254))} is not a Google service account email (NAME@PROJECT.iam.gserviceaccount.com)`,
    );
  }
  const lifetime = input.tokenLifetimeSeconds;
  if (
    lifetime !== undefined &&
    (!Number.isInteger(lifetime) ||
      lifetime < MIN_IMPERSONATION_LIFETIME_SECONDS ||
      lifetime > MAX_IMPERSONATION_LIFETIME_SECONDS)
  ) {
    throw new IdbridgeError(
      'invalid_request',
      `token lifetime ${lifetime} s is outside ${MIN_IMPERSONATION_LIFETIME_SECONDS}–${MAX_IMPERSONATION_LIFETIME_SECONDS} s, the range IAM Credentials accepts`,
    );
  }
  const config: ExternalAccountConfig = {
    universe_domain: universe,
    type: 'external_account',
    audience: input.provider.audience,
    subject_token_type: JWT_TOKEN_TYPE,
    token_url: `${sts}/v1/token`,
    credential_source: {
      file: input.tokenPath,
      ...(input.format ? { format: { type: input.format } } : {}),
    },
  };
  if (input.serviceAccountEmail) {
    config.service_account_impersonation_url = `${iam}/v1/projects/-/serviceAccounts/${input.serviceAccountEmail}:generateAccessToken`;
    if (lifetime !== undefined)
      config.service_account_impersonation = { token_lifetime_seconds: lifetime };
  } else {
    // gcloud identifies a non-impersonated account by introspecting its token here.
    config.token_info_url = `${sts}/v1/introspect`;
  }
  return config;
}

/** Reads back a configuration (e.g. for whoami), refusing what Google's libraries would refuse. */
export const externalAccountConfigSchema = z.looseObject({
  type: z.literal('external_account', {
    error: 'type must be "external_account" (a Workload Identity Federation configuration)',
  }),
  audience: z.string().min(1),
  subject_token_type: z.string().min(1),
  token_url: z.url(),
  credential_source: z.looseObject({ file: z.string().min(1).optional(), url: z.url().optional() }),
  service_account_impersonation_url: z.url().optional(),
  service_account_impersonation: z
    .looseObject({ token_lifetime_seconds: z.number().int().optional() })
    .optional(),
  token_info_url: z.url().optional(),
  universe_domain: z.string().optional(),
});
