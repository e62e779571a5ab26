import { describe, expect, it } from 'vitest';
import { mergeKeys } from '../../src/registry/keys.js';
import { generateClusterKey } from '../support/keys.js';

const a = generateClusterKey('RS256');
const b = generateClusterKey('ES256');
const t0 = '2026-01-01T00:00:00.000Z';
const t1 = '2026-02-01T00:00:00.000Z';

describe('mergeKeys', () => {
  const existing = [{ jwk: a.jwk, firstSeen: t0, lastSeen: t0 }];

  it('keeps first-seen times of kept keys and stamps new ones', () => {
    const change = mergeKeys(existing, [a.jwk, b.jwk], t1);
    expect(change).toMatchObject({ added: [b.kid], removed: [], changed: true });
    expect(change.keys).toEqual([
      { jwk: a.jwk, firstSeen: t0, lastSeen: t1 },
      { jwk: b.jwk, firstSeen: t1, lastSeen: t1 },
    ]);
  });

  it('reports removals', () => {
    expect(mergeKeys(existing, [b.jwk], t1)).toMatchObject({
      added: [b.kid],
      removed: [a.kid],
      changed: true,
    });
  });

  it('sees no change when the same keys come back, in any order', () => {
    const two = mergeKeys(existing, [a.jwk, b.jwk], t1).keys;
    expect(mergeKeys(two, [b.jwk, a.jwk], t1).changed).toBe(false);
  });

  it('treats a reused kid with different key material as a replacement', () => {
    const impostor = { ...b.jwk, kid: a.kid };
    expect(mergeKeys(existing, [impostor], t1)).toMatchObject({
      added: [a.kid],
      removed: [a.kid],
      changed: true,
    });
  });
});
