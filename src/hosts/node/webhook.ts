import { listenNode } from './node-server.js';
import { nodeFastPath } from './fast-path.js';
import { createServer, type Server } from 'node:https';
import { getRequestListener } from '@hono/node-server';
import { KubeConfig } from '@kubernetes/client-node';
import { IdbridgeError } from '../../errors.js';
import type { Logger } from '../../log/logger.js';
import { admissionRoute, createWebhookApp, type WebhookAppOptions } from '../../webhook/app.js';
import type { WebhookConfig } from '../../webhook/config.js';
import { WebhookMetrics } from '../../webhook/metrics.js';
import { ServiceAccountCache } from '../../webhook/service-accounts.js';
import { CertificateReloader, loadTlsMaterial, secureContextOptions } from '../../webhook/tls.js';

export interface RunningWebhook {
  server: Server;
  url: string;
  metrics: WebhookMetrics;
  close(): Promise<void>;
}

/** The webhook host: wires the Kubernetes client, the ServiceAccount cache, TLS and the app. */
export async function startWebhook(config: WebhookConfig, logger: Logger): Promise<RunningWebhook> {
  // A bad certificate is a startup error with a message, not a server that fails every handshake.
  const material = await loadTlsMaterial(config.tls);

  const kubeConfig = loadKubeConfig(config.kubeconfig);

  const metrics = new WebhookMetrics();
  const serviceAccounts = new ServiceAccountCache(kubeConfig, {
    logger,
    lookupTimeoutMs: config.lookupTimeoutMs,
    onMiss: (result) => metrics.lookupMisses.inc({ result }),
  });
  const appOptions: WebhookAppOptions = {
    admit: {
      serviceAccounts,
      defaults: config.defaults,
      mutation: config.mutation,
      missingServiceAccount: config.missingServiceAccount,
      metadataServer: config.metadataServer,
    },
    metrics,
    logger,
  };
  const admission = admissionRoute(appOptions);
  const honoListener = getRequestListener(createWebhookApp(appOptions, admission).fetch);
  // The admission route straight on Node's request (the same descriptor the hono route is made
  // from), without Web Request/Response objects on the hot path; the rest goes through hono.
  const fastPath = nodeFastPath([admission]);
  const server = createServer(secureContextOptions(material, config.tls.minVersion), (req, res) => {
    if (!fastPath(req, res)) void honoListener(req, res);
  });
  const reloader = new CertificateReloader({
    files: config.tls,
    current: material,
    apply: (next) => server.setSecureContext(secureContextOptions(next, config.tls.minVersion)),
    logger,
    intervalMs: config.tls.reloadIntervalMs,
    onResult: (result) => metrics.certificateReloads.inc({ result }),
  });

  const listening = await listenNode(server, {
    host: config.host,
    port: config.port,
    scheme: 'https',
    drainMs: config.shutdownTimeoutMs,
  });
  reloader.start();
  // Admission works before the first list completes (live GETs); /readyz waits for it.
  void serviceAccounts
    .start()
    .catch((err: unknown) =>
      logger.warn('ServiceAccount cache did not start', { error: (err as Error).message }),
    );

  const { url } = listening;
  logger.info('listening', {
    url,
    certificate: material.subject,
    notAfter: material.notAfter,
    tlsMinVersion: config.tls.minVersion,
  });

  return {
    server,
    url,
    metrics,
    close: async () => {
      reloader.close();
      await serviceAccounts.close();
      await listening.close();
    },
  };
}

/** The kubeconfig file given, else the pod's in-cluster configuration; refused with the fix when neither works. */
function loadKubeConfig(path: string | undefined): KubeConfig {
  const kubeConfig = new KubeConfig();
  if (path) {
    try {
      kubeConfig.loadFromFile(path);
    } catch (err) {
      throw new IdbridgeError(
        'invalid_request',
        `cannot load the kubeconfig ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).name}); check --kubeconfig`,
      );
    }
    return kubeConfig;
  }
  kubeConfig.loadFromCluster();
  // Outside a pod the in-cluster host and port are unset and client-node builds https://undefined:undefined.
  if (
    !kubeConfig.getCurrentCluster()?.server ||
    kubeConfig.getCurrentCluster()!.server.includes('undefined')
  ) {
    throw new IdbridgeError(
      'invalid_request',
      'no in-cluster configuration (KUBERNETES_SERVICE_HOST is not set): run inside Kubernetes or pass --kubeconfig PATH',
    );
  }
  return kubeConfig;
}
