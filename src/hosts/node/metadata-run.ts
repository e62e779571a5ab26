import { UpstreamClient } from '../../broker/upstream.js';
import { startMetadataServer, type RunningMetadataServer } from './metadata-server.js';
import { createLogger, type Logger } from '../../log/logger.js';
import { bufferedWriter } from './stdout-sink.js';
import { untilSignal } from './until-signal.js';
import type { Readiness } from '../../metadata/api.js';
import { loadMetadataConfig, type MetadataEnvironment, type MetadataServerConfig } from '../../metadata/config.js';
import { loadSidecarIdentity } from '../../metadata/sidecar-identity.js';
import { TokenSource } from '../../metadata/token-source.js';

/** Sidecar mode wired from its configuration: the pod's identity, the token source, the listeners. */
export async function startSidecar(config: MetadataServerConfig, logger: Logger, options: { now?: () => number } = {}): Promise<RunningMetadataServer> {
  const setup = await loadSidecarIdentity({
    credentialConfigPath: config.credentialConfigPath,
    ...(config.projectId ? { projectId: config.projectId } : {}),
    ...(config.numericProjectId ? { numericProjectId: config.numericProjectId } : {}),
    ...(config.serviceAccount ? { serviceAccount: config.serviceAccount } : {}),
    attributes: config.attributes,
  });
  const upstream = new UpstreamClient({
    timeoutMs: config.upstreamTimeoutMs,
    attempts: config.upstreamAttempts,
    hints: { timeoutSetting: 'IDBRIDGE_METADATA_UPSTREAM_TIMEOUT_MS', route: "the pod's route to the credential configuration's token_url" },
  });
  const tokens = new TokenSource({
    upstream,
    maxEntries: config.cacheEntries,
    ...(setup.lifetimeSeconds !== undefined ? { lifetimeSeconds: setup.lifetimeSeconds } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
  // Ready once the configuration is loaded (it is, here) and the token file can be read: no Google call gates the pod.
  const readiness = (): Promise<Readiness> => setup.tokenReadable();
  return startMetadataServer({
    resolver: setup.resolver,
    viewOf: () => setup.view,
    tokens,
    readiness,
    logger,
    listen: [{ host: config.host, port: config.port }, ...(config.linkLocal ? [config.linkLocal] : [])],
    drainMs: config.shutdownTimeoutMs,
    ...(options.now ? { now: options.now } : {}),
  });
}

/** `idbridge metadata-server`: runs until SIGTERM; resolves to the exit code. */
export async function runMetadataServer(env: Record<string, string | undefined>, overrides: Partial<Record<keyof MetadataEnvironment, string>>, flagNames: Record<string, string>): Promise<number> {
  const config = loadMetadataConfig(env, overrides, flagNames);
  const out = bufferedWriter((chunk) => process.stdout.write(chunk));
  const logger = createLogger(out.write, { level: config.logLevel });
  const running = await startSidecar(config, logger);
  logger.info('listening', { url: running.url, urls: running.urls, mode: 'sidecar' });
  return untilSignal(running, logger, out.flush);
}
