import { Hono } from 'hono';
import { IdbridgeError } from '../errors.js';
import { errorResponse, handleError, truncate } from '../http/errors.js';
import { type issuerRoute, issuerRoutes } from '../issuer/routes.js';
import type { Logger } from '../log/logger.js';
import type { EdgeDocuments } from './edge-documents.js';
import { statusRoutes, type StatusPageOptions } from './status-page.js';

export interface EdgeAppOptions extends StatusPageOptions {
  documents: EdgeDocuments;
  logger: Logger;
  /** The issuer's descriptor, when the host also builds its fast path from it (else built here). */
  issuer?: ReturnType<typeof issuerRoute>;
}

/** The Worker's app: the same public issuer routes as `idbridge serve`, and the status page. */
export function createEdgeApp(options: EdgeAppOptions): Hono {
  const app = new Hono();
  app.route('/', issuerRoutes(options.documents, options.logger, options.issuer));
  app.route('/', statusRoutes(options.documents, options, options.logger));
  app.notFound((c) =>
    errorResponse(
      c,
      new IdbridgeError(
        'not_found',
        `no route ${truncate(c.req.method, 16)} ${truncate(c.req.path)} here; the edge serves /{cluster}/.well-known/openid-configuration, /{cluster}/openid/v1/jwks, the fleet issuer's /_fleet/.well-known/openid-configuration and /_fleet/openid/v1/jwks, and its status page at / and /{cluster}`,
      ),
    ),
  );
  app.onError(handleError(options.logger));
  return app;
}
