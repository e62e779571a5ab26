import {
  CoreV1Api,
  ListWatch,
  Observable,
  Watch,
  type KubeConfig,
  type V1Pod,
} from '@kubernetes/client-node';
import { isServiceAccountEmail } from '../credentials/credential-config.js';
import { isIdbridgeError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { GKE_SERVICE_ACCOUNT_ANNOTATION } from '../webhook/annotations.js';
import {
  describeKubeError,
  ServiceAccountCache,
  type ServiceAccountSource,
} from '../webhook/service-accounts.js';
import type { IdentityAnswer, IdentityResolver, PodIdentity } from './identity.js';

/**
 * Node mode (issue #13 item 4): the calling pod is the one pod on this node that owns the
 * request's source address. A pod informer restricted to the node keeps a Map from address to
 * pods, so a lookup costs the same with 10 or 1,000 pods; zero or several owners, or a
 * host-network pod (it shares the node's address, so it cannot be told apart), get 403. The
 * pod's subject token comes from the TokenRequest API, bound to the pod, cached until 80 % of
 * its life.
 */

/** What the address index keeps of a pod. */
export interface IndexedPod {
  namespace: string;
  name: string;
  uid: string;
  serviceAccount: string;
  hostNetwork: boolean;
  ips: string[];
}

/** `::ffff:10.0.0.1` (an IPv4 client on a dual-stack socket) is 10.0.0.1. */
export function normalizeAddress(address: string): string {
  const lower = address.toLowerCase();
  return lower.startsWith('::ffff:') && lower.includes('.') ? lower.slice(7) : lower;
}

export function indexedPod(pod: V1Pod): IndexedPod | undefined {
  const { metadata, spec, status } = pod;
  if (!metadata?.name || !metadata.namespace || !spec) return undefined;
  const ips = new Set<string>();
  for (const entry of status?.podIPs ?? []) if (entry.ip) ips.add(normalizeAddress(entry.ip));
  if (status?.podIP) ips.add(normalizeAddress(status.podIP));
  return {
    namespace: metadata.namespace,
    name: metadata.name,
    uid: metadata.uid ?? '',
    serviceAccount: spec.serviceAccountName || 'default',
    hostNetwork: spec.hostNetwork === true,
    ips: [...ips],
  };
}

/** Address → pods on this node, maintained from informer events; O(1) per lookup and per event. */
export class PodAddressIndex {
  private readonly byAddress = new Map<string, Map<string, IndexedPod>>();
  private readonly byKey = new Map<string, IndexedPod>();

  upsert(pod: IndexedPod): void {
    this.remove(pod.namespace, pod.name);
    const key = `${pod.namespace}/${pod.name}`;
    this.byKey.set(key, pod);
    for (const ip of pod.ips) {
      let owners = this.byAddress.get(ip);
      if (!owners) this.byAddress.set(ip, (owners = new Map()));
      owners.set(key, pod);
    }
  }

  remove(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    const old = this.byKey.get(key);
    if (!old) return;
    this.byKey.delete(key);
    for (const ip of old.ips) {
      const owners = this.byAddress.get(ip);
      owners?.delete(key);
      if (owners?.size === 0) this.byAddress.delete(ip);
    }
  }

  owners(address: string): IndexedPod[] {
    return [...(this.byAddress.get(normalizeAddress(address))?.values() ?? [])];
  }

  get size(): number {
    return this.byKey.size;
  }
}

/** The pod's subject token for the provider's audience. */
export interface PodTokenSource {
  token(pod: IndexedPod): Promise<string>;
  /** Drops what is cached for a pod that is gone. */
  forget?(uid: string): void;
}

export interface NodeIdentitySettings {
  nodeName: string;
  /** //iam.googleapis.com/projects/NUM/locations/global/workloadIdentityPools/POOL/providers/PROV */
  audience: string;
  tokenUrl: string;
  iamCredentialsUrl: string;
}

/** The decision, on an index, a ServiceAccount source and a token source: pure enough for a benchmark. */
export class NodeIdentityResolver implements IdentityResolver {
  constructor(
    private readonly settings: NodeIdentitySettings,
    private readonly pods: PodAddressIndex,
    private readonly serviceAccounts: ServiceAccountSource,
    private readonly tokens: PodTokenSource,
    private readonly synced: () => boolean = () => true,
  ) {}

  async resolve({ remoteAddress }: { remoteAddress: string }): Promise<IdentityAnswer> {
    const address = normalizeAddress(remoteAddress);
    const owners = this.pods.owners(address);
    const node = this.settings.nodeName;
    if (owners.length === 0) {
      // Before the first list, "no pod" may only mean "not loaded yet": clients retry a 503.
      if (!this.synced())
        return {
          ok: false,
          status: 503,
          message: `the pod list of node ${node} is not loaded yet; retry shortly`,
        };
      return {
        ok: false,
        status: 403,
        message: `no running pod on node ${node} has the address ${address}; node mode identifies pods by their own address (host processes and other nodes' pods are refused)`,
      };
    }
    const hostNetwork = owners.find((pod) => pod.hostNetwork);
    if (hostNetwork) {
      return {
        ok: false,
        status: 403,
        message: `${address} is the node's address, shared by host-network pods such as ${hostNetwork.namespace}/${hostNetwork.name}, which cannot be told apart; use the metadata server sidecar (idbridge.dev/metadata-server: "true") for host-network pods`,
      };
    }
    if (owners.length > 1) {
      const names = owners
        .slice(0, 3)
        .map((pod) => `${pod.namespace}/${pod.name}`)
        .join(', ');
      return {
        ok: false,
        status: 403,
        message: `${owners.length} pods on node ${node} have the address ${address} (${names}${owners.length > 3 ? ', …' : ''}); refusing to guess which one is asking`,
      };
    }
    const pod = owners[0]!;
    let sa;
    try {
      sa = await this.serviceAccounts.get(pod.namespace, pod.serviceAccount);
    } catch (err) {
      if (!isIdbridgeError(err)) throw err;
      return { ok: false, status: 503, message: err.message };
    }
    if (!sa)
      return {
        ok: false,
        status: 403,
        message: `ServiceAccount ${pod.namespace}/${pod.serviceAccount} of pod ${pod.namespace}/${pod.name} does not exist`,
      };
    const annotated = sa.annotations[GKE_SERVICE_ACCOUNT_ANNOTATION]?.trim();
    if (annotated !== undefined && !isServiceAccountEmail(annotated)) {
      return {
        ok: false,
        status: 403,
        message: `ServiceAccount ${pod.namespace}/${pod.serviceAccount}: annotation ${GKE_SERVICE_ACCOUNT_ANNOTATION} ${JSON.stringify(annotated.slice(0, 120))} is not a Google service account email (NAME@PROJECT_ID.iam.gserviceaccount.com)`,
      };
    }
    const identity: PodIdentity = {
      namespace: pod.namespace,
      serviceAccount: pod.serviceAccount,
      ...(annotated ? { googleServiceAccount: annotated } : {}),
      audience: this.settings.audience,
      tokenUrl: this.settings.tokenUrl,
      iamCredentialsUrl: this.settings.iamCredentialsUrl,
      subjectToken: () => this.tokens.token(pod),
      key: `${pod.namespace}/${pod.serviceAccount}/${annotated ?? ''}/${this.settings.audience}`,
    };
    return { ok: true, identity };
  }
}

export interface TokenRequestOptions {
  audience: string;
  /** What TokenRequest is asked for (the apiserver may shorten it). */
  expirationSeconds?: number;
  /** Share of the lifetime after which a token is renewed. */
  refreshAt?: number;
  now?: () => number;
  timeoutMs?: number;
}

/** TokenRequest (`POST …/serviceaccounts/NAME/token`) bound to the pod; one call in flight per pod; cached until `refreshAt` of its life. */
export class TokenRequestSource implements PodTokenSource {
  private readonly cache = new Map<string, { token: string; renewAt: number } | Promise<string>>();
  private readonly now: () => number;

  constructor(
    private readonly api: CoreV1Api,
    private readonly options: TokenRequestOptions,
  ) {
    this.now = options.now ?? (() => Date.now());
  }

  token(pod: IndexedPod): Promise<string> {
    const cached = this.cache.get(pod.uid);
    if (cached instanceof Promise) return cached;
    if (cached && this.now() < cached.renewAt) return Promise.resolve(cached.token);
    const pending = this.request(pod).finally(() => {
      if (this.cache.get(pod.uid) === pending) this.cache.delete(pod.uid);
    });
    this.cache.set(pod.uid, pending);
    return pending;
  }

  forget(uid: string): void {
    this.cache.delete(uid);
  }

  private async request(pod: IndexedPod): Promise<string> {
    const expirationSeconds = this.options.expirationSeconds ?? 3600;
    const issuedAt = this.now();
    const timeoutMs = this.options.timeoutMs ?? 5000;
    let answer;
    try {
      answer = await this.api.createNamespacedServiceAccountToken(
        {
          name: pod.serviceAccount,
          namespace: pod.namespace,
          body: {
            apiVersion: 'authentication.k8s.io/v1',
            kind: 'TokenRequest',
            spec: {
              audiences: [this.options.audience],
              expirationSeconds,
              boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.name, uid: pod.uid },
            },
          },
        },
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
    } catch (err) {
      // Status and reason only: never the request, which the client logs with headers; so no cause.
      // eslint-disable-next-line preserve-caught-error
      throw new Error(
        `TokenRequest for ${pod.namespace}/${pod.serviceAccount} (pod ${pod.name}) failed: ${describeKubeError(err)}; the metadata server needs create on serviceaccounts/token`,
      );
    }
    const token = answer.status?.token;
    if (!token)
      throw new Error(
        `TokenRequest for ${pod.namespace}/${pod.serviceAccount} answered without a token`,
      );
    const expiresAt = answer.status?.expirationTimestamp
      ? new Date(answer.status.expirationTimestamp).getTime()
      : issuedAt + expirationSeconds * 1000;
    const renewAt = issuedAt + Math.max(0, expiresAt - issuedAt) * (this.options.refreshAt ?? 0.8);
    this.cache.set(pod.uid, { token, renewAt });
    return token;
  }
}

export interface NodeModeOptions extends NodeIdentitySettings {
  kubeConfig: KubeConfig;
  logger: Logger;
  tokenExpirationSeconds?: number;
  lookupTimeoutMs?: number;
  now?: () => number;
  retryDelaysMs?: { initial: number; max: number };
}

/** Pods of this node that may run containers: finished pods are out (their addresses get reused). */
export function nodeFieldSelector(nodeName: string): string {
  return `spec.nodeName=${nodeName},status.phase!=Succeeded,status.phase!=Failed`;
}

export interface RunningNodeIdentity extends IdentityResolver {
  pods: PodAddressIndex;
  ready(): boolean;
  close(): Promise<void>;
}

/** The resolver on live informers: pods of this node, ServiceAccounts (with GET fallback), TokenRequest. */
export async function startNodeIdentity(options: NodeModeOptions): Promise<RunningNodeIdentity> {
  const api = options.kubeConfig.makeApiClient(CoreV1Api);
  const index = new PodAddressIndex();
  const selector = nodeFieldSelector(options.nodeName);
  let synced = false;
  let stopped = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let retryDelay = options.retryDelaysMs?.initial ?? 1000;
  const informer = new ListWatch<V1Pod>(
    '/api/v1/pods',
    new Watch(options.kubeConfig),
    async () => {
      const list = await api.listPodForAllNamespaces({ fieldSelector: selector });
      synced = true;
      retryDelay = options.retryDelaysMs?.initial ?? 1000;
      return list;
    },
    false,
    undefined,
    selector,
  );
  const tokens = new TokenRequestSource(api, {
    audience: options.audience,
    ...(options.tokenExpirationSeconds
      ? { expirationSeconds: options.tokenExpirationSeconds }
      : {}),
    ...(options.now ? { now: options.now } : {}),
  });
  const upsert = (pod: V1Pod) => {
    const entry = indexedPod(pod);
    if (entry) index.upsert(entry);
  };
  informer.on('add', upsert);
  informer.on('update', upsert);
  informer.on('delete', (pod) => {
    if (pod.metadata?.namespace && pod.metadata.name)
      index.remove(pod.metadata.namespace, pod.metadata.name);
    if (pod.metadata?.uid) tokens.forget(pod.metadata.uid);
  });
  informer.on('error', (err: unknown) => {
    if (stopped) return;
    options.logger.warn('pod watch failed; the address index may be stale until it resumes', {
      error: describeKubeError(err),
      retryInMs: retryDelay,
    });
    retryTimer = setTimeout(() => void informer.start().catch(() => {}), retryDelay);
    retryTimer.unref();
    retryDelay = Math.min(retryDelay * 2, options.retryDelaysMs?.max ?? 30_000);
  });
  const serviceAccounts = new ServiceAccountCache(options.kubeConfig, {
    logger: options.logger,
    ...(options.lookupTimeoutMs ? { lookupTimeoutMs: options.lookupTimeoutMs } : {}),
    ...(options.retryDelaysMs ? { retryDelaysMs: options.retryDelaysMs } : {}),
  });
  const resolver = new NodeIdentityResolver(options, index, serviceAccounts, tokens, () => synced);
  const starting = informer.start();
  void serviceAccounts
    .start()
    .catch((err: unknown) =>
      options.logger.warn('ServiceAccount cache did not start', { error: describeKubeError(err) }),
    );
  await starting.catch(() => {});
  return {
    pods: index,
    ready: () => synced,
    resolve: (request) => resolver.resolve(request),
    close: async () => {
      stopped = true;
      clearTimeout(retryTimer);
      await informer.stop();
      await starting.catch(() => {});
      await informer.stop();
      await serviceAccounts.close();
    },
  };
}
