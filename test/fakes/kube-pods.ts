import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { generateClusterKey, signKubeToken, type ClusterKey } from '../support/keys.js';
import { makeCertificate } from '../support/tls.js';
import {
  kubeconfigYaml,
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
 * the pod exists with that uid and runs as that ServiceAccount.
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
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    resourceVersion: string;
    creationTimestamp: string;
  };
  spec: {
    nodeName: string;
    serviceAccountName: string;
    hostNetwork?: boolean;
    containers: Array<{ name: string; image: string }>;
  };
  status: { phase: string; podIP?: string; podIPs?: Array<{ ip: string }>; hostIP: string };
}

interface PodEvent {
  old?: StoredPod;
  current?: StoredPod;
  rv: number;
}
type Requirement = { field: string; equal: boolean; value: string };

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

const status = (code: number, reason: string, message: string) =>
  new Response(
    JSON.stringify({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message,
      reason,
      code,
    }),
    { status: code, headers: { 'content-type': 'application/json' } },
  );

const FIELDS: Record<string, (pod: StoredPod) => string> = {
  'spec.nodeName': (pod) => pod.spec.nodeName,
  'status.phase': (pod) => pod.status.phase,
  'metadata.name': (pod) => pod.metadata.name,
  'metadata.namespace': (pod) => pod.metadata.namespace,
  'status.podIP': (pod) => pod.status.podIP ?? '',
  'spec.hostNetwork': (pod) => String(pod.spec.hostNetwork ?? false),
};

function parseSelector(value: string | null): Requirement[] | string {
  if (!value) return [];
  const requirements: Requirement[] = [];
  for (const part of value.split(',')) {
    const match = /^([a-zA-Z.]+)(!=|==|=)(.*)$/.exec(part.trim());
    if (!match) return `invalid field selector: ${part}`;
    if (!(match[1]! in FIELDS)) return `field label not supported: ${match[1]}`;
    requirements.push({ field: match[1]!, equal: match[2] !== '!=', value: match[3]! });
  }
  return requirements;
}
const matches = (pod: StoredPod | undefined, selector: Requirement[]) =>
  pod !== undefined && selector.every((r) => (FIELDS[r.field]!(pod) === r.value) === r.equal);

