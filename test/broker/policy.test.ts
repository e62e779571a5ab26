import { describe, expect, it } from 'vitest';
import { allowedAudiences, checkProvider, checkSubject, matches } from '../../src/broker/policy.js';
import { defaultAudiences, parseProvider } from '../../src/credentials/credential-config.js';
import type { BrokerPolicy, ClusterRecord } from '../../src/registry/record.js';
import { refusal } from './refusal.js';

const provider = parseProvider('projects/123/locations/global/workloadIdentityPools/pool-a/providers/prov-a');
const other = parseProvider('projects/123/locations/global/workloadIdentityPools/pool-b/providers/prov-b');

function record(broker?: BrokerPolicy): ClusterRecord {
  const at = '2026-01-01T00:00:00.000Z';
  return { id: 'c1', issuer: 'https://edge.example/c1', syncSubject: 'system:serviceaccount:idbridge-sync:idbridge-sync', keys: [], keyEvents: [], ...(broker ? { broker } : {}), createdAt: at, updatedAt: at, version: 1 };
}

describe('broker policy', () => {
  it('accepts the provider\'s resource name with // or https: by default, the cluster\'s own list when set', () => {
    expect(defaultAudiences(provider)).toEqual([
      '//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool-a/providers/prov-a',
      'https://iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool-a/providers/prov-a',
    ]);
    expect(allowedAudiences(record(), provider)).toEqual(defaultAudiences(provider));
    expect(allowedAudiences(record({ audiences: ['sts.googleapis.com'] }), provider)).toEqual(['sts.googleapis.com']);
  });

  it('lets any subject exchange against any provider when the cluster has no policy', () => {
    expect(() => checkProvider(record(), other)).not.toThrow();
    expect(() => checkSubject(record(), 'system:serviceaccount:kube-system:default')).not.toThrow();
  });

  it('matches subject patterns within one segment', () => {
    const policy = record({ subjects: ['system:serviceaccount:team-a:*', 'system:serviceaccount:*:reader'] });
    expect(() => checkSubject(policy, 'system:serviceaccount:team-a:web')).not.toThrow();
    expect(() => checkSubject(policy, 'system:serviceaccount:team-b:reader')).not.toThrow();
    const err = refusal(() => checkSubject(policy, 'system:serviceaccount:team-b:web'));
    expect(err.sts).toBe('unauthorized_client');
    expect(err.message).toMatch(/"system:serviceaccount:team-b:web" may not exchange tokens through cluster c1's broker policy, which allows "system:serviceaccount:team-a:\*"/);
    // `*` never spans a separator: a namespace pattern does not reach into another namespace.
    expect(matches('system:serviceaccount:team-a:x:y', 'system:serviceaccount:team-a:*', ':')).toBe(false);
    expect(matches('system:serviceaccount:team.a:web', 'system:serviceaccount:team.a:*', ':')).toBe(true);
    expect(matches('system:serviceaccount:teamXa:web', 'system:serviceaccount:team.a:*', ':')).toBe(false);
  });

  it('matches providers written with or without the //iam.googleapis.com/ prefix', () => {
    const policy = record({ providers: ['//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool-a/providers/*'] });
    expect(() => checkProvider(policy, provider)).not.toThrow();
    const err = refusal(() => checkProvider(policy, other));
    expect(err.sts).toBe('invalid_target');
    expect(err.message).toMatch(/may not exchange tokens against provider projects\/123\/.*pool-b/);
    expect(() => checkProvider(record({ providers: [other.path] }), other)).not.toThrow();
  });
});
