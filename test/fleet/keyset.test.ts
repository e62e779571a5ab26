import { describe, expect, it } from 'vitest';
import { planKeys, signingKey, type FleetKey } from '../../src/fleet/keyset.js';
import { LocalFleetKeys } from '../../src/fleet/local-keys.js';
import { createLogger } from '../../src/log/logger.js';
import { MemoryStore } from '../../src/registry/memory-store.js';

const settings = { rotationSeconds: 1000, leadSeconds: 100, retainSeconds: 50 };
const key = (kid: string, createdAt: number, signsFrom: number): FleetKey => ({
  kid,
  publicJwk: { kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig', kid, x: 'x', y: 'y' },
  createdAt,
  signsFrom,
});

describe('the fleet key rotation plan', () => {
  it('makes the first key signing at once', () => {
    expect(planKeys([], 5000, settings)).toEqual({ keep: [], newKeySignsFrom: 5000 });
  });

  it('adds the next key lead seconds before the period ends, signing when it ends', () => {
    const a = key('a', 0, 0);
    expect(planKeys([a], 899, settings).newKeySignsFrom).toBeNull();
    expect(planKeys([a], 900, settings).newKeySignsFrom).toBe(1000);
    // Late (the broker was down): the new key still waits its whole lead.
    expect(planKeys([a], 5000, settings).newKeySignsFrom).toBe(5100);
  });

  it('signs with the newest key whose time has come, and waits while one is pending', () => {
    const keys = [key('a', 0, 0), key('b', 900, 1000)];
    expect(signingKey(keys, 999)?.kid).toBe('a');
    expect(signingKey(keys, 1000)?.kid).toBe('b');
    expect(planKeys(keys, 950, settings)).toEqual({ keep: keys, newKeySignsFrom: null });
  });

  it('keeps a retired key retainSeconds after its successor took over, then drops it', () => {
    const keys = [key('a', 0, 0), key('b', 900, 1000)];
    expect(planKeys(keys, 1050, settings).keep.map((k) => k.kid)).toEqual(['a', 'b']);
    expect(planKeys(keys, 1051, settings).keep.map((k) => k.kid)).toEqual(['b']);
  });
});

describe('fleet keys shared by instances', () => {
  it('agree on one keyset when they start together on one store (compare-and-swap)', async () => {
    const store = new MemoryStore();
    const options = {
      store,
      issuer: 'https://idbridge.example/_fleet',
      rotation: { rotationSeconds: 86400, leadSeconds: 3600, retainSeconds: 600 },
      logger: createLogger(() => {}),
      now: () => 1_800_000_000_000,
    };
    const instances = Array.from({ length: 5 }, () => new LocalFleetKeys(options));
    const claims = {
      iss: options.issuer,
      sub: 'c:n:s',
      aud: 'aud',
      iat: 1,
      nbf: 1,
      exp: 2,
      cluster: 'c',
      namespace: 'n',
      service_account: 's',
    };
    const minted = await Promise.all(instances.map((instance) => instance.sign(claims)));
    expect(new Set(minted.map((m) => m.kid)).size).toBe(1);
    const docs = await Promise.all(instances.map((instance) => instance.documents()));
    expect(new Set(docs.map((d) => d.jwks.etag)).size).toBe(1);
  });
});
