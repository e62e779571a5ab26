import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminClient } from '../../src/admin-client/client.js';
import { DEFAULT_SYNC_SUBJECT } from '../../src/api/schemas.js';
import { runDoctor } from '../../src/doctor/doctor.js';
import { resolveTarget } from '../../src/doctor/target.js';
import type { PublicJwk } from '../../src/oidc/jwks.js';
import { FileStore } from '../../src/registry/file-store.js';
import type { ClusterRecord } from '../../src/registry/record.js';
import type { Check } from '../../src/report/report.js';
import { forgeRs256ForExponentOne, generateClusterKey, jwksOf } from '../support/keys.js';
import { startServe, tempDir, type ServeHarness } from '../support/serve.js';

/**
 * A record that already holds a degenerate RSA key (issue #10 item 1), written straight into the
 * store as a version before the RSA rule would have: the key is withheld from what is served,
 * trusted for nothing (a token forged for it is refused), and flagged by the API and doctor.
 */
describe('a stored record with an e = 1 key (written before the RSA rule)', () => {
  const good = generateClusterKey('RS256');
  if (good.jwk.kty !== 'RSA') throw new Error('unreachable');
  const forgeable: PublicJwk = { ...good.jwk, kid: 'forgeable', e: 'AQ' };
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let server: ServeHarness;
  let issuer: string;
  let stored: ClusterRecord;

  const admin = async (path: string) =>
    (
      await fetch(`${server.url}${path}`, {
        headers: { authorization: `Bearer ${server.adminToken}` },
      })
    ).json() as Promise<any>;

  beforeAll(async () => {
    dir = await tempDir();
    server = await startServe({ IDBRIDGE_STORE: `file:${dir.path}` });
    issuer = `${server.url}/legacy`;
    const at = new Date().toISOString();
    stored = {
      id: 'legacy',
      issuer,
      syncSubject: DEFAULT_SYNC_SUBJECT,
      keys: [good.jwk, forgeable].map((jwk) => ({ jwk, firstSeen: at, lastSeen: at })),
      keyEvents: [{ at, source: 'registration', added: [good.kid, 'forgeable'], removed: [] }],
      createdAt: at,
      updatedAt: at,
      version: 1,
    };
    await (await FileStore.open(dir.path)).put(stored, null);
  });
  afterAll(async () => {
    await server?.close();
    await dir?.remove();
  });

  it('is served with the unsafe key withheld from the JWKS and the discovery document', async () => {
    expect(await (await fetch(`${issuer}/openid/v1/jwks`)).json()).toEqual(jwksOf(good));
    const discovery = (await (
      await fetch(`${issuer}/.well-known/openid-configuration`)
    ).json()) as { id_token_signing_alg_values_supported: string[] };
    expect(discovery.id_token_signing_alg_values_supported).toEqual(['RS256']);
  });

  it('refuses a sync push signed with a forgery under the e = 1 key, and changes nothing', async () => {
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      iss: issuer,
      sub: DEFAULT_SYNC_SUBJECT,
      aud: [server.url],
      iat: now,
      nbf: now,
      exp: now + 600,
    };
    const forged = forgeRs256ForExponentOne(256, { alg: 'RS256', kid: 'forgeable' }, claims);
    const attacker = generateClusterKey('RS256');
    const res = await fetch(`${server.url}/api/v1/clusters/legacy/keys`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${forged}`, 'content-type': 'application/json' },
      body: JSON.stringify({ jwks: { keys: [forgeable, attacker.jwk] } }),
    });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(
      /does not verify with the keys on record for cluster "legacy"/,
    );
    expect((await admin('/api/v1/clusters/legacy')).cluster.version).toBe(1);
    expect(await (await fetch(`${issuer}/openid/v1/jwks`)).json()).toEqual(jwksOf(good));
  });

  it('is flagged by the API, with the reason', async () => {
    const { cluster } = await admin('/api/v1/clusters/legacy');
    expect(cluster.keys.map((k: { kid: string; unsafe?: string }) => [k.kid, k.unsafe])).toEqual([
      [good.kid, undefined],
      ['forgeable', expect.stringMatching(/public exponent e is 1: .*ANYONE CAN FORGE TOKENS/)],
    ]);
  });

  it('is reported by doctor --cluster as an unsafe, forgeable key, and not as a stale cache', async () => {
    const target = await resolveTarget(
      { cluster: 'legacy', api: server.url, adminToken: server.adminToken },
      (api, token) => new AdminClient({ api, token }),
    );
    const checks: Check[] = await runDoctor(
      {
        issuer: target.issuer,
        ...(target.registeredKids ? { registeredKids: target.registeredKids } : {}),
        ...(target.withheldKeys ? { withheldKeys: target.withheldKeys } : {}),
      },
      { fetch, timeoutMs: 5000, clock: () => performance.now(), now: Date.now },
    );
    const unsafe = checks.find((c) => c.id === 'registry.unsafe_keys');
    expect(unsafe).toMatchObject({
      verdict: 'fail',
      summary: expect.stringMatching(/1 UNSAFE key .*forgeable/),
    });
    expect(unsafe!.details).toEqual([
      expect.stringMatching(/kid "forgeable": public exponent e is 1: .*ANYONE CAN FORGE TOKENS/),
    ]);
    expect(checks.find((c) => c.id === 'jwks.registered')?.verdict).toBe('pass');
  });
});
