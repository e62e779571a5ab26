import type { Registry } from 'prom-client';
import { adminDescriptors } from '../api/admin-routes.js';
import { keysRoute } from '../api/keys-route.js';
import type { Broker } from '../broker/broker.js';
import { brokerDescriptors } from '../broker/routes.js';
import { healthRoute } from '../http/health.js';
import { metricsRoute } from '../http/metrics.js';
import type { RouteDescriptor } from '../http/route.js';
import type { DocumentSource } from '../issuer/document-source.js';
import { issuerRoute } from '../issuer/routes.js';
import type { Logger } from '../log/logger.js';
import type { ClusterRegistry } from '../registry/registry.js';

/** The descriptors of the capabilities one app serves: hono routes and fast paths are built from these. */
export interface RouteTable {
  health: ReturnType<typeof healthRoute>;
  keys: ReturnType<typeof keysRoute>;
  admin: ReturnType<typeof adminDescriptors>;
  issuer: ReturnType<typeof issuerRoute>;
  broker?: ReturnType<typeof brokerDescriptors>;
  metrics?: ReturnType<typeof metricsRoute>;
}

export interface RouteTableOptions {
  registry: ClusterRegistry;
  adminToken?: string;
  /** The audience a cluster's sync token must carry (Config.syncAudience). */
  syncAudience: string;
  documents: DocumentSource;
  broker?: Broker;
  metrics?: Registry;
  logger: Logger;
}

export function routeTable(options: RouteTableOptions): RouteTable {
  return {
    health: healthRoute(() => options.registry.store.ping()),
    keys: keysRoute({
      registry: options.registry,
      adminToken: options.adminToken,
      syncAudience: options.syncAudience,
      logger: options.logger,
    }),
    admin: adminDescriptors(options.registry, options.adminToken, options.logger),
    issuer: issuerRoute(options.documents, options.logger),
    ...(options.broker ? { broker: brokerDescriptors(options.broker) } : {}),
    ...(options.metrics ? { metrics: metricsRoute(options.metrics) } : {}),
  };
}

/** Every descriptor of the table, in the order the app mounts them. */
export function routesOf(table: RouteTable): RouteDescriptor[] {
  return [
    table.health as RouteDescriptor,
    table.keys as RouteDescriptor,
    ...(table.admin as RouteDescriptor[]),
    table.issuer as RouteDescriptor,
    ...((table.broker ?? []) as RouteDescriptor[]),
    ...(table.metrics ? [table.metrics as RouteDescriptor] : []),
  ];
}
