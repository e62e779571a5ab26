import { Hono } from 'hono';
import type { Registry } from 'prom-client';
import type { Broker } from '../broker/broker.js';
import { brokerRoutes } from '../broker/routes.js';
import type { DocumentSource } from '../issuer/document-source.js';
import { issuerRoutes } from '../issuer/routes.js';
import type { Logger } from '../log/logger.js';
import type { ClusterRegistry } from '../registry/registry.js';
import { handleError, notFoundHandler } from '../http/errors.js';
import { mountRoute } from '../http/hono-route.js';
import type { RouteDescriptor } from '../http/route.js';
import { limitBody } from '../http/json-body.js';
import { requestLog } from '../http/request-log.js';
import { routeTable, type RouteTable } from './routes.js';

export interface AppOptions {
  registry: ClusterRegistry;
  /** Where the issuer routes read documents (the registry's cache on serve and functions). */
  documents: DocumentSource;
  adminToken?: string;
  /** The audience a cluster's sync token must carry (Config.syncAudience). */
  syncAudience: string;
  logger: Logger;
  /** Log one line per request here (hosts whose platform already logs requests turn it off). */
  logRequests?: boolean;
  /** The STS broker (`/v1/token`, `/v1/introspect`, IAM Credentials paths), when this host runs one. */
  broker?: Broker;
  /** Served as Prometheus text on `/metrics` when given. */
  metrics?: Registry;
  /** The capabilities' descriptors, when the host also builds its fast path from them (else built here). */
  routes?: RouteTable;
}

/** The one hono app: health, the registration API, the public issuer routes and the broker. */
export function createApp(options: AppOptions): Hono {
  const app = new Hono();
  if (options.logRequests !== false) app.use(requestLog(options.logger));
  app.use('/api/*', limitBody());
  const routes = options.routes ?? routeTable(options);
  mountRoute(app, routes.health);
  mountRoute(app, routes.keys);
  for (const route of routes.admin) mountRoute(app, route as RouteDescriptor);
  app.route('/', issuerRoutes(options.documents, options.logger, routes.issuer));
  if (options.broker) app.route('/', brokerRoutes(options.broker, routes.broker));
  if (routes.metrics) mountRoute(app, routes.metrics);
  app.notFound(notFoundHandler);
  app.onError(handleError(options.logger));
  return app;
}
