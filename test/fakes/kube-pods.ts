import { randomUUID } from 'node:crypto';
import { generateClusterKey, signKubeToken, type ClusterKey } from '../support/keys.js';
import * as kube from './kube-resources.js';
import {
  kubeServiceAccountsHandler,
  type FakeServiceAccount,
  type KubeServiceAccountsHandler,
} from './kube-serviceaccounts.js';

/**
 * The pod and TokenRequest part of a kube-apiserver, next to the ServiceAccount fake (issue #13,
 * node mode): pods listed and watched across namespaces with field selectors (`spec.nodeName`,
 * `status.phase`, `=`, `==`, `!=`; an unsupported field is a 400 as kube-apiserver answers), watch
 * events computed per selector (a pod that stops matching is DELETED for that watch), and
 * `POST …/serviceaccounts/NAME/token` signing a kube-style token with the fake's key for the
 * requested audiences, bound to a pod (`kubernetes.io.pod`), checked as the real server does:
 * the pod exists with that uid and runs as that ServiceAccount. The list/watch machinery is
 * kube-resources.ts; pod watches keep every event and ignore `timeoutSeconds`.
 */

export interface FakePod {
  namespace: string;
  name: string;
  serviceAccountName?: string;
  nodeName: string;
  podIP?: string;
  hostNetwork?: boolean;
  phase?: 'Pending' | 'Running' | 'Succeeded' | 'Failed';
}

interface StoredPod {
  apiVersion: 'v1';
  kind: 'Pod';
  metadata: kube.ObjectMeta;
  spec: {
    nodeName: string;
    serviceAccountName: string;
    hostNetwork?: boolean;
    containers: Array<{ name: string; image: string }>;
  };
  status: { phase: string; podIP?: string; podIPs?: Array<{ ip: string }>; hostIP: string };
}

export interface TokenRequestRecord {
  namespace: string;
  serviceAccount: string;
  audiences: string[];
  expirationSeconds: number;
  boundPod?: string;
}

export interface KubePodsHandler {
  handle(request: Request): Promise<Response | undefined>;
  upsertPod(pod: FakePod): StoredPod;
  removePod(namespace: string, name: string): void;
  /** Every TokenRequest served, in order. */
  tokenRequests: TokenRequestRecord[];
  /** Requests served, e.g. `GET /api/v1/pods?watch`. */
  requests: string[];
  closeWatches(): void;
}

/** The pod fields a `fieldSelector` may name here. */
const FIELDS: Record<string, (pod: StoredPod) => string> = {
  'spec.nodeName': (pod) => pod.spec.nodeName,
  'status.phase': (pod) => pod.status.phase,
  'metadata.name': (pod) => pod.metadata.name,
  'metadata.namespace': (pod) => pod.metadata.namespace,
  'status.podIP': (pod) => pod.status.podIP ?? '',
  'spec.hostNetwork': (pod) => String(pod.spec.hostNetwork ?? false),
};