export function kubePodsHandler(options: {
  token: string;
  key: ClusterKey;
  issuer: string;
  now?: () => number;
  serviceAccountExists: (namespace: string, name: string) => Promise<boolean>;
}): KubePodsHandler {
  const pods = new Map<string, StoredPod>();
  const events: PodEvent[] = [];
  const watchers = new Set<{
    selector: Requirement[];
    send(event: PodEvent): void;
    close(): void;
  }>();
  const serviceAccountUids = new Map<string, string>();
  const tokenRequests: TokenRequestRecord[] = [];
  const requests: string[] = [];
  let revision = 1000;
  const now = options.now ?? (() => Date.now());

  const emit = (event: PodEvent) => {
    events.push(event);
    for (const watcher of watchers) watcher.send(event);
  };
  const eventLine = (event: PodEvent, selector: Requirement[]): string | undefined => {
    const was = matches(event.old, selector);
    const is = matches(event.current, selector);
    const type = was && is ? 'MODIFIED' : is ? 'ADDED' : was ? 'DELETED' : undefined;
    if (!type) return undefined;
    const object =
      type === 'DELETED'
        ? {
            ...(event.current ?? event.old)!,
            metadata: {
              ...(event.current ?? event.old)!.metadata,
              resourceVersion: String(event.rv),
            },
          }
        : event.current!;
    return `${JSON.stringify({ type, object })}\n`;
  };

  const upsertPod = (pod: FakePod): StoredPod => {
    revision++;
    const key = `${pod.namespace}/${pod.name}`;
    const old = pods.get(key);
    const ip = pod.hostNetwork ? (pod.podIP ?? '10.0.0.10') : pod.podIP;
    const stored: StoredPod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: pod.name,
        namespace: pod.namespace,
        uid: old?.metadata.uid ?? randomUUID(),
        resourceVersion: String(revision),
        creationTimestamp: new Date(now()).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      },
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
    pods.set(key, stored);
    emit({ ...(old ? { old } : {}), current: stored, rv: revision });
    return stored;
  };

  const list = (selector: Requirement[]) => ({
    kind: 'PodList',
    apiVersion: 'v1',
    metadata: { resourceVersion: String(revision) },
    items: [...pods.values()].filter((pod) => matches(pod, selector)),
  });

  const watch = (url: URL, selector: Requirement[]): Response => {
    const from = Number(url.searchParams.get('resourceVersion') || revision);
    const encoder = new TextEncoder();
    let watcher: { selector: Requirement[]; send(event: PodEvent): void; close(): void };
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        let closed = false;
        watcher = {
          selector,
          send: (event) => {
            const line = eventLine(event, selector);
            if (line && !closed) controller.enqueue(encoder.encode(line));
          },
          close: () => {
            if (closed) return;
            closed = true;
            watchers.delete(watcher);
            controller.close();
          },
        };
        watchers.add(watcher);
        for (const event of events) if (event.rv > from) watcher.send(event);
      },
      cancel() {
        watchers.delete(watcher);
      },
    });
    return new Response(body, {
      status: 200,
      headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
    });
  };

  const tokenRequest = async (
    request: Request,
    namespace: string,
    name: string,
  ): Promise<Response> => {
    if (request.method !== 'POST')
      return status(
        405,
        'MethodNotAllowed',
        'the server does not allow this method on the requested resource',
      );
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
      return status(400, 'BadRequest', 'the request body is not a TokenRequest');
    }
    if (!(await options.serviceAccountExists(namespace, name)))
      return status(404, 'NotFound', `serviceaccounts "${name}" not found`);
    const audiences = body.spec?.audiences ?? [];
    const expirationSeconds = body.spec?.expirationSeconds ?? 3600;
    if (expirationSeconds < 600)
      return status(
        400,
        'BadRequest',
        'spec.expirationSeconds: Invalid value: may not specify a duration less than 10 minutes',
      );
    const ref = body.spec?.boundObjectRef;
    let pod: StoredPod | undefined;
    if (ref) {
      if (ref.kind !== 'Pod')
        return status(400, 'BadRequest', `cannot bind token to object of type ${ref.kind}`);
      pod = pods.get(`${namespace}/${ref.name}`);
      if (!pod) return status(404, 'NotFound', `pods "${ref.name}" not found`);
      if (ref.uid && ref.uid !== pod.metadata.uid)
        return status(
          409,
          'Conflict',
          `the UID in the bound object reference (${ref.uid}) does not match the UID in record. The object might have been deleted and then recreated`,
        );
      if (pod.spec.serviceAccountName !== name)
        return status(
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
          expirationTimestamp: new Date((issuedAt + expirationSeconds) * 1000)
            .toISOString()
            .replace(/\.\d{3}Z$/, 'Z'),
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
      requests.push(
        `${request.method} ${url.pathname}${url.searchParams.get('watch') ? '?watch' : ''}`,
      );
      if (request.headers.get('authorization') !== `Bearer ${options.token}`)
        return status(401, 'Unauthorized', 'Unauthorized');
      if (token) return tokenRequest(request, token[1]!, token[2]!);
      if (request.method !== 'GET')
        return status(
          405,
          'MethodNotAllowed',
          'the server does not allow this method on the requested resource',
        );
      if (onePod) {
        const pod = pods.get(`${onePod[1]}/${onePod[2]}`);
        return pod ? Response.json(pod) : status(404, 'NotFound', `pods "${onePod[2]}" not found`);
      }
      const selector = parseSelector(url.searchParams.get('fieldSelector'));
      if (typeof selector === 'string') return status(400, 'BadRequest', selector);
      const watching =
        url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1';
      return watching ? watch(url, selector) : Response.json(list(selector));
    },
    upsertPod,
    removePod(namespace, name) {
      const old = pods.get(`${namespace}/${name}`);
      if (!old) return;
      pods.delete(`${namespace}/${name}`);
      revision++;
      emit({ old, rv: revision });
    },
    closeWatches() {
      for (const watcher of [...watchers]) watcher.close();
    },
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
  const token = `fake-kube-token-${randomUUID()}`;
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
  const certDir = await mkdtemp(join(tmpdir(), 'fake-kube-tls-'));
  const certificate = await makeCertificate(certDir, 'apiserver', 'kube-apiserver');
  const server = serve({
    fetch: async (request) =>
      (await pods.handle(request)) ??
      (await serviceAccounts.handle(request)) ??
      status(404, 'NotFound', 'the server could not find the requested resource'),
    port: 0,
    hostname: '127.0.0.1',
    createServer,
    serverOptions: { cert: certificate.cert, key: await readFile(certificate.keyFile) },
  });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    token,
    key,
    issuer,
    serviceAccounts,
    pods,
    async writeKubeconfig(dir) {
      const path = join(dir, 'kubeconfig');
      await writeFile(path, kubeconfigYaml(url, token, certificate.cert), { mode: 0o600 });
      return path;
    },
    close: async () => {
      pods.closeWatches();
      serviceAccounts.closeWatches();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as unknown as { closeAllConnections(): void }).closeAllConnections();
      });
      await rm(certDir, { recursive: true, force: true });
    },
  };
}
