import {
  DEFAULT_UNIVERSE_DOMAIN,
  isServiceAccountEmail,
  MAX_IMPERSONATION_LIFETIME_SECONDS,
  MIN_IMPERSONATION_LIFETIME_SECONDS,
  parseProvider,
  providerHint,
  type WorkloadIdentityProvider,
} from '../credentials/credential-config.js';
import { isIdbridgeError } from '../errors.js';
import { CONVENTIONS, parseSkipList, resolveExpiration } from './conventions.js';

/**
 * The annotations that turn a ServiceAccount (and its pods) into Workload Identity Federation
 * credentials, and their resolution: pod > ServiceAccount > the webhook's defaults. Three
 * families are read:
 * - the open-source GCP webhook's (`PREFIX` + `workload-identity-provider`, …), PREFIX
 *   configurable, default `cloud.google.com/`, so manifests written for it keep working;
 * - GKE's `iam.gke.io/gcp-service-account`, with the provider from the webhook's default;
 * - idbridge's own (`idbridge.dev/…`): broker token_url, project, impersonated token lifetime,
 *   direct principal access.
 */

export const GKE_SERVICE_ACCOUNT_ANNOTATION = 'iam.gke.io/gcp-service-account';
export const IDBRIDGE_PREFIX = 'idbridge.dev/';
export const IDBRIDGE_ANNOTATIONS = {
  tokenUrl: `${IDBRIDGE_PREFIX}token-url`,
  projectId: `${IDBRIDGE_PREFIX}project-id`,
  tokenLifetime: `${IDBRIDGE_PREFIX}token-lifetime`,
  directAccess: `${IDBRIDGE_PREFIX}direct-access`,
} as const;
/** Pods (or namespaces) labelled `idbridge.dev/inject: "false"` are never mutated. */
export const OPT_OUT_LABEL = `${IDBRIDGE_PREFIX}inject`;

/** The audience the GCP webhook gives tokens when none is annotated (its providers allow it). */
export const GCP_WEBHOOK_DEFAULT_AUDIENCE = 'sts.googleapis.com';
/** Kubernetes refuses projected token lifetimes under 10 minutes. */
export const MIN_TOKEN_EXPIRATION_SECONDS = CONVENTIONS.google.expiration.min;
/** Google STS refuses subject tokens whose `exp - iat` reaches 48 h. */
export const MAX_TOKEN_EXPIRATION_SECONDS = CONVENTIONS.google.expiration.max;

/** Keys of the GCP-webhook-compatible family under a prefix such as `cloud.google.com/`. */
export function compatibleAnnotations(prefix: string) {
  return {
    provider: `${prefix}workload-identity-provider`,
    serviceAccountEmail: `${prefix}service-account-email`,
    audience: `${prefix}audience`,
    tokenExpiration: `${prefix}token-expiration`,
    injectionMode: `${prefix}injection-mode`,
    project: `${prefix}project`,
    skipContainers: `${prefix}skip-containers`,
    /** Written by the webhook on the pod: the rendered credential configuration. */
    credentialsJson: `${prefix}external-credentials-json`,
  };
}
export type CompatibleAnnotations = ReturnType<typeof compatibleAnnotations>;

/** `cloud.google.com` and `cloud.google.com/` both mean the prefix `cloud.google.com/`. */
export function normalizePrefix(prefix: string): string {
  const trimmed = prefix.trim().replace(/\/+$/, '');
  return `${trimmed}/`;
}

/** Cluster-wide defaults, from the webhook's configuration. */
export interface InjectionDefaults {
  annotationPrefix: string;
  /** The provider for ServiceAccounts that name none (GKE-style annotation). */
  provider?: WorkloadIdentityProvider;
  /** Token audience for every ServiceAccount that sets none. */
  audience?: string;
  tokenExpirationSeconds: number;
  /** Impersonated access token lifetime written into the configuration. */
  tokenLifetimeSeconds: number;
  /** Base URL of the broker (IDBRIDGE_WEBHOOK_TOKEN_URL without /v1/token, checked at startup) for clusters that cannot reach Google. */
  brokerUrl?: string;
  /** The project when no annotation and no service account email gives one (--default-project). */
  project?: string;
  /** CLOUDSDK_COMPUTE_REGION, as the GCP webhook's -gcp-default-region. */
  region?: string;
  /** AWS_REGION and AWS_DEFAULT_REGION, as the AWS webhook's --aws-default-region. */
  awsRegion?: string;
  /** AZURE_TENANT_ID for ServiceAccounts that name none, as azure-workload-identity's AZURE_TENANT_ID. */
  azureTenantId?: string;
  /** AZURE_AUTHORITY_HOST when no broker is used (default https://login.microsoftonline.com/). */
  azureAuthorityHost?: string;
}

