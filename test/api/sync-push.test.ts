import { describe, expect, it } from 'vitest';
import {
  checkSignerKept,
  checkSignerOnRecord,
  signerOf,
  type KeyPusher,
} from '../../src/api/sync-push.js';
import type { ClusterRecord } from '../../src/registry/record.js';
import { SubjectTokenVerifier } from '../../src/verify/subject-token.js';
import { generateClusterKey, jwksOf, signKubeToken, type ClusterKey } from '../support/keys.js';

const at = '2026-11-22T12:00:00.000Z';
const issuer = 'https://issuer.example/c1';
const subject = 'system:serviceaccount:idbridge-sync:idbridge-sync';
const signer = generateClusterKey('RS256');
const other = generateClusterKey('ES256');

function record(keys: ClusterKey[], overrides: Partial<ClusterRecord> = {}): ClusterRecord {
  return {
    id: 'c1',
    issuer,
    syncSubject: subject,
    keys: keys.map((k) => ({ jwk: k.jwk, firstSeen: at, lastSeen: at })),
    keyEvents: [],
    createdAt: at,
    updatedAt: at,
    version: 1,
    ...overrides,
  };
}

async function pusher(on: ClusterRecord): Promise<Extract<KeyPusher, { kind: 'cluster' }>> {
  const token = await signKubeToken(signer, {
    issuer,
    audience: 'https://idbridge.example',
    namespace: 'idbridge-sync',
    serviceAccount: 'idbridge-sync',
  });
  const verified = await new SubjectTokenVerifier().verify(token, on, {
    audiences: ['https://idbridge.example'],
    subject,
  });
  return { kind: 'cluster', token: verified, signer: signerOf(on, verified) };
}

describe('sync push decisions', () => {
  it('accepts a JWKS that keeps the signing key, whatever else it adds or drops', async () => {
    const p = await pusher(record([signer, other]));
    expect(() => checkSignerKept(jwksOf(signer), p)).not.toThrow();
    expect(() =>
      checkSignerKept(jwksOf(other, signer, generateClusterKey('ES256')), p),
    ).not.toThrow();
  });

  it('refuses a JWKS without the signing key, or with other key material under its kid', async () => {
    const p = await pusher(record([signer, other]));
    expect(() => checkSignerKept(jwksOf(other), p)).toThrow(/lock cluster c1 out/);
    const impostor = { ...generateClusterKey('RS256'), kid: signer.kid };
    expect(() => checkSignerKept({ keys: [{ ...impostor.jwk, kid: signer.kid }] }, p)).toThrow(
      /lock cluster c1 out/,
    );
  });

  it('inside the compare-and-swap, refuses when an admin removed the signing key or changed the subject meanwhile', async () => {
    const before = record([signer, other]);
    const p = await pusher(before);
    expect(() => checkSignerOnRecord(before, p)).not.toThrow();
    expect(() => checkSignerOnRecord(record([other], { version: 2 }), p)).toThrow(
      /was removed from cluster c1 while the push was in flight/,
    );
    expect(() =>
      checkSignerOnRecord(
        record([signer, other], { version: 2, syncSubject: 'system:serviceaccount:ops:sync' }),
        p,
      ),
    ).toThrow(/sync subject changed/);
    expect(() =>
      checkSignerOnRecord(record([signer], { version: 2, issuer: 'https://other.example/c1' }), p),
    ).toThrow(/issuer changed/);
  });
});
