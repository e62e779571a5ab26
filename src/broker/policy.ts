import {
  defaultAudiences,
  stripProviderPrefix,
  type WorkloadIdentityProvider,
} from '../credentials/credential-config.js';
import type { ClusterRecord } from '../registry/record.js';
import { BrokerError } from './google-errors.js';

/**
 * The exchange decision: which audiences a cluster's token must carry for a provider, and
 * whether the cluster's per-cluster policy (`record.broker`) lets this subject exchange against
 * this provider. Pure functions of the record and the request.
 */

export function allowedAudiences(
  record: ClusterRecord,
  provider: WorkloadIdentityProvider,
): readonly string[] {
  return record.broker?.audiences ?? defaultAudiences(provider);
}

/** Refuses a provider outside the cluster's `providers` list (absent list: any provider). */
export function checkProvider(record: ClusterRecord, provider: WorkloadIdentityProvider): void {
  const allowed = record.broker?.providers;
  if (
    !allowed ||
    allowed.some((pattern) => matches(provider.path, stripProviderPrefix(pattern), '/'))
  )
    return;
  throw new BrokerError(
    'provider_not_allowed',
    `cluster ${record.id} may not exchange tokens against provider ${provider.path}; its broker policy allows ${list(allowed)} (PATCH /api/v1/clusters/${record.id} to change it)`,
  );
}

/** AWS IAM's audience for IRSA tokens (the amazon-eks-pod-identity-webhook default). */
export const AWS_STS_AUDIENCE = 'sts.amazonaws.com';
/** Entra ID's audience for federated identity credentials (the azure-workload-identity default). */
export const AZURE_TOKEN_EXCHANGE_AUDIENCE = 'api://AzureADTokenExchange';

/** The audiences a cluster's token for each cloud other than Google must carry. */
export function cloudAudiences(record: ClusterRecord, cloud: 'aws' | 'azure'): readonly string[] {
  return cloud === 'aws'
    ? (record.broker?.awsAudiences ?? [AWS_STS_AUDIENCE])
    : (record.broker?.azureAudiences ?? [AZURE_TOKEN_EXCHANGE_AUDIENCE]);
}

/** Refuses an AWS role outside the cluster's `roles` patterns (absent list: any role). */
export function checkRole(record: ClusterRecord, roleArn: string): void {
  const allowed = record.broker?.roles;
  if (!allowed || allowed.some((pattern) => matches(roleArn, pattern, ':'))) return;
  throw new BrokerError(
    'role_not_allowed',
    `Not authorized to perform sts:AssumeRoleWithWebIdentity: cluster ${record.id} may not assume role ${roleArn} through this broker; its broker policy allows ${list(allowed)} (PATCH /api/v1/clusters/${record.id} to change it)`,
  );
}

/** Refuses an Entra ID client id outside the cluster's `clientIds` (absent list: any). */
export function checkClientId(record: ClusterRecord, clientId: string): void {
  const allowed = record.broker?.clientIds;
  const id = clientId.toLowerCase();
  if (!allowed || allowed.some((entry) => entry === '*' || entry.toLowerCase() === id)) return;
  throw new BrokerError(
    'client_not_allowed',
    `Application with identifier '${clientId}' may not be used by cluster ${record.id} through this broker; its broker policy allows ${list(allowed)} (PATCH /api/v1/clusters/${record.id} to change it)`,
  );
}

/** Refuses a subject outside the cluster's `subjects` patterns (absent list: any subject). */
export function checkSubject(record: ClusterRecord, subject: string): void {
  const allowed = record.broker?.subjects;
  if (!allowed || allowed.some((pattern) => matches(subject, pattern, ':'))) return;
  throw new BrokerError(
    'subject_not_allowed',
    `${JSON.stringify(subject.slice(0, 320))} may not exchange tokens through cluster ${record.id}'s broker policy, which allows ${list(allowed)}`,
  );
}

/**
 * `*` stands for any run of characters within one segment (`separator` excluded), so
 * `system:serviceaccount:team-a:*` covers the ServiceAccounts of namespace team-a and no other.
 * Linear in practice and O(value × pattern) at worst: no regular expression, no backtracking blowup.
 */
export function matches(value: string, pattern: string, separator: ':' | '/'): boolean {
  if (!pattern.includes('*')) return value === pattern;
  const values = value.split(separator);
  const patterns = pattern.split(separator);
  // `*` never spans a separator, so the segments pair up one to one.
  return (
    values.length === patterns.length &&
    patterns.every((segment, i) => globSegment(values[i]!, segment))
  );
}

/**
 * The classic greedy wildcard match: on a mismatch, go back to the last `*` and let it take one
 * more character. Each step advances `v` or the star's resume point, so the cost is bounded by
 * value length × pattern length.
 */
export function globSegment(value: string, pattern: string): boolean {
  let v = 0;
  let p = 0;
  let star = -1;
  let resume = 0;
  while (v < value.length) {
    if (p < pattern.length && pattern[p] !== '*' && pattern[p] === value[v]) {
      v++;
      p++;
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      resume = v;
    } else if (star !== -1) {
      p = star + 1;
      v = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}

function list(patterns: readonly string[]): string {
  const shown = patterns
    .slice(0, 5)
    .map((p) => JSON.stringify(p))
    .join(', ');
  return patterns.length > 5 ? `${shown} and ${patterns.length - 5} more` : shown;
}