/** Everything the pod mutation needs, resolved and validated. */
export interface InjectionPlan {
  provider: WorkloadIdentityProvider;
  /** Absent: direct principal access (no impersonation URL in the configuration). */
  serviceAccountEmail?: string;
  audience: string;
  expirationSeconds: number;
  tokenLifetimeSeconds?: number;
  /** STS and IAM Credentials base URL when a broker is used. */
  brokerUrl?: string;
  universeDomain: string;
  project?: string;
  region?: string;
  skipContainers: string[];
}

export type Resolution =
  | { kind: 'none' }
  | { kind: 'inject'; plan: InjectionPlan; warnings: string[] }
  | { kind: 'invalid'; problems: string[] };

export interface ResolveInput {
  serviceAccount: { namespace: string; name: string; annotations: Record<string, string> };
  podAnnotations: Record<string, string>;
  defaults: InjectionDefaults;
}

const AUDIENCE = /^[\x21-\x7e]{1,256}$/;
const PROJECT = /^(?:(?:[a-z][-a-z0-9.]{0,60}[a-z0-9]:)?[a-z][-a-z0-9]{4,28}[a-z0-9]|\d{1,20})$/;
const PROJECT_FROM_EMAIL = /@([a-z][-a-z0-9]{4,28}[a-z0-9])\.iam\.gserviceaccount\.com$/;
const INJECTION_MODES = new Set(['gcloud', 'gcloud-init', 'direct']);

/** Whether a ServiceAccount asks for credentials at all (any trigger annotation). */
export function requestsInjection(annotations: Record<string, string>, prefix: string): boolean {
  const keys = compatibleAnnotations(prefix);
  return (
    keys.provider in annotations ||
    keys.serviceAccountEmail in annotations ||
    GKE_SERVICE_ACCOUNT_ANNOTATION in annotations ||
    IDBRIDGE_ANNOTATIONS.directAccess in annotations
  );
}

