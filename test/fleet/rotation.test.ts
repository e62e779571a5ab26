import { Hono } from 'hono';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseProvider } from '../../src/credentials/credential-config.js';
import { FLEET_TOKEN_LIFETIME_SECONDS, type FleetClaims } from '../../src/fleet/claims.js';
import { WithFleetDocuments } from '../../src/fleet/documents.js';
import { FLEET_KEYS_RECORD } from '../../src/fleet/keyset.js';
import { LocalFleetKeys } from '../../src/fleet/local-keys.js';
import { issuerRoutes } from '../../src/issuer/routes.js';
import { createLogger } from '../../src/log/logger.js';
import { MemoryStore } from '../../src/registry/memory-store.js';
import { startFakeGoogle, type FakeGoogle } from '../fakes/google.js';
import { serveOnLoopback } from '../support/net.js';
import { fleetAttributes, FLEET_PROVIDER } from './stack.js';
import { postStsExchange } from '../support/sts.js';

const ROTATION = 3600;
const LEAD = 600;
const STEP = 120;
const provider = parseProvider(FLEET_PROVIDER);

/**
 * Key rotation in fleet mode on an injected clock: two broker instances share one store, one of
 * them serves the fleet issuer's documents, and the fake Google validates what both mint through
 * those documents over HTTP. Tokens minted before, during and after each rotation, exchanged at
 * once and near the end of their lifetime, all validate; no exchange fails during a switch.
 */
describe('fleet key rotation', () => {
  let clock = Date.UTC(2026, 11, 1, 12) as number;
  const now = () => clock;
  const store = new MemoryStore();
  const logs: string[] = [];
  const logger = createLogger((line) => logs.push(line));
  let issuer: { url: string; close(): Promise<void> };
  let google: FakeGoogle;
  let instances: LocalFleetKeys[];
  beforeAll(async () => {
    const served: { source?: WithFleetDocuments } = {};
    const app = new Hono();
    app.all('*', (c) => issuerRoutes(served.source!, logger).fetch(c.req.raw));
    issuer = await serveOnLoopback(app);
    const options = {
      store,
      issuer: `${issuer.url}/_fleet`,
      rotation: { rotationSeconds: ROTATION, leadSeconds: LEAD, retainSeconds: 600 },
      now,
      logger,
    };
    instances = [new LocalFleetKeys(options), new LocalFleetKeys(options)];
    served.source = new WithFleetDocuments({ documents: async () => null }, instances[0]!);
    google = await startFakeGoogle({ now });
    google.providers.push({
      path: provider.path,
      issuerUri: `${issuer.url}/_fleet`,
      attributeMapping: fleetAttributes,
    });
  });
  afterAll(async () => {
    await issuer?.close();
    await google?.close();
  });

  function claims(n: number): FleetClaims {
    const iat = Math.floor(clock / 1000);
    return {
      iss: `${issuer.url}/_fleet`,
      sub: `c1:apps:web-${n}`,
      aud: provider.audience,
      iat,
      nbf: iat,
      exp: iat + FLEET_TOKEN_LIFETIME_SECONDS,
      cluster: 'c1',
      namespace: 'apps',
      service_account: `web-${n}`,
    };
  }

  async function exchange(token: string): Promise<number> {
    const res = await postStsExchange(google.url, token, provider.audience);
    return res.status;
  }

  it('publishes each new key well before it signs and keeps old ones until their tokens expired', async () => {
    const failures: string[] = [];
    const firstPublished = new Map<string, number>();
    const firstSigned = new Map<string, number>();
    let older: Array<{ token: string; at: number }> = [];
    const end = clock + 3 * ROTATION * 1000;
    let n = 0;
    while (clock < end) {
      const jwks = (await (await fetch(`${issuer.url}/_fleet/openid/v1/jwks`)).json()) as {
        keys: Array<{ kid: string }>;
      };
      for (const key of jwks.keys)
        if (!firstPublished.has(key.kid)) firstPublished.set(key.kid, clock);
      const minted: Array<{ token: string; at: number }> = [];
      for (const instance of instances) {
        const { token, kid } = await instance.sign(claims(n++));
        expect(decodeProtectedHeader(token).kid).toBe(kid);
        if (!firstSigned.has(kid)) firstSigned.set(kid, clock);
        minted.push({ token, at: clock });
      }
      // Every token fresh, and every token minted 4 minutes ago (near the end of its 5).
      for (const { token, at } of [...minted, ...older.filter((t) => clock - t.at === 240_000)]) {
        const status = await exchange(token);
        if (status !== 200) failures.push(`minted at +${(at - end) / 1000} s: ${status}`);
      }
      older = [...older.filter((t) => clock - t.at < 240_000), ...minted];
      clock += STEP * 1000;
    }
    expect(failures).toEqual([]);
    // Three rotation periods: the first key and at least two successors signed.
    expect(firstSigned.size).toBeGreaterThanOrEqual(3);
    const [first, ...successors] = [...firstSigned.keys()];
    expect(first).toBeDefined();
    for (const kid of successors) {
      const lead = firstSigned.get(kid)! - firstPublished.get(kid)!;
      expect(lead).toBeGreaterThanOrEqual((LEAD - STEP) * 1000);
    }

    // Old keys went: the stored keyset never grows without bound.
    const stored = JSON.parse((await store.getPrivate(FLEET_KEYS_RECORD))!.value) as {
      keys: unknown[];
    };
    expect(stored.keys.length).toBeLessThanOrEqual(3);
  }, 180_000);

  it('never logs a private key', () => {
    expect(logs.join('\n')).not.toMatch(/"d":/);
  });
});
