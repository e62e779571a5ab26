import * as kube from './kube-resources.js';

export { kubeconfigYaml } from './kube-resources.js';

/**
 * The ServiceAccount part of a kube-apiserver, as a Web request handler (mountable into a larger
 * fake) plus a standalone server. It speaks what @kubernetes/client-node's informer and
 * CoreV1Api expect: lists with a resourceVersion, newline-delimited watch streams resumed from a
 * resourceVersion (an expired one gets the 410 Gone ERROR event the real server sends, a watch
 * ends after its `timeoutSeconds`), GET of one object, `Status` bodies for 401/404/405,
 * bearer-token authentication; the list/watch machinery is kube-resources.ts. Its own rules here:
 * the routes (all namespaces or one), injected faults, held and slow requests.
 */

export interface FakeServiceAccount {
  namespace: string;
  name: string;
  annotations?: Record<string, string>;
}

interface StoredServiceAccount {
  apiVersion: 'v1';
  kind: 'ServiceAccount';
  metadata: kube.ObjectMeta & { annotations?: Record<string, string> };
}

export type KubeEndpoint = 'list' | 'watch' | 'get';

export interface KubeServiceAccountsHandler {
  /** Answers requests for ServiceAccounts; undefined for any other path (mount next to other fakes). */
  handle(request: Request): Promise<Response | undefined>;
  /** Creates or replaces a ServiceAccount, notifying watches. */
  upsert(sa: FakeServiceAccount): void;
  remove(namespace: string, name: string): void;
  /** Holds watch events back (a slow informer); `resumeWatches` delivers them. */
  pauseWatches(): void;
  resumeWatches(): void;
  /** Ends every open watch as the server does when its timeout passes. */
  closeWatches(): void;
  /** The next `count` requests to `endpoint` are answered with `status` (a Status body). */
  failNext(endpoint: KubeEndpoint, status: number, count?: number): void;
  /** Requests to `endpoint` wait until `release` (an API server that has not answered yet). */
  hold(endpoint: KubeEndpoint): void;
  release(endpoint: KubeEndpoint): void;
  /** Delay before each GET of one object is answered (a slow API server). */
  setGetDelay(ms: number): void;
  /** Requests served, e.g. `GET /api/v1/namespaces/apps/serviceaccounts/web`. */
  requests: string[];
  openWatches(): number;
  /** Events older than this many are forgotten: resuming before them gets 410 Gone. */
  compact(): void;
}

const REASONS: Record<number, string> = {
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
};

export function kubeServiceAccountsHandler(options: {
  token: string;
  initial?: FakeServiceAccount[];
}): KubeServiceAccountsHandler {
  const store = kube.resourceStore<StoredServiceAccount>({
    resource: 'serviceaccounts',
    listKind: 'ServiceAccountList',
    firstRevision: 100,
  });
  const faults: Record<KubeEndpoint, number[]> = { list: [], watch: [], get: [] };
  let getDelay = 0;
  const held: Partial<Record<KubeEndpoint, { promise: Promise<void>; release: () => void }>> = {};
  const gate = async (endpoint: KubeEndpoint) => {
    await held[endpoint]?.promise;
  };
  const requests: string[] = [];

  const upsert = (sa: FakeServiceAccount) => {
    store.put(sa.namespace, sa.name, (meta, existing) => ({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: {
        ...meta,
        creationTimestamp: existing?.metadata.creationTimestamp ?? kube.time(Date.now()),
        ...(sa.annotations ? { annotations: { ...sa.annotations } } : {}),
      },
    }));
  };
  for (const sa of options.initial ?? []) upsert(sa);

  const fault = (endpoint: KubeEndpoint): Response | undefined => {
    const code = faults[endpoint].shift();
    return code === undefined
      ? undefined
      : kube.status(code, REASONS[code] ?? 'InternalError', `injected fault (${code})`);
  };

  const route =
    /^\/api\/v1\/(?:namespaces\/([a-z0-9-]{1,63})\/)?serviceaccounts(?:\/([a-z0-9.-]{1,253}))?$/;

  return {
    requests,
    async handle(request) {
      const url = new URL(request.url);
      const match = route.exec(url.pathname);
      if (!match) return undefined;
      const [, namespace, name] = match;
      const refused = kube.admit(request, url, { token: options.token, requests, method: 'GET' });
      if (refused) return refused;
      if (name) {
        if (!namespace) return kube.resourceNotFound();
        await gate('get');
        const injected = fault('get');
        if (injected) return injected;
        if (getDelay > 0) await new Promise((resolve) => setTimeout(resolve, getDelay));
        return store.read(namespace, name);
      }
      const watching = kube.isWatch(url);
      await gate(watching ? 'watch' : 'list');
      const injected = fault(watching ? 'watch' : 'list');
      if (injected) return injected;
      const inNamespace = (sa: StoredServiceAccount) =>
        !namespace || sa.metadata.namespace === namespace;
      return watching ? store.watch(url, inNamespace) : store.list(inNamespace);
    },
    upsert,
    remove: store.remove,
    pauseWatches: store.pauseWatches,
    resumeWatches: store.resumeWatches,
    closeWatches: store.closeWatches,
    failNext(endpoint, code, count = 1) {
      for (let i = 0; i < count; i++) faults[endpoint].push(code);
    },
    hold(endpoint) {
      let release = () => {};
      const promise = new Promise<void>((resolve) => {
        release = resolve;
      });
      held[endpoint] = { promise, release };
    },
    release(endpoint) {
      held[endpoint]?.release();
      delete held[endpoint];
    },
    setGetDelay(ms) {
      getDelay = ms;
    },
    openWatches: store.openWatches,
    compact: store.compact,
  };
}

export interface FakeKubeServiceAccounts extends KubeServiceAccountsHandler, kube.FakeServer {
  token: string;
}

/** The handler on its own HTTPS server on 127.0.0.1 (as kube-apiserver: TLS, a CA in the kubeconfig). */
export async function startFakeKubeServiceAccounts(
  initial: FakeServiceAccount[] = [],
): Promise<FakeKubeServiceAccounts> {
  const token = kube.newToken();
  const handler = kubeServiceAccountsHandler({ token, initial });
  const server = await kube.serve({
    token,
    handlers: [handler.handle],
    closeWatches: handler.closeWatches,
  });
  return Object.assign(handler, { token, ...server });
}