/** Resolves the annotations of a pod and its ServiceAccount into a plan, or says what to fix. */
export function resolveInjection({
  serviceAccount,
  podAnnotations,
  defaults,
}: ResolveInput): Resolution {
  const prefix = defaults.annotationPrefix;
  const sa = serviceAccount.annotations;
  if (!requestsInjection(sa, prefix)) return { kind: 'none' };

  const keys = compatibleAnnotations(prefix);
  const problems: string[] = [];
  const warnings: string[] = [];
  const where = `ServiceAccount ${serviceAccount.namespace}/${serviceAccount.name}`;
  const fix = (key: string, example: string) =>
    `fix it with: kubectl annotate serviceaccount -n ${serviceAccount.namespace} ${serviceAccount.name} --overwrite ${key}=${example}`;
  const show = (value: string) =>
    JSON.stringify(value.length > 120 ? `${value.slice(0, 120)}…` : value);

  // Provider: the ServiceAccount's, else the cluster default (GKE-style annotations).
  let provider: WorkloadIdentityProvider | undefined;
  const providerValue = sa[keys.provider];
  if (providerValue !== undefined) {
    try {
      provider = parseProvider(providerValue);
    } catch (err) {
      if (!isIdbridgeError(err)) throw err;
      const hint = providerHint(providerValue);
      problems.push(
        `${where}: annotation ${keys.provider} ${show(providerValue)} is not a workload identity provider;${hint ? ` ${hint}` : ''} ${fix(keys.provider, 'projects/PROJECT_NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER')}`,
      );
    }
  } else if (defaults.provider) {
    provider = defaults.provider;
  } else {
    problems.push(
      `${where} asks for Google credentials but names no workload identity provider and the webhook has no default; annotate it with ${keys.provider} (${fix(keys.provider, 'projects/PROJECT_NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER')}) or start the webhook with --default-provider`,
    );
  }

  // Google service account: the GCP webhook's annotation or GKE's; both must agree.
  const compatibleEmail = sa[keys.serviceAccountEmail];
  const gkeEmail = sa[GKE_SERVICE_ACCOUNT_ANNOTATION];
  let email: string | undefined;
  for (const [key, value] of [
    [keys.serviceAccountEmail, compatibleEmail],
    [GKE_SERVICE_ACCOUNT_ANNOTATION, gkeEmail],
  ] as const) {
    if (value === undefined) continue;
    if (!isServiceAccountEmail(value.trim())) {
      problems.push(
        `${where}: annotation ${key} ${show(value)} is not a Google service account email; ${fix(key, 'NAME@PROJECT_ID.iam.gserviceaccount.com')}`,
      );
    } else {
      email ??= value.trim();
    }
  }
  if (
    compatibleEmail !== undefined &&
    gkeEmail !== undefined &&
    compatibleEmail.trim() !== gkeEmail.trim()
  ) {
    problems.push(
      `${where}: annotations ${keys.serviceAccountEmail} and ${GKE_SERVICE_ACCOUNT_ANNOTATION} name different Google service accounts; remove one of them`,
    );
  }

  const direct = sa[IDBRIDGE_ANNOTATIONS.directAccess];
  let directAccess = false;
  if (direct !== undefined) {
    if (direct !== 'true' && direct !== 'false') {
      problems.push(
        `${where}: annotation ${IDBRIDGE_ANNOTATIONS.directAccess} ${show(direct)} must be "true" or "false"; ${fix(IDBRIDGE_ANNOTATIONS.directAccess, 'true')}`,
      );
    }
    directAccess = direct === 'true';
  }
  if (directAccess && (compatibleEmail !== undefined || gkeEmail !== undefined)) {
    problems.push(
      `${where}: ${IDBRIDGE_ANNOTATIONS.directAccess}: "true" grants the Kubernetes identity itself, yet a Google service account to impersonate is also annotated; remove one of them`,
    );
  }
  if (!directAccess && compatibleEmail === undefined && gkeEmail === undefined && provider) {
    problems.push(
      `${where} names a workload identity provider but no Google service account; annotate ${keys.serviceAccountEmail}=NAME@PROJECT_ID.iam.gserviceaccount.com to impersonate one, or ${IDBRIDGE_ANNOTATIONS.directAccess}="true" for direct principal access`,
    );
  }

  const mode = sa[keys.injectionMode];
  if (mode !== undefined && !INJECTION_MODES.has(mode)) {
    problems.push(
      `${where}: annotation ${keys.injectionMode} ${show(mode)} must be "direct" or "gcloud"; ${fix(keys.injectionMode, 'direct')}`,
    );
  }

  // Audience: pod > ServiceAccount > default. ServiceAccounts written for the GCP webhook keep
  // its default (sts.googleapis.com, which their providers allow); a provider taken from the
  // cluster default gets its own resource name, which every provider allows out of the box.
  const podAudience = podAnnotations[keys.audience];
  const saAudience = sa[keys.audience];
  const explicitAudience = podAudience ?? saAudience;
  if (explicitAudience !== undefined && !AUDIENCE.test(explicitAudience)) {
    const from =
      podAudience !== undefined
        ? `pod annotation ${keys.audience}`
        : `${where}: annotation ${keys.audience}`;
    problems.push(
      `${from} ${show(explicitAudience)} must be 1-256 printable characters without spaces, e.g. ${GCP_WEBHOOK_DEFAULT_AUDIENCE} or the provider's //iam.googleapis.com/… name`,
    );
  }
  const audience =
    explicitAudience ??
    defaults.audience ??
    (providerValue !== undefined ? GCP_WEBHOOK_DEFAULT_AUDIENCE : (provider?.audience ?? ''));

  // Projected token lifetime: pod > ServiceAccount > default, clamped to what works.
  const expiration = resolveExpiration(
    CONVENTIONS.google,
    [
      { where: `${where}: annotation`, key: keys.tokenExpiration, value: sa[keys.tokenExpiration] },
      {
        where: 'pod annotation',
        key: keys.tokenExpiration,
        value: podAnnotations[keys.tokenExpiration],
      },
    ],
    defaults.tokenExpirationSeconds,
  );
  problems.push(...expiration.problems);
  warnings.push(...expiration.warnings);
  const expirationSeconds = expiration.seconds;

  // Impersonated token lifetime (idbridge's own key): explicit, so refused rather than clamped.
  let tokenLifetimeSeconds: number | undefined = defaults.tokenLifetimeSeconds;
  const lifetime = sa[IDBRIDGE_ANNOTATIONS.tokenLifetime];
  if (lifetime !== undefined) {
    const seconds = /^\d{1,6}$/.test(lifetime.trim()) ? Number(lifetime) : NaN;
    if (!(
      seconds >= MIN_IMPERSONATION_LIFETIME_SECONDS && seconds <= MAX_IMPERSONATION_LIFETIME_SECONDS
    )) {
      problems.push(
        `${where}: annotation ${IDBRIDGE_ANNOTATIONS.tokenLifetime} ${show(lifetime)} must be whole seconds from ${MIN_IMPERSONATION_LIFETIME_SECONDS} to ${MAX_IMPERSONATION_LIFETIME_SECONDS} (IAM Credentials' range); ${fix(IDBRIDGE_ANNOTATIONS.tokenLifetime, '3600')}`,
      );
    } else {
      tokenLifetimeSeconds = seconds;
    }
  }

  // Broker: the ServiceAccount's token_url, else the cluster default; Google's STS otherwise.
  const broker = resolveBroker(serviceAccount, defaults);
  problems.push(...broker.problems);
  warnings.push(...broker.warnings);
  const brokerUrl = broker.brokerUrl;

  // Project: idbridge's key > the GCP webhook's > the service account's own project > the webhook's default.
  let project: string | undefined;
  for (const key of [IDBRIDGE_ANNOTATIONS.projectId, keys.project]) {
    const value = sa[key];
    if (value === undefined) continue;
    if (!PROJECT.test(value.trim())) {
      problems.push(
        `${where}: annotation ${key} ${show(value)} is not a Google Cloud project id; ${fix(key, 'my-project-id')}`,
      );
    } else {
      project ??= value.trim();
    }
  }
  project ??= email ? PROJECT_FROM_EMAIL.exec(email)?.[1] : undefined;
  project ??= defaults.project;

  if (problems.length > 0 || !provider) return { kind: 'invalid', problems };
  return {
    kind: 'inject',
    warnings,
    plan: {
      provider,
      ...(email && !directAccess ? { serviceAccountEmail: email, tokenLifetimeSeconds } : {}),
      audience,
      expirationSeconds,
      ...(brokerUrl ? { brokerUrl } : {}),
      universeDomain: DEFAULT_UNIVERSE_DOMAIN,
      ...(project ? { project } : {}),
      ...(defaults.region ? { region: defaults.region } : {}),
      skipContainers: parseSkipContainers(podAnnotations[keys.skipContainers]),
    },
  };
}

