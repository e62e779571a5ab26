import { describe, expect, it } from 'vitest';
import { createEdgeApp } from '../../src/edge/app.js';
import { EdgeDocuments } from '../../src/edge/edge-documents.js';
import { parseOrigin } from '../../src/edge/origin.js';
import { silentLogger } from '../../src/log/logger.js';
import { buildDiscovery } from '../../src/oidc/discovery.js';
import { generateClusterKey, jwksOf } from '../support/keys.js';

/**
 * The status page at / may list 50 clusters, but one Worker request may make only 50
 * subrequests on the free plan: it revalidates at most 20 clusters with the origin per page.
 */
describe('edge status page: origin fetches per request', () => {
  it('revalidates at most 20 clusters (40 origin fetches) for one page, however many are listed', async () => {
    const key = generateClusterKey();
    const publicUrl = 'https://edge.example';
    const ids = Array.from({ length: 30 }, (_, i) => `c${i}`);
    let fetches = 0;
    const origin = parseOrigin('https://origin.example', 'https://storage.googleapis.com');
    const documents = new EdgeDocuments({
      origin,
      publicUrl,
      policy: { freshMs: 0, maxStaleMs: 86_400_000, originTimeoutMs: 2000 },
      logger: silentLogger,
      fetch: async (input) => {
        fetches++;
        const { pathname } = new URL(input);
        const cluster = pathname.split('/')[1]!;
        const body = pathname.endsWith('/openid/v1/jwks')
          ? jwksOf(key)
          : buildDiscovery(`${publicUrl}/${cluster}`, [key.jwk]);
        return Response.json(body, { headers: { etag: `"${cluster}"` } });
      },
    });
    const app = createEdgeApp({
      documents,
      logger: silentLogger,
      statusClusters: ids,
      originKind: origin.kind,
    });

    const first = await (await app.request('/')).text();
    expect(fetches).toBe(40);
    expect(first.match(/<section class="cluster/g)).toHaveLength(20);

    // Every cluster a request brought in is listed afterwards, still with at most 40 fetches a page.
    for (const id of ids) await app.request(`/${id}/openid/v1/jwks`);
    fetches = 0;
    const second = await (await app.request('/')).text();
    expect(fetches).toBe(40);
    expect(second.match(/<section class="cluster/g)).toHaveLength(30);
  });
});
