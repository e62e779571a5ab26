import { createServer } from 'node:net';
import { join } from 'node:path';
import { loadConfig, withListenPort, type Config } from '../../config/config.js';
import { IdbridgeError } from '../../errors.js';
import { composeHost, logBackgroundError } from '../../app/compose.js';
import { createLogger, type Logger } from '../../log/logger.js';
import { openStore, parseStoreLocation } from '../../registry/open-store.js';
import type { ClusterRegistry } from '../../registry/registry.js';
import { resolveAdminToken } from './admin-token.js';
import { nodeFastPath } from './fast-path.js';
import { startNodeServer, type RunningServer } from './node-server.js';
import { ensureLocalTls, trustInstructions } from './local-tls.js';
import { bufferedWriter } from './stdout-sink.js';
import { loadTlsMaterial } from '../../webhook/tls.js';
import { untilSignal } from './until-signal.js';

export interface ServeOptions {
  config: Config;
  logger: Logger;
  /** Where the one-time admin token notice goes (stderr for the CLI). */
  announce: (text: string) => void;
  /** Answer the fast routes before hono (default); the benchmarks turn it off to measure what it buys. */
  fastPaths?: boolean;
}

/** `idbridge serve`: the issuer, the registration API and the STS broker in one process. */
export async function serve({
  config: configured,
  logger,
  announce,
  fastPaths = true,
}: ServeOptions): Promise<RunningServer & { adminToken: string }> {
  // With PORT=0 the issuer URL must carry the port actually chosen, so choose it first.
  const config =
    configured.port === 0 && configured.publicUrlFromPort
      ? withListenPort(configured, await freeLoopbackPort(configured.host))
      : configured;
  // A busy port is refused before anything is generated: no admin token printed for a server that never starts.
  if (config.port !== 0) await assertPortFree(config.host, config.port);
  const location = parseStoreLocation(config.store);
  const tls = await serveTls(config, location.kind === 'file' ? location.dir : undefined, announce);
  const store = await openStore(config.store, {
    gcs: config.gcs,
    onBackgroundError: logBackgroundError(logger),
  });
  const admin = await resolveAdminToken(
    config.adminToken,
    location.kind === 'file' ? location.dir : undefined,
  );
  if (admin.generated) {
    announce(
      `idbridge: admin token (shown once${admin.path ? `, kept in ${admin.path}` : ', not kept: set IDBRIDGE_ADMIN_TOKEN to keep the same token across restarts'}):\n\n    ${admin.token}\n\n` +
        `Use it as "Authorization: Bearer <token>" on /api/v1, or export IDBRIDGE_ADMIN_TOKEN.\n`,
    );
  }

  const host = composeHost({ config, store, adminToken: admin.token, logger });
  const { app, registry, routes } = host;
  const running = await startNodeServer({
    app,
    host: config.host,
    port: config.port,
    ...(fastPaths ? { fastPath: nodeFastPath(routes, { log: logger }) } : {}),
    drainMs: config.shutdownTimeoutMs,
    ...(tls ? { tls } : {}),
  }).catch((err: unknown) => {
    host.close();
    throw listenFailure(err, config.host, config.port);
  });
  logger.info('listening', {
    url: running.url,
    publicUrl: config.publicUrl,
    store: store.description,
    stsUrl: config.stsUrl,
    iamCredentialsUrl: config.iamCredentialsUrl,
  });
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

/** The certificate `serve` presents: the operator's files, a local CA's, or none (plain HTTP). */
async function serveTls(
  config: Config,
  dataDir: string | undefined,
  announce: (text: string) => void,
): Promise<{ cert: string | Buffer; key: string | Buffer } | undefined> {
  if (config.tls.mode === 'files') {
    const material = await loadTlsMaterial(config.tls);
    return { cert: material.cert, key: material.key };
  }
  if (config.tls.mode !== 'local') return undefined;
  if (dataDir === undefined) {
    throw new IdbridgeError(
      'invalid_request',
      '--tls=local keeps its CA in the data directory: use a file store (--store file:DIR), or give --tls-cert-file and --tls-key-file',
    );
  }
  const local = await ensureLocalTls(join(dataDir, 'tls'), {
    names: [new URL(config.publicUrl).hostname.replace(/^\[|\]$/g, '')],
  });
  announce(trustInstructions(local, config.publicUrl));
  return { cert: local.cert, key: local.key };
}

/** Binds and releases the port once, so a port in use is a message, not a stack trace after startup work. */
function assertPortFree(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err) => reject(listenFailure(err, host, port)));
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve()));
  });
}

