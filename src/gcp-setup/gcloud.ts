import type { WorkloadIdentityProvider } from '../credentials/credential-config.js';

/**
 * The gcloud command lines idbridge prints (gcp-setup, whoami's fixes). Resources are named by
 * their full names with the project NUMBER, which gcloud accepts everywhere and which is what
 * Workload Identity Federation uses; `--project` flags would need the project id instead.
 */
export const WORKLOAD_IDENTITY_USER = 'roles/iam.workloadIdentityUser';

export function poolName(projectNumber: string, pool: string): string {
  return `projects/${projectNumber}/locations/global/workloadIdentityPools/${pool}`;
}

/** `principal://…/subject/SUBJECT`: one Kubernetes ServiceAccount (google.subject=assertion.sub). */
export function principalMember(projectNumber: string, pool: string, subject: string): string {
  return `principal://iam.googleapis.com/${poolName(projectNumber, pool)}/subject/${subject}`;
}

/** `principalSet://…/attribute.NAME/VALUE`: every identity with that mapped attribute. */
export function principalSetMember(
  projectNumber: string,
  pool: string,
  attribute: string,
  value: string,
): string {
  return `principalSet://iam.googleapis.com/${poolName(projectNumber, pool)}/attribute.${attribute}/${value}`;
}

export function federatedPrincipal(provider: WorkloadIdentityProvider, subject: string): string {
  return principalMember(provider.projectNumber, provider.pool, subject);
}

export function createPoolCommand(
  projectNumber: string,
  pool: string,
  displayName: string,
): string[] {
  return [
    'gcloud',
    'iam',
    'workload-identity-pools',
    'create',
    poolName(projectNumber, pool),
    `--display-name=${displayName}`,
  ];
}

export interface OidcProviderSpec {
  projectNumber: string;
  pool: string;
  provider: string;
  issuerUri: string;
  attributeMapping: Record<string, string>;
  attributeCondition?: string;
  allowedAudiences?: string[];
  displayName?: string;
  /** Upload the keys from this JWKS file instead of having Google fetch them from the issuer. */
  jwkJsonPath?: string;
}

export function createOidcProviderCommand(spec: OidcProviderSpec): string[] {
  return [
    'gcloud',
    'iam',
    'workload-identity-pools',
    'providers',
    'create-oidc',
    `${poolName(spec.projectNumber, spec.pool)}/providers/${spec.provider}`,
    `--issuer-uri=${spec.issuerUri}`,
    `--attribute-mapping=${Object.entries(spec.attributeMapping)
      .map(([key, value]) => `${key}=${value}`)
      .join(',')}`,
    ...(spec.attributeCondition ? [`--attribute-condition=${spec.attributeCondition}`] : []),
    ...(spec.allowedAudiences?.length
      ? [`--allowed-audiences=${spec.allowedAudiences.join(',')}`]
      : []),
    ...(spec.displayName ? [`--display-name=${spec.displayName}`] : []),
    ...(spec.jwkJsonPath !== undefined ? [`--jwk-json-path=${spec.jwkJsonPath}`] : []),
  ];
}

export function describeProviderCommand(
  provider: WorkloadIdentityProvider,
  format?: string,
): string[] {
  return [
    'gcloud',
    'iam',
    'workload-identity-pools',
    'providers',
    'describe',
    provider.path,
    ...(format ? [`--format=${format}`] : []),
  ];
}

export function updateProviderIssuerCommand(
  provider: WorkloadIdentityProvider,
  issuerUri: string,
): string[] {
  return [
    'gcloud',
    'iam',
    'workload-identity-pools',
    'providers',
    'update-oidc',
    provider.path,
    `--issuer-uri=${issuerUri}`,
  ];
}

/** Lets `member` impersonate `serviceAccount` (what :generateAccessToken checks). */
export function addWorkloadIdentityUserCommand(serviceAccount: string, member: string): string[] {
  return [
    'gcloud',
    'iam',
    'service-accounts',
    'add-iam-policy-binding',
    `projects/-/serviceAccounts/${serviceAccount}`,
    `--role=${WORKLOAD_IDENTITY_USER}`,
    `--member=${member}`,
  ];
}

/** What `sync --target wif-provider://` needs on the pool: get and update of its providers. */
export const POOL_ADMIN = 'roles/iam.workloadIdentityPoolAdmin';
export const PROVIDER_UPDATE_PERMISSIONS = [
  'iam.workloadIdentityPoolProviders.get',
  'iam.workloadIdentityPoolProviders.update',
] as const;

/** Grants `role` on one workload identity pool (not the whole project) to `member`. */
export function addPoolIamBindingCommand(
  projectNumber: string,
  pool: string,
  role: string,
  member: string,
): string[] {
  return [
    'gcloud',
    'iam',
    'workload-identity-pools',
    'add-iam-policy-binding',
    poolName(projectNumber, pool),
    `--role=${role}`,
    `--member=${member}`,
  ];
}
