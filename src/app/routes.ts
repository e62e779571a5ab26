import type { Broker } from '../broker/broker.js';
import { brokerDescriptors } from '../broker/routes.js';
import type { RouteDescriptor } from '../http/route.js';
import type { DocumentSource } from '../issuer/document-source.js';
import { issuerRoute } from '../issuer/routes.js';
import type { Logger } from '../log/logger.js';

/** The descriptors of the capabilities one app serves: hono routes and fast paths are built from these. */
export interface RouteTable {
  issuer: ReturnType<typeof issuerRoute>;
  broker?: ReturnType<typeof brokerDescriptors>;
}

export function routeTable(options: { documents: DocumentSource; broker?: Broker; logger: Logger }): RouteTable {
  return {
    issuer: issuerRoute(options.documents, options.logger),
    ...(options.broker ? { broker: brokerDescriptors(options.broker) } : {}),
  };
}

/** Every descriptor of the table, in the order the app mounts them. */
export function routesOf(table: RouteTable): RouteDescriptor[] {
  return [table.issuer as RouteDescriptor, ...((table.broker ?? []) as RouteDescriptor[])];
}
