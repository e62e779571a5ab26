import {
  ApiException,
  CoreV1Api,
  makeInformer,
  Observable,
  type Informer,
  type KubeConfig,
  type ObjectCache,
  type V1ServiceAccount,
} from '@kubernetes/client-node';
import { IdbridgeError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { isNamespaceName, isServiceAccountName } from './kube-names.js';

/** What the admission decision needs of a ServiceAccount. */
export interface ServiceAccountInfo {
  namespace: string;
  name: string;
  annotations: Record<string, string>;
}

export interface ServiceAccountSource {
  /** The ServiceAccount, or undefined when the Kubernetes API says it does not exist. */
  get(namespace: string, name: string): Promise<ServiceAccountInfo | undefined>;
  /** True once the cache holds a complete list (before that, every lookup is a live GET). */
  ready(): boolean;
  close(): Promise<void>;
}

export interface ServiceAccountCacheOptions {
  logger: Logger;
  /** A live GET slower than this fails the review (kube-apiserver's own timeout is longer). */
  lookupTimeoutMs?: number;
  /** Called on every cache miss (metrics). */
  onMiss?: (result: 'found' | 'not_found' | 'error') => void;
  /** Restart delays after the informer stops on an error. */
  retryDelaysMs?: { initial: number; max: number };
}

const info = (sa: V1ServiceAccount, namespace: string, name: string): ServiceAccountInfo => ({
  namespace,
  name,
  annotations: sa.metadata?.annotations ?? {},
});

/**
 * ServiceAccounts from an informer cache (list + watch of all namespaces, restarted with backoff
 * when it fails), with a live GET on a miss: a pod created right after its ServiceAccount, before
 * the watch event arrives, still sees the annotations.
 */
export class ServiceAccountCache implements ServiceAccountSource {
  private readonly api: CoreV1Api;
  private readonly informer: Informer<V1ServiceAccount> & ObjectCache<V1ServiceAccount>;
  private synced = false;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelay: number;
  private starting: Promise<void> | undefined;

  constructor(
    kubeConfig: KubeConfig,
    private readonly options: ServiceAccountCacheOptions,
  ) {
    this.api = kubeConfig.makeApiClient(CoreV1Api);
    const list = async () => {
      const result = await this.api.listServiceAccountForAllNamespaces();
      this.synced = true;
      this.retryDelay = this.options.retryDelaysMs?.initial ?? 1000;
      return result;
    };
    this.informer = makeInformer(kubeConfig, '/api/v1/serviceaccounts', list);
    this.retryDelay = options.retryDelaysMs?.initial ?? 1000;
    // The informer stops on errors other than a timeout or 410 Gone: start it again, later.
    this.informer.on('error', (err: unknown) => {
      if (this.stopped) return;
      this.options.logger.warn(
        'ServiceAccount watch failed; lookups fall back to live GETs until it resumes',
        {
          error: describeKubeError(err),
          retryInMs: this.retryDelay,
        },
      );
      this.retryTimer = setTimeout(() => void this.start(), this.retryDelay);
      this.retryTimer.unref();
      this.retryDelay = Math.min(this.retryDelay * 2, this.options.retryDelaysMs?.max ?? 30_000);
    });
  }

  async start(): Promise<void> {
    if (this.stopped) return;
    this.starting = this.informer.start();
    await this.starting;
  }

  ready(): boolean {
    return this.synced;
  }

  async get(namespace: string, name: string): Promise<ServiceAccountInfo | undefined> {
    // The client percent-encodes path segments, but "." and ".." survive encoding: never send them.
    if (!isNamespaceName(namespace) || !isServiceAccountName(name)) {
      throw new IdbridgeError(
        'invalid_request',
        `${JSON.stringify(`${namespace}/${name}`.slice(0, 120))} is not a valid namespace/ServiceAccount name; nothing was looked up`,
      );
    }
    const cached = this.informer.get(name, namespace);
    if (cached) return info(cached, namespace, name);
    const timeoutMs = this.options.lookupTimeoutMs ?? 3000;
    try {
      const sa = await this.api.readNamespacedServiceAccount(
        { name, namespace },
        {
          middleware: [
            {
              pre: (context) => {
                context.setSignal(AbortSignal.timeout(timeoutMs));
                return new Observable(Promise.resolve(context));
              },
              post: (response) => new Observable(Promise.resolve(response)),
            },
          ],
          middlewareMergeStrategy: 'append',
        },
      );
      this.options.onMiss?.('found');
      return info(sa, namespace, name);
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) {
        this.options.onMiss?.('not_found');
        return undefined;
      }
      this.options.onMiss?.('error');
      const timedOut =
        (err as Error)?.name === 'TimeoutError' || (err as Error)?.name === 'AbortError';
      throw new IdbridgeError(
        timedOut ? 'gateway_timeout' : 'bad_gateway',
        `could not read ServiceAccount ${namespace}/${name} from the Kubernetes API (${timedOut ? `no answer within ${timeoutMs} ms` : describeKubeError(err)}); ` +
          'check that the webhook can reach the API server and may get/list/watch serviceaccounts',
        [],
        { cause: err },
      );
    }
  }

  async close(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    await this.informer.stop();
    // A watch request in flight when stop() ran becomes active only after: stop it again then.
    await this.starting?.catch(() => {});
    await this.informer.stop();
  }
}

/** Status code and reason only: a client error's full text carries response headers and bodies. */
export function describeKubeError(err: unknown): string {
  if (err instanceof ApiException) {
    // The body is the API server's Status, as text or parsed depending on the client version.
    let status: unknown = err.body;
    if (typeof status === 'string') {
      try {
        status = JSON.parse(status);
      } catch {
        status = undefined;
      }
    }
    const message = (status as { message?: unknown } | undefined)?.message;
    return `HTTP ${err.code}${typeof message === 'string' ? `: ${message.slice(0, 200)}` : ''}`;
  }
  const status = (err as { statusCode?: unknown })?.statusCode;
  if (typeof status === 'number') return `HTTP ${status}`;
  // Transport errors name the URL and the reason (ECONNREFUSED, certificate problems), never credentials.
  const message = err instanceof Error ? err.message : String(err);
  return message.length > 300 ? `${message.slice(0, 300)}…` : message;
}
