import { Hono, type Context } from 'hono';
import { IdbridgeError } from '../errors.js';
import { errorResponse, truncate } from '../http/errors.js';
import { isClusterId } from '../registry/cluster-id.js';
import type { DocumentSource } from './document-source.js';
import { DISCOVERY_PATH, JWKS_PATH, type DocumentKind } from '../oidc/paths.js';
import { answerDocument } from './respond.js';

const ALLOWED = 'GET, HEAD, OPTIONS';

/**
 * The public issuer routes, identical on every host: GET and HEAD of a cluster's discovery
 * document and JWKS, with ETag/304, CORS and cache headers; 405 for any other method.
 */
export function issuerRoutes(source: DocumentSource): Hono {
  const app = new Hono();
  for (const [path, kind] of [[DISCOVERY_PATH, 'discovery'], [JWKS_PATH, 'jwks']] as const) {
    const route = `/:cluster${path}`;
    // hono answers HEAD with the GET handler and drops the body, keeping the headers.
    app.get(route, (c) => serveDocument(c, source, kind));
    app.options(route, (c) => c.body(null, 204, {
      allow: ALLOWED,
      'access-control-allow-origin': '*',
      'access-control-allow-methods': ALLOWED,
      'access-control-allow-headers': 'if-none-match',
      'access-control-max-age': '86400',
    }));
    app.all(route, (c) => errorResponse(
      c,
      new IdbridgeError('method_not_allowed', `${truncate(c.req.method, 16)} is not allowed on a public issuer document; use GET or HEAD`),
      { allow: ALLOWED },
    ));
  }
  return app;
}

async function serveDocument(c: Context, source: DocumentSource, kind: DocumentKind): Promise<Response> {
  const cluster = c.req.param('cluster') ?? '';
  const docs = isClusterId(cluster) ? await source.documents(cluster) : null;
  if (!docs) {
    const hint = isClusterId(cluster)
      ? 'register it with POST /api/v1/clusters and publish its keys (jwks at registration or idbridge sync)'
      : 'cluster ids are lowercase DNS labels (a-z, 0-9, "-")';
    return errorResponse(c, new IdbridgeError('cluster_not_found', `no cluster ${JSON.stringify(truncate(cluster, 80))} is published here; ${hint}`), {
      'access-control-allow-origin': '*',
      'cache-control': 'no-store',
    });
  }
  const answer = answerDocument(kind === 'jwks' ? docs.jwks : docs.discovery, c.req.method, c.req.header('if-none-match'));
  return new Response(answer.body as ConstructorParameters<typeof Response>[0], { status: answer.status, headers: answer.headers });
}