/** `a,b; c` → ["a", "b", "c"]: the GCP webhook splits on commas, some manifests use semicolons. */
export function parseSkipContainers(value: string | undefined): string[] {
  return parseSkipList(CONVENTIONS.google, value);
}

/**
 * The broker a ServiceAccount's pods use, for every cloud: its `idbridge.dev/token-url`, else the
 * webhook's `--token-url`; none means each cloud's own endpoints.
 */
export function resolveBroker(
  serviceAccount: ResolveInput['serviceAccount'],
  defaults: Pick<InjectionDefaults, 'brokerUrl'>,
): { brokerUrl?: string; problems: string[]; warnings: string[] } {
  const key = IDBRIDGE_ANNOTATIONS.tokenUrl;
  const value = serviceAccount.annotations[key];
  let brokerUrl: string | undefined;
  const problems: string[] = [];
  const warnings: string[] = [];
  if (value !== undefined) {
    const parsed = parseTokenUrl(value);
    if ('problem' in parsed)
      problems.push(
        `ServiceAccount ${serviceAccount.namespace}/${serviceAccount.name}: annotation ${key} ${JSON.stringify(value.length > 120 ? `${value.slice(0, 120)}…` : value)} ${parsed.problem}; fix it with: kubectl annotate serviceaccount -n ${serviceAccount.namespace} ${serviceAccount.name} --overwrite ${key}=https://BROKER/v1/token`,
      );
    else brokerUrl = parsed.base;
  } else {
    brokerUrl = defaults.brokerUrl;
  }
  if (brokerUrl?.startsWith('http:'))
    warnings.push(
      `token_url ${brokerUrl}/v1/token is plain http: subject tokens cross the network unencrypted`,
    );
  return { ...(brokerUrl ? { brokerUrl } : {}), problems, warnings };
}

/** A broker token_url: absolute http(s), no credentials, query or fragment, ending in /v1/token. */
export function parseTokenUrl(value: string): { base: string } | { problem: string } {
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    return { problem: 'is not an absolute URL' };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    return { problem: 'must be an https URL' };
  if (url.username || url.password) return { problem: 'must not contain credentials' };
  if (url.search || url.hash) return { problem: 'must not have a query or fragment' };
  if (!url.pathname.endsWith('/v1/token'))
    return { problem: 'must end in /v1/token (the STS path the broker serves, as Google does)' };
  return { base: `${url.origin}${url.pathname.slice(0, -'/v1/token'.length)}` };
}
