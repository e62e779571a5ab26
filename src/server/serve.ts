import { collectDefaultMetrics, Registry } from 'prom-client';
import { brokerFromConfig } from '../broker/broker.js';
import { brokerNodeHandler } from '../broker/node-handler.js';
import { loadConfig, type Config } from '../config/config.js';
import { createApp } from '../http/app.js';
import { RegistryDocuments } from '../issuer/registry-documents.js';
import { createLogger, type Logger } from '../log/logger.js';
import { openStore, parseStoreLocation } from '../registry/open-store.js';
import { ClusterRegistry } from '../registry/registry.js';
import { installFromBase64 } from '../verify/from-base64.js';
import { resolveAdminToken } from './admin-token.js';
import { startNodeServer, type RunningServer } from './node-server.js';
import { bufferedWriter } from './stdout-sink.js';

export interface ServeOptions {
  config: Config;
  logger: Logger;
  /** Where the one-time admin token notice goes (stderr for the CLI). */
  announce: (text: string) => void;
}

/** `idbridge serve`: the issuer, the registration API and the STS broker in one process. */
export async function serve({ config, logger, announce }: ServeOptions): Promise<RunningServer & { adminToken: string }> {
  // jose decodes token segments with this standard method when present; Node 20 lacks it.
  installFromBase64();
  const store = await openStore(config.store);
  const location = parseStoreLocation(config.store);
  const admin = await resolveAdminToken(config.adminToken, location.kind === 'file' ? location.dir : undefined);
  if (admin.generated) {
    announce(
      `idbridge: admin token (shown once${admin.path ? `, kept in ${admin.path}` : ', not kept: the memory store forgets it on exit'}):\n\n    ${admin.token}\n\n` +
        `Use it as "Authorization: Bearer <token>" on /api/v1, or export IDBRIDGE_ADMIN_TOKEN.\n`,
    );
  }

  const registry = new ClusterRegistry(store, { publicUrl: config.publicUrl });
  const documents = new RegistryDocuments(store, {
    onRefreshError: (cluster, err) => logger.warn('document refresh failed; serving the cached copy', { cluster, error: (err as Error).message }),
  });
  registry.onChange((id) => documents.invalidate(id));

  const metrics = new Registry();
  collectDefaultMetrics({ register: metrics, prefix: 'idbridge_' });
  const broker = brokerFromConfig(config, registry, logger, metrics);
  const app = createApp({ registry, documents, adminToken: admin.token, logger, broker, metrics });
  const running = await startNodeServer({
    app,
    logger,
    host: config.host,
    port: config.port,
    peekDocuments: (cluster) => documents.peek(cluster),
    claim: brokerNodeHandler(broker, logger),
  });
  logger.info('listening', { url: running.url, publicUrl: config.publicUrl, store: store.description, stsUrl: config.stsUrl, iamCredentialsUrl: config.iamCredentialsUrl });
  void warnAboutForeignIssuers(registry, logger);
  return { ...running, adminToken: admin.token };
}

/** Records created under another IDBRIDGE_PUBLIC_URL would be served with the wrong issuer. */
async function warnAboutForeignIssuers(registry: ClusterRegistry, logger: Logger): Promise<void> {
  try {
    const foreign: string[] = [];
    let after: string | undefined;
    do {
      const page = await registry.list({ limit: 500, ...(after ? { after } : {}) });
      for (const { record } of page.records) if (record.issuer !== registry.issuerFor(record.id)) foreign.push(record.id);
      after = page.next;
    } while (after);
    if (foreign.length > 0) {
      logger.warn('clusters registered under a different IDBRIDGE_PUBLIC_URL: their issuer does not match the URL they are served under', {
        publicUrl: registry.publicUrl,
        clusters: foreign.slice(0, 10),
        count: foreign.length,
      });
    }
  } catch (err) {
    logger.warn('could not check registered issuers', { error: (err as Error).message });
  }
}

/** The CLI's serve: configuration from the environment and flags, logs on stdout, signals. */
export async function runServe(env: Record<string, string | undefined>, flags: { port?: string; host?: string; store?: string; publicUrl?: string }): Promise<number> {
  const config = loadConfig(env, {
    ...(flags.port !== undefined ? { PORT: flags.port } : {}),
    ...(flags.host !== undefined ? { HOST: flags.host } : {}),
    ...(flags.store !== undefined ? { IDBRIDGE_STORE: flags.store } : {}),
    ...(flags.publicUrl !== undefined ? { IDBRIDGE_PUBLIC_URL: flags.publicUrl } : {}),
  });
  const out = bufferedWriter((chunk) => process.stdout.write(chunk));
  const logger = createLogger(out.write, { level: config.logLevel });
  const running = await serve({ config, logger, announce: (text) => process.stderr.write(text) });

  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      logger.info('shutting down', { signal });
      running.close().then(() => {
        logger.info('stopped');
        out.flush();
        resolve(0);
      });
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}
