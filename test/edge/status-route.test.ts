import { describe, expect, it } from 'vitest';
import { EdgeDocuments } from '../../src/edge/edge-documents.js';
import { parseOrigin } from '../../src/edge/origin.js';
import { statusRoute } from '../../src/edge/status-page.js';
import { silentLogger } from '../../src/log/logger.js';

/** The status page's descriptor over an origin that has published nothing. */
function emptyEdge() {
  const documents = new EdgeDocuments({
    origin: parseOrigin('https://origin.example', 'https://storage.googleapis.com'),
    publicUrl: 'https://edge.example',
    policy: { freshMs: 0, maxStaleMs: 86_400_000, originTimeoutMs: 2000 },
    logger: silentLogger,
    fetch: async () => new Response('{"error":"not found"}', { status: 404 }),
  });
  return statusRoute(documents, { statusClusters: [], originKind: 'idbridge' }, silentLogger);
}

describe('edge status page as a descriptor', () => {
  it('claims / and one decoded segment, nothing deeper', () => {
    const route = emptyEdge();
    expect(route.match('/')).toEqual({ cluster: null });
    expect(route.match('/c%31')).toEqual({ cluster: 'c1' });
    expect(route.match('/c1/openid/v1/jwks')).toBeNull();
  });

  it('decides a plain HTML answer with its headers: 200 for the overview, 404 for an unknown cluster', async () => {
    const route = emptyEdge();
    const request = (path: string) => ({
      method: 'GET',
      path,
      params: route.match(path)!,
      header: () => undefined,
      body: '',
    });
    const overview = await route.decide(request('/'));
    expect(overview.status).toBe(200);
    expect(overview.headers).toMatchObject({
      'content-type': 'text/html; charset=UTF-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    });
    expect(overview.body).toMatch(/^<!doctype html>/);
    const unknown = await route.decide(request('/nope'));
    expect(unknown.status).toBe(404);
    expect(unknown.body).toContain('No cluster &quot;nope&quot; is published here');
  });
});
