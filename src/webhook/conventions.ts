import type { V1Volume } from '@kubernetes/client-node';

/**
 * The one table of per-cloud conventions the webhook follows: for each cloud, the names and
 * paths of its upstream webhook (so manifests written for it move unchanged), its annotation
 * keys, its defaults and the limits it enforces. The decisions (src/webhook/clouds.ts,
 * annotations.ts) and the one mutation path (pod-mutation.ts) read these values; nothing else
 * spells them.
 */

export type Cloud = 'google' | 'aws' | 'azure';
export type PodOs = 'linux' | 'windows';

/** What an existing same-named volume or mount becomes: the upstream webhook's own choice. */
export type ExistingPolicy = 'replace' | 'keep';

export interface ExpirationRule {
  default: number;
  min: number;
  max: number;
  /** Below min: raise it (with a warning) or deny the pod, as the upstream webhook does. */
  belowMin: 'raise' | 'deny';
  aboveMax: 'lower' | 'deny';
  /** Why the limits are what they are, for the messages. */
  minReason: string;
  maxReason: string;
}

export interface CloudConventions {
  cloud: Cloud;
  /** For messages: "AWS", "Azure", "Google Cloud". */
  title: string;
  tokenVolume: string;
  /** The token file's name inside the volume. */
  tokenFile: string;
  /** The mount directory, as path segments under /var/run/secrets (or C:\var\run\secrets). */
  tokenDir: readonly string[];
  defaultAudience: string;
  expiration: ExpirationRule;
  /** How the skip-containers annotation separates names. */
  skipSeparator: RegExp;
  existingVolume: ExistingPolicy;
  existingMount: ExistingPolicy;
  /** Variables a container keeps with a warning when it already sets them otherwise. */
  warnOnKeep: readonly string[];
}

/** Kubernetes refuses projected token lifetimes over 2^32 seconds. */
export const KUBE_MAX_EXPIRATION_SECONDS = 2 ** 32;

/** eks.amazonaws.com/…: the amazon-eks-pod-identity-webhook's keys. */
export const AWS_ANNOTATIONS = {
  roleArn: 'eks.amazonaws.com/role-arn',
  audience: 'eks.amazonaws.com/audience',
  tokenExpiration: 'eks.amazonaws.com/token-expiration',
  stsRegionalEndpoints: 'eks.amazonaws.com/sts-regional-endpoints',
  skipContainers: 'eks.amazonaws.com/skip-containers',
} as const;

/** azure.workload.identity/…: the azure-workload-identity webhook's keys. */
export const AZURE_ANNOTATIONS = {
  useLabel: 'azure.workload.identity/use',
  clientId: 'azure.workload.identity/client-id',
  tenantId: 'azure.workload.identity/tenant-id',
  tokenExpiration: 'azure.workload.identity/service-account-token-expiration',
  skipContainers: 'azure.workload.identity/skip-containers',
} as const;

export const AWS_ENV = {
  roleArn: 'AWS_ROLE_ARN',
  tokenFile: 'AWS_WEB_IDENTITY_TOKEN_FILE',
  regionalEndpoints: 'AWS_STS_REGIONAL_ENDPOINTS',
  region: 'AWS_REGION',
  defaultRegion: 'AWS_DEFAULT_REGION',
  stsEndpoint: 'AWS_ENDPOINT_URL_STS',
} as const;

export const AZURE_ENV = {
  clientId: 'AZURE_CLIENT_ID',
  tenantId: 'AZURE_TENANT_ID',
  tokenFile: 'AZURE_FEDERATED_TOKEN_FILE',
  authorityHost: 'AZURE_AUTHORITY_HOST',
} as const;

/** Entra ID's public cloud, azure-workload-identity's default AZURE_AUTHORITY_HOST. */
export const AZURE_DEFAULT_AUTHORITY_HOST = 'https://login.microsoftonline.com/';

export const CONVENTIONS: Readonly<Record<Cloud, CloudConventions>> = {
  google: {
    cloud: 'google',
    title: 'Google Cloud',
    tokenVolume: 'gcp-iam-token',
    tokenFile: 'token',
    tokenDir: ['sts.googleapis.com', 'serviceaccount'],
    defaultAudience: 'sts.googleapis.com',
    expiration: {
      default: 86_400,
      min: 600,
      max: 48 * 3600 - 1,
      belowMin: 'raise',
      aboveMax: 'lower',
      minReason: 'the Kubernetes minimum',
      maxReason: 'Google STS refuses tokens valid 48h or more',
    },
    skipSeparator: /[,;]/,
    existingVolume: 'replace',
    existingMount: 'replace',
    warnOnKeep: [
      'GOOGLE_APPLICATION_CREDENTIALS',
      'CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE',
      // The metadata server's address (metadata-server.ts).
      'GCE_METADATA_HOST',
    ],
  },
  aws: {
    cloud: 'aws',
    title: 'AWS',
    tokenVolume: 'aws-iam-token',
    tokenFile: 'token',
    tokenDir: ['eks.amazonaws.com', 'serviceaccount'],
    defaultAudience: 'sts.amazonaws.com',
    // The upstream webhook raises anything under an hour to an hour and sets no maximum.
    expiration: {
      default: 86_400,
      min: 3600,
      max: KUBE_MAX_EXPIRATION_SECONDS,
      belowMin: 'raise',
      aboveMax: 'deny',
      minReason: 'the minimum of the amazon-eks-pod-identity-webhook',
      maxReason: 'Kubernetes refuses projected tokens valid over 2^32 seconds',
    },
    skipSeparator: /,/,
    // The upstream webhook leaves a volume or mount named aws-iam-token as it finds it.
    existingVolume: 'keep',
    existingMount: 'keep',
    warnOnKeep: [AWS_ENV.roleArn, AWS_ENV.tokenFile],
  },
  azure: {
    cloud: 'azure',
    title: 'Azure',
    tokenVolume: 'azure-identity-token',
    tokenFile: 'azure-identity-token',
    tokenDir: ['azure', 'tokens'],
    defaultAudience: 'api://AzureADTokenExchange',
    // azure-workload-identity refuses (rather than clamps) a lifetime outside 1 h to 24 h.
    expiration: {
      default: 3600,
      min: 3600,
      max: 86_400,
      belowMin: 'deny',
      aboveMax: 'deny',
      minReason: 'the minimum of azure-workload-identity',
      maxReason: 'the maximum of azure-workload-identity',
    },
    skipSeparator: /;/,
    existingVolume: 'replace',
    existingMount: 'replace',
    warnOnKeep: [AZURE_ENV.clientId, AZURE_ENV.tokenFile],
  },
};

