import { describe, expect, it } from 'vitest';
import { decideExchange } from '../../src/broker/decide.js';
import type { StsTokenRequest } from '../../src/broker/sts-request.js';
import { parseProvider } from '../../src/credentials/credential-config.js';
import type { BrokerPolicy, ClusterRecord } from '../../src/registry/record.js';
import type { VerifiedToken } from '../../src/verify/subject-token.js';

const at = '2026-11-22T12:00:00.000Z';
const provider = parseProvider(
  'projects/123456/locations/global/workloadIdentityPools/pool/providers/prov',
);
const other = parseProvider(
  'projects/999/locations/global/workloadIdentityPools/pool/providers/prov',
);
const subject = 'system:serviceaccount:team-a:app';

function record(broker?: BrokerPolicy): ClusterRecord {
  return {
    id: 'c1',
    issuer: 'https://issuer.example/c1',
    syncSubject: 'system:serviceaccount:idbridge-sync:idbridge-sync',
    keys: [],
    keyEvents: [],
    createdAt: at,
    updatedAt: at,
    version: 1,
    ...(broker ? { broker } : {}),
  };
}

function verified(sub = subject): VerifiedToken {
  return {
    cluster: 'c1',
    issuer: 'https://issuer.example/c1',
    subject: sub,
    audiences: [provider.audience],
    kid: 'k1',
    alg: 'RS256',
    issuedAt: 0,
    expiresAt: 3600,
    payload: {},
  };
}

function request(p = provider, scope?: string): StsTokenRequest {
  return {
    audience: p.audience,
    provider: p,
    subjectToken: 'header.payload.signature',
    subjectTokenType: 'urn:ietf:params:oauth:token-type:jwt',
    ...(scope ? { scope } : {}),
  };
}

describe('the exchange decision', () => {
  it.each([
    ['no policy: any provider, any subject', record(), verified(), request(), 'forward'],
    [
      'a provider on the list',
      record({
        providers: ['projects/123456/locations/global/workloadIdentityPools/*/providers/*'],
      }),
      verified(),
      request(),
      'forward',
    ],
    [
      'a provider off the list',
      record({
        providers: ['projects/123456/locations/global/workloadIdentityPools/*/providers/*'],
      }),
      verified(),
      request(other),
      'refuse: cluster c1 may not exchange tokens against provider projects/999/',
    ],
    [
      'a subject matching a pattern',
      record({ subjects: ['system:serviceaccount:team-a:*'] }),
      verified(),
      request(),
      'forward',
    ],
    [
      'a subject of another namespace',
      record({ subjects: ['system:serviceaccount:team-a:*'] }),
      verified('system:serviceaccount:team-b:app'),
      request(),
      'refuse: "system:serviceaccount:team-b:app" may not exchange tokens through cluster c1',
    ],
    [
      'a provider refusal comes before a subject refusal',
      record({ providers: [provider.path], subjects: ['system:serviceaccount:x:*'] }),
      verified(),
      request(other),
      'refuse: cluster c1 may not exchange',
    ],
  ] as const)('%s', (_name, rec, token, req, expected) => {
    const decision = decideExchange({
      verified: token,
      record: rec,
      request: req,
      stsUrl: 'https://sts.example',
    });
    const shown = decision.kind === 'forward' ? 'forward' : `refuse: ${decision.error.message}`;
    expect(shown.startsWith(expected)).toBe(true);
  });

  it('forwards exactly the token-exchange form to the configured STS, with who it is for', () => {
    const decision = decideExchange({
      verified: verified(),
      record: record(),
      request: request(provider, 'https://www.googleapis.com/auth/cloud-platform'),
      stsUrl: 'https://sts.example',
    });
    expect(decision).toEqual({
      kind: 'forward',
      upstream: {
        endpoint: 'token',
        url: 'https://sts.example/v1/token',
        contentType: 'application/x-www-form-urlencoded',
        body: new URLSearchParams({
          grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
          audience: provider.audience,
          scope: 'https://www.googleapis.com/auth/cloud-platform',
          requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
          subject_token: 'header.payload.signature',
          subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
        }).toString(),
      },
      identity: { cluster: 'c1', subject, provider: provider.path },
    });
  });
});
