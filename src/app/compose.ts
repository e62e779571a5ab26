import type { Hono } from 'hono';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { type Broker, brokerFromConfig } from '../broker/broker.js';
import type { Config } from '../config/config.js';
import { fleetMinting, type FleetMinting } from '../broker/fleet-exchange.js';
import { WithFleetDocuments } from '../fleet/documents.js';
import { fleetSignerFromConfig } from '../fleet/from-config.js';
import { fleetIssuer } from '../fleet/paths.js';
import type { DocumentSource } from '../issuer/document-source.js';
import { RegistryDocuments } from '../issuer/registry-documents.js';
import { clusterRecords } from '../registry/record-cache.js';
import { installFromBase64 } from '../verify/from-base64.js';
import type { Logger } from '../log/logger.js';
import { ClusterRegistry } from '../registry/registry.js';
import type { ClusterStore } from '../registry/store.js';
import type { RouteDescriptor } from '../http/route.js';
import { createApp } from './app.js';
import { routesOf, routeTable } from './routes.js';

export interface HostApp {
  app: Hono;
  registry: ClusterRegistry;
  documents: RegistryDocuments;
  /** What the issuer routes serve: the registry's documents, and the fleet issuer's in fleet mode. */
  issuerDocuments: DocumentSource;
  broker: Broker;
  metrics: Registry;
  /** The descriptors the app's routes were generated from: the host's fast path uses the same. */
  routes: RouteDescriptor[];
  /** Stops what watches the store. */
  close(): void;
}

/**
 * What every host of the registration API builds the same way (`idbridge serve`, the Cloud
 * Function): the registry over its store, the issuer's document cache kept in step with this
 * process's writes, the STS broker, the metrics registry and the one hono app.
 */
export function composeHost(options: {
  config: Config;
  store: ClusterStore;
  adminToken?: string;
  logger: Logger;
  logRequests?: boolean;
}): HostApp {
  const { config, store, logger } = options;
  // jose decodes token segments with this standard method when present; Node 20 lacks it.
  installFromBase64();
  const registry = new ClusterRegistry(store, { publicUrl: config.publicUrl });
  // One cache of cluster records for the issuer and the broker: each record read and watched once.
  const records = clusterRecords(store, {
    onRefreshError: (cluster, err) =>
      logger.warn('cluster record refresh failed; serving the cached copy', {
        cluster,
        error: (err as Error).message,
      }),
  });
  registry.onChange((id) => records.invalidate(id));
  const documents = new RegistryDocuments(records);
  const metrics = new Registry();
  collectDefaultMetrics({ register: metrics, prefix: 'idbridge_' });
  // Fleet mode: one signer for the broker's mints and the fleet issuer's documents.
  let fleet: FleetMinting | undefined;
  let issuerDocuments: DocumentSource = documents;
  if (config.fleet) {
    const issuer = fleetIssuer(config.publicUrl);
    const signer = fleetSignerFromConfig(config.fleet, { store, issuer, logger });
    fleet = fleetMinting(config.fleet.provider, issuer, signer);
    issuerDocuments = new WithFleetDocuments(documents, signer);
  }
  const broker = brokerFromConfig(config, registry, logger, metrics, records, fleet);
  const routes = routeTable({
    registry,
    ...(options.adminToken ? { adminToken: options.adminToken } : {}),
    syncAudience: config.syncAudience,
    documents: issuerDocuments,
    broker,
    metrics,
    logger,
  });
  const app = createApp({
    routes,
    registry,
    documents: issuerDocuments,
    ...(options.adminToken ? { adminToken: options.adminToken } : {}),
    syncAudience: config.syncAudience,
    logger,
    ...(options.logRequests !== undefined ? { logRequests: options.logRequests } : {}),
    broker,
    metrics,
  });
  return {
    app,
    registry,
    documents,
    issuerDocuments,
    broker,
    metrics,
    routes: routesOf(routes),
    close: () => records.close(),
  };
}

/** Logs a store's background failure (the GCS store's document publishing) without secrets. */
export function logBackgroundError(logger: Logger): (what: string, err: unknown) => void {
  return (what, err) =>
    logger.warn('store background work failed; it is retried', {
      what,
      error: err instanceof Error ? err.message.split('\n')[0]!.slice(0, 300) : String(err),
    });
}
