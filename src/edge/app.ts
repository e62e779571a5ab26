import { Hono } from 'hono';
import { IdbridgeError } from '../errors.js';
import { errorResponse, handleError, truncate } from '../http/errors.js';
import { matchDocumentPath } from '../oidc/paths.js';
import { answerDocument } from '../issuer/respond.js';
import { issuerRoutes } from '../issuer/routes.js';
import type { Logger } from '../log/logger.js';
import type { EdgeDocuments } from './edge-documents.js';
import { statusRoutes, type StatusPageOptions } from './status-page.js';

export interface EdgeAppOptions extends StatusPageOptions {
  documents: EdgeDocuments;
  logger: Logger;
}

/** The Worker's app: the same public issuer routes as `idbridge serve`, and the status page. */
export function createEdgeApp(options: EdgeAppOptions): Hono {
  const app = new Hono();
  app.route('/', issuerRoutes(options.documents));
  app.route('/', statusRoutes(options.documents, options));
  app.notFound((c) => errorResponse(
    c,
    new IdbridgeError('not_found', `no route ${truncate(c.req.method, 16)} ${truncate(c.req.path)} here; the edge serves /{cluster}/.well-known/openid-configuration, /{cluster}/openid/v1/jwks and its status page at / and /{cluster}`),
  ));
  app.onError(handleError(options.logger));
  return app;
}

/**
 * The Worker's fetch: a GET or HEAD of a document this isolate holds fresh is answered straight
 * from memory, with the same decision (answerDocument) and precomputed headers the hono route
 * uses, as `idbridge serve`'s Node fast path does; everything else goes through the app.
 */
export function edgeFetch(app: Hono, documents: EdgeDocuments): (request: Request) => Response | Promise<Response> {
  return (request) => {
    if (request.method === 'GET' || request.method === 'HEAD') {
      const match = matchDocumentPath(pathOf(request.url));
      const docs = match && documents.peek(match.cluster);
      if (docs) {
        const answer = answerDocument(match.kind === 'jwks' ? docs.jwks : docs.discovery, request.method, request.headers.get('if-none-match'));
        return new Response(answer.body as ConstructorParameters<typeof Response>[0], { status: answer.status, headers: answer.headers });
      }
    }
    return app.fetch(request);
  };
}

/** The path of an absolute request URL (as the runtime normalized it), without the query. */
function pathOf(url: string): string {
  const start = url.indexOf('/', url.indexOf('//') + 2);
  if (start === -1) return '/';
  const query = url.indexOf('?', start);
  const hash = url.indexOf('#', start);
  const end = query === -1 ? (hash === -1 ? url.length : hash) : query;
  return url.slice(start, end);
}
