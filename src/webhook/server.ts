import { listenNode } from '../server/node-server.js';
import { readRequestBody } from '../server/request-body.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { getRequestListener } from '@hono/node-server';
import { KubeConfig } from '@kubernetes/client-node';
import { IdbridgeError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { answerReview, createWebhookApp, MAX_REVIEW_BYTES, MUTATE_PATH, tooLarge, type WebhookAppOptions } from './app.js';
import type { WebhookConfig } from './config.js';
import { WebhookMetrics } from './metrics.js';
import { ServiceAccountCache } from './service-accounts.js';
import { CertificateReloader, loadTlsMaterial, secureContextOptions } from './tls.js';

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
    admit: { serviceAccounts, defaults: config.defaults, mutation: config.mutation, missingServiceAccount: config.missingServiceAccount, metadataServer: config.metadataServer },
    metrics,
    logger,
  };
  const honoListener = getRequestListener(createWebhookApp(appOptions).fetch);
  const server = createServer(secureContextOptions(material, config.tls.minVersion), (req, res) => {
    // The admission route straight on Node's request: the same answerReview, without building
    // Web Request/Response objects on the hot path. Everything else goes through the hono app.
    // kube-apiserver appends ?timeout=…s to the path.
    if (req.method === 'POST' && (req.url ?? '').split('?', 1)[0] === MUTATE_PATH) void admitDirect(req, res, appOptions);
    else void honoListener(req, res);
  });
  const reloader = new CertificateReloader({
    files: config.tls,
    current: material,
    apply: (next) => server.setSecureContext(secureContextOptions(next, config.tls.minVersion)),
    logger,
    intervalMs: config.tls.reloadIntervalMs,
    onResult: (result) => metrics.certificateReloads.inc({ result }),
  });

  const listening = await listenNode(server, { host: config.host, port: config.port, scheme: 'https', drainMs: config.shutdownTimeoutMs });
  reloader.start();
  // Admission works before the first list completes (live GETs); /readyz waits for it.
  void serviceAccounts.start().catch((err: unknown) => logger.warn('ServiceAccount cache did not start', { error: (err as Error).message }));

  const { url } = listening;
  logger.info('listening', { url, certificate: material.subject, notAfter: material.notAfter, tlsMinVersion: config.tls.minVersion });

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

function admitDirect(req: IncomingMessage, res: ServerResponse, options: WebhookAppOptions): Promise<void> {
  const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  };
  return readRequestBody(req, MAX_REVIEW_BYTES).then(async (body) => {
    if (body === 'aborted') return;
    if (body === 'too-large') {
      // The unread body is still on the connection: close it rather than reuse it.
      send(413, tooLarge(), { connection: 'close' });
      return;
    }
    const answer = await answerReview(req.headers['content-type'], body.toString('utf8'), options);
    send(answer.status, answer.body);
  });
}

/** The kubeconfig file given, else the pod's in-cluster configuration; refused with the fix when neither works. */
function loadKubeConfig(path: string | undefined): KubeConfig {
  const kubeConfig = new KubeConfig();
  if (path) {
    try {
      kubeConfig.loadFromFile(path);
    } catch (err) {
      throw new IdbridgeError('invalid_request', `cannot load the kubeconfig ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).name}); check --kubeconfig`);
    }
    return kubeConfig;
  }
  kubeConfig.loadFromCluster();
  // Outside a pod the in-cluster host and port are unset and client-node builds https://undefined:undefined.
  if (!kubeConfig.getCurrentCluster()?.server || kubeConfig.getCurrentCluster()!.server.includes('undefined')) {
    throw new IdbridgeError('invalid_request', 'no in-cluster configuration (KUBERNETES_SERVICE_HOST is not set): run inside Kubernetes or pass --kubeconfig PATH');
  }
  return kubeConfig;
}
