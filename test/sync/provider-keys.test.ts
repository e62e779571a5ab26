import { describe, expect, it } from 'vitest';
import { planProviderKeys } from '../../src/sync/provider-keys.js';
import { generateClusterKey } from '../support/keys.js';

/** The wif-provider target's decision, as a pure function of the provider's keys and the cluster's. */
describe('planProviderKeys', () => {
  const [a, b, c] = [
    generateClusterKey('ES256'),
    generateClusterKey('ES256'),
    generateClusterKey('ES256'),
  ];

  it('writes nothing when the sets are equal, order aside', () => {
    expect(planProviderKeys([a.jwk, b.jwk], [b.jwk, a.jwk])).toEqual({
      added: [],
      removed: [],
      deferred: [],
    });
  });

  it('adds alone, and removes alone', () => {
    expect(planProviderKeys([a.jwk], [a.jwk, b.jwk])).toEqual({
      write: [a.jwk, b.jwk],
      added: [b.kid],
      removed: [],
      deferred: [],
    });
    expect(planProviderKeys([a.jwk, b.jwk], [b.jwk])).toEqual({
      write: [b.jwk],
      added: [],
      removed: [a.kid],
      deferred: [],
    });
  });

  it('never adds and removes at once: the old key waits for the next write', () => {
    expect(planProviderKeys([a.jwk, b.jwk], [a.jwk, c.jwk])).toEqual({
      write: [a.jwk, c.jwk, b.jwk],
      added: [c.kid],
      removed: [],
      deferred: [b.kid],
    });
  });

  it('compares key material, not kids: a kid naming another key is replaced at once', () => {
    const impostor = { ...b.jwk, kid: a.kid };
    expect(planProviderKeys([a.jwk], [impostor])).toEqual({
      write: [impostor],
      added: [a.kid],
      removed: [a.kid],
      deferred: [],
    });
  });
});
