import { describe, expect, it } from 'vitest';
import { createEdgeApp } from '../../src/edge/app.js';
import type { ClusterState } from '../../src/edge/cluster-state.js';
import { EdgeDocuments } from '../../src/edge/edge-documents.js';
import { parseOrigin } from '../../src/edge/origin.js';
import { silentLogger } from '../../src/log/logger.js';
import { buildDiscovery } from '../../src/oidc/discovery.js';
import type { PublicJwk } from '../../src/oidc/jwks.js';
import { generateClusterKey, jwksOf } from '../support/keys.js';

/**
 * Degenerate RSA keys at the edge (issue #10 item 1): an origin answer carrying one is refused,
 * and a copy that already holds one (cached by an older version) is served with it withheld and
 * flagged on the status page.
 */
describe('edge: RSA keys that fail the RSA rule', () => {
  const good = generateClusterKey('RS256');
  if (good.jwk.kty !== 'RSA') throw new Error('unreachable');
  const forgeable: PublicJwk = { ...good.jwk, kid: 'forgeable', e: 'AQ' };
  const publicUrl = 'https://edge.example';
  const origin = parseOrigin('https://origin.example', 'https://storage.googleapis.com');
  const now = 1_800_000_000_000;
  const policy = { freshMs: 0, maxStaleMs: 86_400_000, originTimeoutMs: 2000 };

  function edge(fetch: (input: string) => Promise<Response>, shared?: ClusterState) {
    const documents = new EdgeDocuments({
      origin,
      publicUrl,
      policy,
      logger: silentLogger,
      now: () => now,
      fetch,
      ...(shared ? { shared: { get: async () => shared, put: async () => {} } } : {}),
    });
    return createEdgeApp({
      documents,
      logger: silentLogger,
      statusClusters: ['c1'],
      originKind: origin.kind,
      now: () => now,
    });
  }

  it('refuses an origin answer that carries an e = 1 key, and says why on the status page', async () => {
    const app = edge(async (input) => {
      const { pathname } = new URL(input);
      return Response.json(
        pathname.endsWith('/openid/v1/jwks')
          ? { keys: [good.jwk, forgeable] }
          : buildDiscovery(`${publicUrl}/c1`, [good.jwk]),
      );
    });
    const jwks = await app.request('/c1/openid/v1/jwks');
    expect(jwks.status).toBe(502);
    expect(await jwks.text()).not.toContain('"forgeable"');
    const page = await (await app.request('/c1')).text();
    expect(page).toMatch(/keys\[1\]: unsafe RSA key: public exponent e is 1/);
  });

  it('serves a copy that already holds an e = 1 key with that key withheld, and flags it', async () => {
    const cached: ClusterState = {
      cluster: 'c1',
      copy: {
        keys: [good.jwk, forgeable],
        originIssuer: `${publicUrl}/c1`,
        etags: { discovery: '"d"', jwks: '"j"' },
        changedAt: { discovery: now - 5000, jwks: now - 5000 },
      },
      confirmedAt: now - 5000,
      checkedAt: now - 5000,
      fault: null,
    };
    // The origin is down, so the edge serves the copy its location already holds.
    const app = edge(async () => {
      throw new TypeError('fetch failed');
    }, cached);
    const jwks = await app.request('/c1/openid/v1/jwks');
    expect(jwks.status).toBe(200);
    expect(await jwks.json()).toEqual(jwksOf(good));
    const page = await (await app.request('/c1')).text();
    expect(page).toMatch(
      /key &quot;forgeable&quot; is on record but WITHHELD from the published JWKS and never trusted, because it is unsafe: public exponent e is 1/,
    );
    expect(page).toContain(good.kid);
  });
});
