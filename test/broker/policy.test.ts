import { describe, expect, it } from 'vitest';
import {
  allowedAudiences,
  checkProvider,
  checkSubject,
  globSegment,
  matches,
} from '../../src/broker/policy.js';
import { defaultAudiences, parseProvider } from '../../src/credentials/credential-config.js';
import type { BrokerPolicy, ClusterRecord } from '../../src/registry/record.js';
import { refusal } from './refusal.js';

const provider = parseProvider(
  'projects/123/locations/global/workloadIdentityPools/pool-a/providers/prov-a',
);
const other = parseProvider(
  'projects/123/locations/global/workloadIdentityPools/pool-b/providers/prov-b',
);

function record(broker?: BrokerPolicy): ClusterRecord {
  const at = '2026-01-01T00:00:00.000Z';
  return {
    id: 'c1',
    issuer: 'https://edge.example/c1',
    syncSubject: 'system:serviceaccount:idbridge-sync:idbridge-sync',
    keys: [],
    keyEvents: [],
    ...(broker ? { broker } : {}),
    createdAt: at,
    updatedAt: at,
    version: 1,
  };
}

describe('broker policy', () => {
  it("accepts the provider's resource name with // or https: by default, the cluster's own list when set", () => {
    expect(defaultAudiences(provider)).toEqual([
      '//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool-a/providers/prov-a',
      'https://iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool-a/providers/prov-a',
    ]);
    expect(allowedAudiences(record(), provider)).toEqual(defaultAudiences(provider));
    expect(allowedAudiences(record({ audiences: ['sts.googleapis.com'] }), provider)).toEqual([
      'sts.googleapis.com',
    ]);
  });

  it('lets any subject exchange against any provider when the cluster has no policy', () => {
    expect(() => checkProvider(record(), other)).not.toThrow();
    expect(() => checkSubject(record(), 'system:serviceaccount:kube-system:default')).not.toThrow();
  });

  it('matches subject patterns within one segment', () => {
    const policy = record({
      subjects: ['system:serviceaccount:team-a:*', 'system:serviceaccount:*:reader'],
    });
    expect(() => checkSubject(policy, 'system:serviceaccount:team-a:web')).not.toThrow();
    expect(() => checkSubject(policy, 'system:serviceaccount:team-b:reader')).not.toThrow();
    const err = refusal(() => checkSubject(policy, 'system:serviceaccount:team-b:web'));
    expect(err.sts).toBe('unauthorized_client');
    expect(err.message).toMatch(
      /"system:serviceaccount:team-b:web" may not exchange tokens through cluster c1's broker policy, which allows "system:serviceaccount:team-a:\*"/,
    );
    // `*` never spans a separator: a namespace pattern does not reach into another namespace.
    expect(matches('system:serviceaccount:team-a:x:y', 'system:serviceaccount:team-a:*', ':')).toBe(
      false,
    );
    expect(matches('system:serviceaccount:team.a:web', 'system:serviceaccount:team.a:*', ':')).toBe(
      true,
    );
    expect(matches('system:serviceaccount:teamXa:web', 'system:serviceaccount:team.a:*', ':')).toBe(
      false,
    );
  });

  it('matches providers written with or without the //iam.googleapis.com/ prefix', () => {
    const policy = record({
      providers: [
        '//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool-a/providers/*',
      ],
    });
    expect(() => checkProvider(policy, provider)).not.toThrow();
    const err = refusal(() => checkProvider(policy, other));
    expect(err.sts).toBe('invalid_target');
    expect(err.message).toMatch(/may not exchange tokens against provider projects\/123\/.*pool-b/);
    expect(() => checkProvider(record({ providers: [other.path] }), other)).not.toThrow();
  });
});

/** The matcher before the linear one, kept here as the reference for its semantics on ordinary inputs. */
function regexMatches(value: string, pattern: string, separator: ':' | '/'): boolean {
  if (!pattern.includes('*')) return value === pattern;
  const anyInSegment = separator === ':' ? '[^:]*' : '[^/]*';
  return new RegExp(
    `^${pattern
      .split('*')
      .map((part) => part.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'))
      .join(anyInSegment)}$`,
  ).test(value);
}

