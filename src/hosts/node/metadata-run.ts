import { UpstreamClient } from '../../broker/upstream.js';
import { DEFAULT_UNIVERSE_DOMAIN } from '../../credentials/credential-config.js';
import { createLogger, type Logger } from '../../log/logger.js';
import type { Readiness } from '../../metadata/api.js';
import {
  loadMetadataConfig,
  type MetadataEnvironment,
  type MetadataServerConfig,
} from '../../metadata/config.js';
import type { IdentityResolver, PodIdentity } from '../../metadata/identity.js';
import { setupLinkLocal, type LinkLocalOptions } from '../../metadata/link-local.js';
import type { NodeEnvironment } from '../../metadata/node-config.js';
import { loadSidecarIdentity } from '../../metadata/sidecar-identity.js';
import { TokenSource } from '../../metadata/token-source.js';
import type { InstanceView } from '../../metadata/api.js';
import { startMetadataServer, type RunningMetadataServer } from './metadata-server.js';
import { bufferedWriter } from './stdout-sink.js';
import { untilSignal } from './until-signal.js';

/** Who is asking and what they see: one pod (sidecar) or each pod of the node (node mode). */
interface ModeSetup {
  resolver: IdentityResolver;
  viewOf: (identity: PodIdentity) => InstanceView;
  readiness: () => Promise<Readiness>;
  lifetimeSeconds?: number;
}

export interface StartOptions {
  now?: () => number;
  /** The link-local setup's command runner (see setupLinkLocal); tests inject it, production runs `ip`. */
  linkLocal?: LinkLocalOptions;
}

/** Sidecar mode: the pod's credential configuration, read once; ready while its token file can be read. */
async function sidecarMode(
  config: MetadataServerConfig,
  credentialConfigPath: string,
): Promise<ModeSetup> {
  const setup = await loadSidecarIdentity({
    credentialConfigPath,
    ...(config.projectId ? { projectId: config.projectId } : {}),
    ...(config.numericProjectId ? { numericProjectId: config.numericProjectId } : {}),
    ...(config.serviceAccount ? { serviceAccount: config.serviceAccount } : {}),
    attributes: config.attributes,
  });
  return {
    resolver: setup.resolver,
    viewOf: () => setup.view,
    // No Google call gates the pod: the configuration is loaded and the token file readable.
    readiness: () => setup.tokenReadable(),
    ...(setup.lifetimeSeconds !== undefined ? { lifetimeSeconds: setup.lifetimeSeconds } : {}),
  };
}

/** Node mode: the node-restricted pod informer and TokenRequest (loaded only here); ready once the pod list is loaded. */
async function nodeMode(
  config: MetadataServerConfig,
  node: Extract<MetadataServerConfig['source'], { mode: 'node' }>['node'],
  logger: Logger,
): Promise<ModeSetup> {
  const { nodeInstanceView, startNodeMode, viewPerIdentity } =
    await import('../../metadata/node-config.js');
  const resolver = await startNodeMode(node, logger);
  const cluster = {
    projectId: config.projectId!,
    ...(config.numericProjectId ? { numericProjectId: config.numericProjectId } : {}),
    universeDomain: DEFAULT_UNIVERSE_DOMAIN,
    attributes: config.attributes,
  };
  const viewOf = viewPerIdentity((identity) => nodeInstanceView(identity, cluster));
  return {
    resolver,
    viewOf,
    readiness: () =>
      Promise.resolve(
        resolver.ready()
          ? { ready: true }
          : { ready: false, reason: `the pod list of node ${node.nodeName} is not loaded yet` },
      ),
  };
}

/** The metadata server wired from its configuration: the mode's resolver, the token source, the listeners. */
export async function startMetadata(
  config: MetadataServerConfig,
  logger: Logger,
  options: StartOptions = {},
): Promise<RunningMetadataServer> {
  const mode =
    config.source.mode === 'sidecar'
      ? await sidecarMode(config, config.source.credentialConfigPath)
      : await nodeMode(config, config.source.node, logger);
  const upstream = new UpstreamClient({
    timeoutMs: config.upstreamTimeoutMs,
    attempts: config.upstreamAttempts,
    hints: {
      timeoutSetting: 'IDBRIDGE_METADATA_UPSTREAM_TIMEOUT_MS',
      route:
        config.source.mode === 'sidecar'
          ? "the pod's route to the credential configuration's token_url"
          : "the node's route to --token-url and --iam-credentials-url",
    },
  });
  const tokens = new TokenSource({
    upstream,
    maxEntries: config.cacheEntries,
    ...(mode.lifetimeSeconds !== undefined ? { lifetimeSeconds: mode.lifetimeSeconds } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
  try {
    // The address must be on the pod's loopback before the second listener can bind it.
    if (config.linkLocal) await setupLinkLocal(options.linkLocal);
    return await startMetadataServer({
      resolver: mode.resolver,
      viewOf: mode.viewOf,
      tokens,
      readiness: mode.readiness,
      logger,
      listen: [
        { host: config.host, port: config.port },
        ...(config.linkLocal ? [config.linkLocal] : []),
      ],
      drainMs: config.shutdownTimeoutMs,
      ...(options.now ? { now: options.now } : {}),
    });
  } catch (err) {
    tokens.close();
    await mode.resolver.close?.();
    throw err;
  }
}

/** `idbridge metadata-server`: runs until SIGTERM; resolves to the exit code. */
export async function runMetadataServer(
  env: Record<string, string | undefined>,
  overrides: Partial<Record<keyof MetadataEnvironment | keyof NodeEnvironment, string>>,
  flagNames: Record<string, string>,
): Promise<number> {
  const config = loadMetadataConfig(env, overrides, flagNames);
  const out = bufferedWriter((chunk) => process.stdout.write(chunk));
  const logger = createLogger(out.write, { level: config.logLevel });
  const running = await startMetadata(config, logger);
  logger.info('listening', { url: running.url, urls: running.urls, mode: config.source.mode });
  return untilSignal(running, logger, out.flush);
}
