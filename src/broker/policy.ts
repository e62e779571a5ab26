import { defaultAudiences, stripProviderPrefix, type WorkloadIdentityProvider } from '../credentials/credential-config.js';
import type { ClusterRecord } from '../registry/record.js';
import { BrokerError } from './google-errors.js';

/**
 * The exchange decision: which audiences a cluster's token must carry for a provider, and
 * whether the cluster's per-cluster policy (`record.broker`) lets this subject exchange against
 * this provider. Pure functions of the record and the request.
 */

export function allowedAudiences(record: ClusterRecord, provider: WorkloadIdentityProvider): readonly string[] {
  return record.broker?.audiences ?? defaultAudiences(provider);
}

/** Refuses a provider outside the cluster's `providers` list (absent list: any provider). */
export function checkProvider(record: ClusterRecord, provider: WorkloadIdentityProvider): void {
  const allowed = record.broker?.providers;
  if (!allowed || allowed.some((pattern) => matches(provider.path, stripProviderPrefix(pattern), '/'))) return;
  throw new BrokerError(
    'permission_denied',
    `cluster ${record.id} may not exchange tokens against provider ${provider.path}; its broker policy allows ${list(allowed)} (PATCH /api/v1/clusters/${record.id} to change it)`,
    { sts: 'invalid_target' },
  );
}

/** Refuses a subject outside the cluster's `subjects` patterns (absent list: any subject). */
export function checkSubject(record: ClusterRecord, subject: string): void {
  const allowed = record.broker?.subjects;
  if (!allowed || allowed.some((pattern) => matches(subject, pattern, ':'))) return;
  throw new BrokerError(
    'permission_denied',
    `${JSON.stringify(subject.slice(0, 320))} may not exchange tokens through cluster ${record.id}'s broker policy, which allows ${list(allowed)}`,
    { sts: 'unauthorized_client' },
  );
}

const compiled = new Map<string, RegExp>();

/**
 * `*` stands for any run of characters within one segment (`separator` excluded), so
 * `system:serviceaccount:team-a:*` covers the ServiceAccounts of namespace team-a and no other.
 */
export function matches(value: string, pattern: string, separator: ':' | '/'): boolean {
  if (!pattern.includes('*')) return value === pattern;
  const key = `${separator}${pattern}`;
  let regex = compiled.get(key);
  if (!regex) {
    const anyInSegment = separator === ':' ? '[^:]*' : '[^/]*';
    regex = new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join(anyInSegment)}$`);
    if (compiled.size > 10_000) compiled.clear();
    compiled.set(key, regex);
  }
  return regex.test(value);
}

function list(patterns: readonly string[]): string {
  const shown = patterns.slice(0, 5).map((p) => JSON.stringify(p)).join(', ');
  return patterns.length > 5 ? `${shown} and ${patterns.length - 5} more` : shown;
}
