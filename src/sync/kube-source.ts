import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';
import { DISCOVERY_PATH, JWKS_PATH } from '../oidc/paths.js';
import type { ServedDocuments } from './documents.js';
import { SyncFailure } from './failure.js';

/** An issuer document is a few KiB; anything far larger is not one. */
const MAX_RESPONSE_BYTES = 1024 * 1024;

/** Node's codes for a certificate the client does not trust: a configuration problem, not an outage. */
const TLS_TRUST_ERRORS = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_SIGNATURE_FAILURE',
]);

/**
 * The Kubernetes client configuration, loaded the standard way by @kubernetes/client-node: a
 * kubeconfig file when one is given (flag or KUBECONFIG), else the pod's in-cluster ServiceAccount
 * (token, CA and KUBERNETES_SERVICE_HOST/PORT).
 */
export function loadKubeConfig(source: { kubeconfig?: string; inCluster: boolean }): KubeConfig {
  const kc = new KubeConfig();
  if (source.kubeconfig) {
    try {
      kc.loadFromFile(source.kubeconfig);
    } catch (err) {
      throw new SyncFailure(
        'config',
        `cannot load the kubeconfig ${source.kubeconfig}: ${firstLine(err)}`,
        false,
        { cause: err },
      );
    }
  } else if (source.inCluster) {
    kc.loadFromCluster();
  } else {
    throw new SyncFailure(
      'config',
      'not running in a pod (KUBERNETES_SERVICE_HOST is not set) and no kubeconfig given: pass --kubeconfig PATH or set KUBECONFIG',
      false,
    );
  }
  if (!kc.getCurrentCluster()?.server) {
    throw new SyncFailure(
      'config',
      `the kubeconfig${source.kubeconfig ? ` ${source.kubeconfig}` : ''} has no current cluster with a server URL; set current-context`,
      false,
    );
  }
  return kc;
}

/**
 * Reads the cluster's service-account issuer documents from its kube-apiserver, with the TLS trust
 * and credentials client-node derives from the configuration (the token file is re-read as kubelet
 * rotates it). Answers are classified for the retry loop: outages and garbled answers are retried,
 * refusals and trust failures are not.
 */
export class KubeIssuerSource {
  readonly #kc: KubeConfig;
  readonly #timeoutMs: number;

  constructor(kc: KubeConfig, options: { timeoutMs?: number } = {}) {
    this.#kc = kc;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
  }

  get server(): string {
    return this.#kc.getCurrentCluster()!.server;
  }

  async read(): Promise<ServedDocuments> {
    const [discovery, jwks] = await Promise.all([this.#get(DISCOVERY_PATH), this.#get(JWKS_PATH)]);
    return { discovery, jwks };
  }

  async #get(path: string): Promise<unknown> {
    const url = new URL(`${this.server.replace(/\/+$/, '')}${path}`);
    const options: RequestOptions = {
      method: 'GET',
      headers: { accept: 'application/jwk-set+json, application/json' },
      timeout: this.#timeoutMs,
    };
    try {
      await this.#kc.applyToHTTPSOptions(options);
    } catch (err) {
      throw new SyncFailure(
        'config',
        `cannot prepare credentials for the kube-apiserver: ${firstLine(err)}`,
        false,
        { cause: err },
      );
    }
    const { status, body, contentType } = await fetchOnce(url, options);
    const where = `the kube-apiserver (${url.origin}) answered ${path} with`;
    if (status === 200) {
      try {
        return JSON.parse(body);
      } catch {
        // Garbled in transit (a proxy's error page), not the cluster's documents: an outage, exit 5.
        throw new SyncFailure(
          'unavailable',
          `${where} something that is not JSON (content-type ${JSON.stringify(contentType ?? 'none')}); nothing was pushed; is a proxy answering for the kube-apiserver?`,
          true,
        );
      }
    }
    if (status === 401)
      throw new SyncFailure(
        'refused',
        `${where} 401 Unauthorized: the pod's ServiceAccount token (or the kubeconfig's credentials) is not accepted; check the token mount`,
        false,
      );
    if (status === 403) {
      throw new SyncFailure(
        'refused',
        `${where} 403 Forbidden: bind the ClusterRole system:service-account-issuer-discovery to the sync job's ServiceAccount (infra/k8s/sync does)`,
        false,
      );
    }
    if (status === 404) {
      throw new SyncFailure(
        'documents',
        `${where} 404: service-account issuer discovery is not served. Causes: --service-account-issuer is not an https:// URL (kube-apiserver serves no discovery for an http:// issuer; idbridge serve --tls=local gives a local https one), --service-account-issuer is not set, or Kubernetes is older than 1.21`,
        false,
      );
    }
    if (status === 429 || status >= 500)
      throw new SyncFailure('unavailable', `${where} ${status}`, true);
    throw new SyncFailure('refused', `${where} ${status}`, false);
  }
}

function fetchOnce(
  url: URL,
  options: RequestOptions,
): Promise<{ status: number; body: string; contentType: string | undefined }> {
  const send = url.protocol === 'http:' ? httpRequest : httpsRequest;
  // client-node always builds an https agent; a plain-http apiserver (kubectl proxy) needs none.
  if (url.protocol === 'http:') delete options.agent;
  return new Promise((resolve, reject) => {
    const req = send(url, options, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.byteLength;
        if (size > MAX_RESPONSE_BYTES) {
          req.destroy();
          // No issuer document is that large: something in between answered, so an outage (exit 5).
          reject(
            new SyncFailure(
              'unavailable',
              `the kube-apiserver's answer to ${url.pathname} is larger than ${MAX_RESPONSE_BYTES / 1024} KiB; that is not an issuer document; nothing was pushed; is a proxy answering for the kube-apiserver?`,
              true,
            ),
          );
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          body: Buffer.concat(chunks).toString('utf8'),
          contentType: res.headers['content-type'],
        }),
      );
      res.on('error', (err) => reject(networkFailure(url, err)));
    });
    req.on('timeout', () =>
      req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })),
    );
    req.on('error', (err) => reject(networkFailure(url, err)));
    req.end();
  });
}

function networkFailure(url: URL, err: Error): SyncFailure {
  if (err instanceof SyncFailure) return err;
  const code = (err as NodeJS.ErrnoException).code ?? err.name;
  if (TLS_TRUST_ERRORS.has(code)) {
    return new SyncFailure(
      'config',
      `the kube-apiserver at ${url.origin} presented a certificate this job does not trust (${code}): check the CA in the kubeconfig (in a pod: the ServiceAccount's ca.crt)`,
      false,
      { cause: err },
    );
  }
  return new SyncFailure(
    'unavailable',
    `cannot reach the kube-apiserver at ${url.origin} (${code})`,
    true,
    { cause: err },
  );
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!.slice(0, 300);
}