describe('broker policy wildcards', () => {
  const table: Array<[string, string, ':' | '/', boolean]> = [
    ['system:serviceaccount:team-a:web', 'system:serviceaccount:team-a:*', ':', true],
    ['system:serviceaccount:team-a:', 'system:serviceaccount:team-a:*', ':', true],
    ['system:serviceaccount:team-a:x:y', 'system:serviceaccount:team-a:*', ':', false],
    ['system:serviceaccount:team-b:reader', 'system:serviceaccount:*:reader', ':', true],
    ['system:serviceaccount:team-b:web-reader', 'system:serviceaccount:*:*-reader', ':', true],
    ['system:serviceaccount:team-b:reader', 'system:serviceaccount:*:*-reader', ':', false],
    ['system:serviceaccount:a:b', 'system:serviceaccount:*', ':', false],
    ['system:serviceaccount:a:b', '*:*:*:*', ':', true],
    ['system:serviceaccount:a:b', '*', ':', false],
    ['system:serviceaccount:ab:b', 'system:serviceaccount:a*b*:b', ':', true],
    ['system:serviceaccount:abab:b', 'system:serviceaccount:*ab:b', ':', true],
    ['system:serviceaccount:aba:b', 'system:serviceaccount:*ab:b', ':', false],
    ['system:serviceaccount:a.b:c', 'system:serviceaccount:a.*:c', ':', true],
    ['system:serviceaccount:axb:c', 'system:serviceaccount:a.b:c', ':', false],
    ['system:serviceaccount:a:b', 'system:serviceaccount:a:b', ':', true],
    [
      'projects/123/locations/global/workloadIdentityPools/pool-a/providers/prov-a',
      'projects/*/locations/global/workloadIdentityPools/*/providers/*',
      '/',
      true,
    ],
    [
      'projects/123/locations/global/workloadIdentityPools/pool-a/providers/prov-a',
      'projects/123/locations/global/workloadIdentityPools/pool-*/providers/prov-?',
      '/',
      false,
    ],
    [
      'projects/123/locations/global/workloadIdentityPools/pool-a/providers/prov-a',
      'projects/123/*/providers/prov-a',
      '/',
      false,
    ],
    [
      'projects/123/locations/global/workloadIdentityPools/pool-a/providers/prov-a',
      'projects/1*3/locations/global/workloadIdentityPools/*-a/providers/**',
      '/',
      true,
    ],
    [
      'projects/123/locations/global/workloadIdentityPools/pool-a/providers/',
      'projects/123/locations/global/workloadIdentityPools/pool-a/providers/*',
      '/',
      true,
    ],
  ];

  it.each(table)(
    '%s against %s → %s, as the regular expression matched',
    (value, pattern, separator, expected) => {
      expect(matches(value, pattern, separator)).toBe(expected);
      expect(regexMatches(value, pattern, separator)).toBe(expected);
    },
  );

  it('answers the pathological patterns that blocked the event loop for seconds', () => {
    // 15 `*` in one segment against a 32-character name: 10.1 s with the backtracking regex.
    const stars = `projects/123/locations/global/workloadIdentityPools/${'*a'.repeat(15)}b/providers/*`;
    expect(
      matches(
        `projects/123/locations/global/workloadIdentityPools/${'a'.repeat(32)}/providers/prov-a`,
        stars,
        '/',
      ),
    ).toBe(false);
    expect(
      matches(
        `projects/123/locations/global/workloadIdentityPools/${'a'.repeat(31)}b/providers/prov-a`,
        stars,
        '/',
      ),
    ).toBe(true);
    // `*-*-*-*-*-*-reader` against an 86-character ServiceAccount name: 1.34 s before.
    expect(
      matches(
        `system:serviceaccount:apps:${'-'.repeat(86)}`,
        'system:serviceaccount:apps:*-*-*-*-*-*-reader',
        ':',
      ),
    ).toBe(false);
    expect(
      matches(
        `system:serviceaccount:apps:${'-'.repeat(80)}reader`,
        'system:serviceaccount:apps:*-*-*-*-*-*-reader',
        ':',
      ),
    ).toBe(true);
    // Far beyond anything the API stores, still answered at once.
    expect(globSegment('a'.repeat(5000), `${'*a'.repeat(40)}b`)).toBe(false);
  });
});