const ROOTS: Record<PodOs, { root: string; sep: string }> = {
  linux: { root: '/var/run/secrets', sep: '/' },
  // Windows containers see volumes at drive paths; kubelet mounts its own token the same way.
  windows: { root: 'C:\\var\\run\\secrets', sep: '\\' },
};

/** A path under the secrets root of the pod's OS. */
export function secretsPath(os: PodOs, ...segments: string[]): string {
  const { root, sep } = ROOTS[os];
  return [root, ...segments].join(sep);
}

/** The token's mount directory and file for a cloud on a pod's OS. */
export function tokenPaths(conventions: CloudConventions, os: PodOs) {
  return {
    dir: secretsPath(os, ...conventions.tokenDir),
    file: secretsPath(os, ...conventions.tokenDir, conventions.tokenFile),
  };
}

/** The projected ServiceAccount token volume every cloud gets, with its audience and lifetime. */
export function projectedTokenVolume(
  conventions: CloudConventions,
  token: { audience: string; expirationSeconds: number },
  fileMode: number,
): V1Volume {
  return {
    name: conventions.tokenVolume,
    projected: {
      sources: [
        {
          serviceAccountToken: {
            audience: token.audience,
            expirationSeconds: token.expirationSeconds,
            path: conventions.tokenFile,
          },
        },
      ],
      defaultMode: fileMode,
    },
  };
}

/** The skip-containers annotation's names, split the way the cloud's upstream webhook splits them. */
export function parseSkipList(conventions: CloudConventions, value: string | undefined): string[] {
  if (!value) return [];
  return value
    .split(conventions.skipSeparator)
    .map((name) => name.trim())
    .filter((name) => name.length > 0);
}

export interface ExpirationSource {
  /** For messages: "ServiceAccount apps/web: annotation" or "pod annotation". */
  where: string;
  key: string;
  value: string | undefined;
}

/**
 * The projected token lifetime: the last source that has a value wins (callers list the
 * ServiceAccount before the pod), then the cloud's limits; problems deny, warnings are shown.
 */
export function resolveExpiration(
  conventions: CloudConventions,
  sources: readonly ExpirationSource[],
  fallback: number = conventions.expiration.default,
): { seconds: number; problems: string[]; warnings: string[] } {
  const rule = conventions.expiration;
  const problems: string[] = [];
  const warnings: string[] = [];
  let seconds = fallback;
  let key = sources[0]?.key ?? 'token-expiration';
  let where = '';
  for (const source of sources) {
    if (source.value === undefined) continue;
    const text = source.value.trim();
    if (!/^\d{1,12}$/.test(text) || Number(text) === 0) {
      problems.push(
        `${source.where} ${source.key} ${JSON.stringify(source.value.slice(0, 40))} must be a whole number of seconds from ${rule.min} to ${rule.max}, e.g. ${rule.default}`,
      );
      continue;
    }
    seconds = Number(text);
    key = source.key;
    where = `${source.where} `;
  }
  if (problems.length > 0) return { seconds, problems, warnings };
  if (seconds < rule.min) {
    if (rule.belowMin === 'deny')
      problems.push(
        `${where}${key} ${seconds}s is under ${rule.min}s, ${rule.minReason}; set it from ${rule.min} to ${rule.max}, e.g. ${rule.default}`,
      );
    else {
      warnings.push(`${key} ${seconds}s raised to ${rule.min}s, ${rule.minReason}`);
      seconds = rule.min;
    }
  } else if (seconds > rule.max) {
    if (rule.aboveMax === 'deny')
      problems.push(
        `${where}${key} ${seconds}s is over ${rule.max}s (${rule.maxReason}); set it from ${rule.min} to ${rule.max}, e.g. ${rule.default}`,
      );
    else {
      warnings.push(`${key} ${seconds}s lowered to ${rule.max}s: ${rule.maxReason}`);
      seconds = rule.max;
    }
  }
  return { seconds, problems, warnings };
}