export function kubePodsHandler(options: {
  token: string;
  key: ClusterKey;
  issuer: string;
  now?: () => number;
  serviceAccountExists: (namespace: string, name: string) => Promise<boolean>;
}): KubePodsHandler {
  const pods = kube.resourceStore<StoredPod>({
    resource: 'pods',
    listKind: 'PodList',
    firstRevision: 1000,
  });
  const serviceAccountUids = new Map<string, string>();
  const tokenRequests: TokenRequestRecord[] = [];
  const requests: string[] = [];
  const now = options.now ?? (() => Date.now());

  const upsertPod = (pod: FakePod): StoredPod =>
    pods.put(pod.namespace, pod.name, (meta) => {
      const ip = pod.hostNetwork ? (pod.podIP ?? '10.0.0.10') : pod.podIP;
      return {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { ...meta, creationTimestamp: kube.time(now()) },
        spec: {
          nodeName: pod.nodeName,
          serviceAccountName: pod.serviceAccountName ?? 'default',
          ...(pod.hostNetwork ? { hostNetwork: true } : {}),
          containers: [{ name: 'app', image: 'example/app:1' }],
        },
        status: {
          phase: pod.phase ?? 'Running',
          hostIP: '10.0.0.10',
          ...(ip ? { podIP: ip, podIPs: [{ ip }] } : {}),
        },
      };
    });

  const tokenRequest = async (
    request: Request,
    namespace: string,
    name: string,
  ): Promise<Response> => {
    let body: {
      spec?: {
        audiences?: string[];
        expirationSeconds?: number;
        boundObjectRef?: { kind?: string; name?: string; uid?: string };
      };
    };
    try {
      body = (await request.json()) as typeof body;
    } catch {
      return kube.status(400, 'BadRequest', 'the request body is not a TokenRequest');
    }
    if (!(await options.serviceAccountExists(namespace, name)))
      return kube.status(404, 'NotFound', `serviceaccounts "${name}" not found`);
    const audiences = body.spec?.audiences ?? [];
    const expirationSeconds = body.spec?.expirationSeconds ?? 3600;
    if (expirationSeconds < 600)
      return kube.status(
        400,
        'BadRequest',
        'spec.expirationSeconds: Invalid value: may not specify a duration less than 10 minutes',
      );
    const ref = body.spec?.boundObjectRef;
    let pod: StoredPod | undefined;
    if (ref) {
      if (ref.kind !== 'Pod')
        return kube.status(400, 'BadRequest', `cannot bind token to object of type ${ref.kind}`);
      pod = pods.get(namespace, String(ref.name));
      if (!pod) return pods.notFound(String(ref.name));
      if (ref.uid && ref.uid !== pod.metadata.uid)
        return kube.status(
          409,
          'Conflict',
          `the UID in the bound object reference (${ref.uid}) does not match the UID in record. The object might have been deleted and then recreated`,
        );
      if (pod.spec.serviceAccountName !== name)
        return kube.status(
          400,
          'BadRequest',
          `cannot bind token for serviceaccount "${name}" to pod running with different serviceaccount name.`,
        );
    }
    const uidKey = `${namespace}/${name}`;
    if (!serviceAccountUids.has(uidKey)) serviceAccountUids.set(uidKey, randomUUID());
    const issuedAt = Math.floor(now() / 1000);
    const token = await signKubeToken(options.key, {
      issuer: options.issuer,
      audience: audiences,
      namespace,
      serviceAccount: name,
      lifetime: expirationSeconds,
      issuedAt,
      claims: {
        'kubernetes.io': {
          namespace,
          serviceaccount: { name, uid: serviceAccountUids.get(uidKey) },
          ...(pod
            ? {
                pod: { name: pod.metadata.name, uid: pod.metadata.uid },
                node: { name: pod.spec.nodeName, uid: randomUUID() },
              }
            : {}),
        },
      },
    });
    tokenRequests.push({
      namespace,
      serviceAccount: name,
      audiences,
      expirationSeconds,
      ...(pod ? { boundPod: `${namespace}/${pod.metadata.name}` } : {}),
    });
    return Response.json(
      {
        kind: 'TokenRequest',
        apiVersion: 'authentication.k8s.io/v1',
        metadata: { name, namespace, creationTimestamp: null },
        spec: { audiences, expirationSeconds, ...(ref ? { boundObjectRef: ref } : {}) },
        status: {
          token,
          expirationTimestamp: kube.time((issuedAt + expirationSeconds) * 1000),
        },
      },
      { status: 201 },
    );
  };

  return {
    tokenRequests,
    requests,
    async handle(request) {
      const url = new URL(request.url);
      const token =
        /^\/api\/v1\/namespaces\/([a-z0-9-]{1,63})\/serviceaccounts\/([a-z0-9.-]{1,253})\/token$/.exec(
          url.pathname,
        );
      const podList = /^\/api\/v1\/pods$/.exec(url.pathname);
      const onePod = /^\/api\/v1\/namespaces\/([a-z0-9-]{1,63})\/pods\/([a-z0-9.-]{1,253})$/.exec(
        url.pathname,
      );
      if (!token && !podList && !onePod) return undefined;
      const refused = kube.admit(request, url, {
        token: options.token,
        requests,
        method: token ? 'POST' : 'GET',
      });
      if (refused) return refused;
      if (token) return tokenRequest(request, token[1]!, token[2]!);
      if (onePod) return pods.read(onePod[1]!, onePod[2]!);
      const selected = kube.parseFieldSelector(url.searchParams.get('fieldSelector'), FIELDS);
      if (typeof selected === 'string') return kube.status(400, 'BadRequest', selected);
      return kube.isWatch(url) ? pods.watch(url, selected) : pods.list(selected);
    },
    upsertPod,
    removePod: pods.remove,
    closeWatches: pods.closeWatches,
  };
}

export interface FakeKubeCluster {
  url: string;
  token: string;
  key: ClusterKey;
  issuer: string;
  serviceAccounts: KubeServiceAccountsHandler;
  pods: KubePodsHandler;
  writeKubeconfig(dir: string): Promise<string>;
  close(): Promise<void>;
}

/** ServiceAccounts, pods and TokenRequest on one HTTPS server on 127.0.0.1, as one kube-apiserver. */
export async function startFakeKubeCluster(
  options: {
    serviceAccounts?: FakeServiceAccount[];
    pods?: FakePod[];
    now?: () => number;
    issuer?: string;
  } = {},
): Promise<FakeKubeCluster> {
  const token = kube.newToken();
  const key = generateClusterKey('ES256');
  const issuer = options.issuer ?? 'https://kubernetes.default.svc.cluster.local';
  const serviceAccounts = kubeServiceAccountsHandler({
    token,
    initial: options.serviceAccounts ?? [],
  });
  const serviceAccountExists = async (namespace: string, name: string) =>
    (
      await serviceAccounts.handle(
        new Request(`https://fake/api/v1/namespaces/${namespace}/serviceaccounts/${name}`, {
          headers: { authorization: `Bearer ${token}` },
        }),
      )
    )?.status === 200;
  const pods = kubePodsHandler({
    token,
    key,
    issuer,
    serviceAccountExists,
    ...(options.now ? { now: options.now } : {}),
  });
  for (const pod of options.pods ?? []) pods.upsertPod(pod);
  const { url, writeKubeconfig, close } = await kube.serve({
    token,
    handlers: [pods.handle, serviceAccounts.handle],
    closeWatches: () => {
      pods.closeWatches();
      serviceAccounts.closeWatches();
    },
  });
  return { url, token, key, issuer, serviceAccounts, pods, writeKubeconfig, close };
}
