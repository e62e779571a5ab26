import { createServer } from 'node:net';
import { loadConfig, withListenPort, type Config } from '../config/config.js';
import { composeHost, logBackgroundError } from '../http/host.js';
import { createLogger, type Logger } from '../log/logger.js';
import { openStore, parseStoreLocation } from '../registry/open-store.js';
import type { ClusterRegistry } from '../registry/registry.js';
import { brokerNodeHandler } from '../broker/node-handler.js';
import { resolveAdminToken } from './admin-token.js';
import { startNodeServer, type RunningServer } from './node-server.js';
import { bufferedWriter } from './stdout-sink.js';
import { untilSignal } from './until-signal.js';

export interface ServeOptions {
  config: Config;
  logger: Logger;
  /** Where the one-time admin token notice goes (stderr for the CLI). */
  announce: (text: string) => void;
}

/** `idbridge serve`: the issuer, the registration API and the STS broker in one process. */
export async function serve({ config: configured, logger, announce }: ServeOptions): Promise<RunningServer & { adminToken: string }> {
  // With PORT=0 the issuer URL must carry the port actually chosen, so choose it first.
  const config = configured.port === 0 && configured.publicUrlFromPort ? withListenPort(configured, await freeLoopbackPort(configured.host)) : configured;
  const store = await openStore(config.store, { gcs: config.gcs, onBackgroundError: logBackgroundError(logger) });
  const location = parseStoreLocation(config.store);
  const admin = await resolveAdminToken(config.adminToken, location.kind === 'file' ? location.dir : undefined);
  if (admin.generated) {
    announce(
      `idbridge: admin token (shown once${admin.path ? `, kept in ${admin.path}` : ', not kept: set IDBRIDGE_ADMIN_TOKEN to keep the same token across restarts'}):\n\n    ${admin.token}\n\n` +
        `Use it as "Authorization: Bearer <token>" on /api/v1, or export IDBRIDGE_ADMIN_TOKEN.\n`,
    );
  }

  const host = composeHost({ config, store, adminToken: admin.token, logger });
  const { app, registry, documents, broker } = host;
  const running = await startNodeServer({
    app,
    logger,
    host: config.host,
    port: config.port,
    peekDocuments: (cluster) => documents.peek(cluster),
    claim: brokerNodeHandler(broker, logger),
    drainMs: config.shutdownTimeoutMs,
  });
  logger.info('listening', { url: running.url, publicUrl: config.publicUrl, store: store.description, stsUrl: config.stsUrl, iamCredentialsUrl: config.iamCredentialsUrl });
  void warnAboutForeignIssuers(registry, logger);
  return {
    ...running,
    adminToken: admin.token,
    close: async () => {
      await running.close();
      host.close();
    },
  };
}

function freeLoopbackPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
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
export async function runServe(env: Record<string, string | undefined>, flags: { port?: string; host?: string; store?: string; publicUrl?: string; brokerRelay?: string }): Promise<number> {
  const config = loadConfig(env, {
    ...(flags.port !== undefined ? { PORT: flags.port } : {}),
    ...(flags.host !== undefined ? { HOST: flags.host } : {}),
    ...(flags.store !== undefined ? { IDBRIDGE_STORE: flags.store } : {}),
    ...(flags.publicUrl !== undefined ? { IDBRIDGE_PUBLIC_URL: flags.publicUrl } : {}),
    ...(flags.brokerRelay !== undefined ? { IDBRIDGE_BROKER_RELAY: flags.brokerRelay } : {}),
  });
  const out = bufferedWriter((chunk) => process.stdout.write(chunk));
  const logger = createLogger(out.write, { level: config.logLevel });
  const running = await serve({ config, logger, announce: (text) => process.stderr.write(text) });
  return untilSignal(running, logger, out.flush);
}