function listenFailure(err: unknown, host: string, port: number): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE')
    return new IdbridgeError(
      'invalid_request',
      `port ${port} on ${host} is already in use (another idbridge serve?): stop that process, or choose another port with --port N (PORT)`,
    );
  if (code === 'EACCES')
    return new IdbridgeError(
      'invalid_request',
      `no permission to listen on port ${port}: ports below 1024 need privileges; choose another with --port N (PORT)`,
    );
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return new IdbridgeError(
      'invalid_request',
      `cannot listen on ${host} (${code}): --host (HOST) must be an address of this machine, e.g. 127.0.0.1 or 0.0.0.0`,
    );
  return err;
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
      for (const { record } of page.records)
        if (record.issuer !== registry.issuerFor(record.id)) foreign.push(record.id);
      after = page.next;
    } while (after);
    if (foreign.length > 0) {
      logger.warn(
        'clusters registered under a different IDBRIDGE_PUBLIC_URL: their issuer does not match the URL they are served under',
        {
          publicUrl: registry.publicUrl,
          clusters: foreign.slice(0, 10),
          count: foreign.length,
        },
      );
    }
  } catch (err) {
    logger.warn('could not check registered issuers', { error: (err as Error).message });
  }
}

/** The CLI's serve: configuration from the environment and flags, logs on stdout, signals. */
/** The flag that sets each variable, so configuration errors name both. */
export const SERVE_FLAGS = {
  PORT: '--port',
  HOST: '--host',
  IDBRIDGE_STORE: '--store',
  IDBRIDGE_PUBLIC_URL: '--public-url',
  IDBRIDGE_TLS: '--tls',
  IDBRIDGE_TLS_CERT_FILE: '--tls-cert-file',
  IDBRIDGE_TLS_KEY_FILE: '--tls-key-file',
  IDBRIDGE_BROKER_RELAY: '--broker-relay',
} as const;

export type ServeFlags = {
  port?: string;
  host?: string;
  store?: string;
  publicUrl?: string;
  tls?: string;
  tlsCertFile?: string;
  tlsKeyFile?: string;
  brokerRelay?: string;
};

export async function runServe(
  env: Record<string, string | undefined>,
  flags: ServeFlags,
  options: { fastPaths?: boolean } = {},
): Promise<number> {
  const config = loadConfig(
    env,
    {
      ...(flags.port !== undefined ? { PORT: flags.port } : {}),
      ...(flags.host !== undefined ? { HOST: flags.host } : {}),
      ...(flags.store !== undefined ? { IDBRIDGE_STORE: flags.store } : {}),
      ...(flags.publicUrl !== undefined ? { IDBRIDGE_PUBLIC_URL: flags.publicUrl } : {}),
      ...(flags.brokerRelay !== undefined ? { IDBRIDGE_BROKER_RELAY: flags.brokerRelay } : {}),
      ...(flags.tls !== undefined ? { IDBRIDGE_TLS: flags.tls } : {}),
      ...(flags.tlsCertFile !== undefined ? { IDBRIDGE_TLS_CERT_FILE: flags.tlsCertFile } : {}),
      ...(flags.tlsKeyFile !== undefined ? { IDBRIDGE_TLS_KEY_FILE: flags.tlsKeyFile } : {}),
    },
    SERVE_FLAGS,
  );
  const out = bufferedWriter((chunk) => process.stdout.write(chunk));
  const logger = createLogger(out.write, { level: config.logLevel });
  const running = await serve({
    config,
    logger,
    announce: (text) => process.stderr.write(text),
    ...(options.fastPaths !== undefined ? { fastPaths: options.fastPaths } : {}),
  });
  return untilSignal(running, logger, out.flush);
}
