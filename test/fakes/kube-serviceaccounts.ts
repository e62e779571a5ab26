import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { makeCertificate } from '../support/tls.js';

/**
 * The ServiceAccount part of a kube-apiserver, as a Web request handler (mountable into a larger
 * fake) plus a standalone server. It speaks what @kubernetes/client-node's informer and
 * CoreV1Api expect: lists with a resourceVersion, newline-delimited watch streams resumed from a
 * resourceVersion (an expired one gets the 410 Gone ERROR event the real server sends), GET of
 * one object, `Status` bodies for 401/404/405, bearer-token authentication.
 */

export interface FakeServiceAccount {
  namespace: string;
  name: string;
  annotations?: Record<string, string>;
}

interface StoredServiceAccount {
  apiVersion: 'v1';
  kind: 'ServiceAccount';
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    resourceVersion: string;
    creationTimestamp: string;
    annotations?: Record<string, string>;
  };
}

type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';
interface WatchEvent {
  type: EventType;
  object: StoredServiceAccount;
  rv: number;
}

interface Watcher {
  namespace?: string;
  send(line: string): void;
  close(): void;
  paused: string[] | undefined;
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
    {
      status: code,
      headers: { 'content-type': 'application/json' },
    },
  );

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
  const objects = new Map<string, StoredServiceAccount>();
  let events: WatchEvent[] = [];
  let revision = 100;
  let oldestResumable = revision;
  const watchers = new Set<Watcher>();
  const faults: Record<KubeEndpoint, number[]> = { list: [], watch: [], get: [] };
  let getDelay = 0;
  const held: Partial<Record<KubeEndpoint, { promise: Promise<void>; release: () => void }>> = {};
  const gate = async (endpoint: KubeEndpoint) => {
    await held[endpoint]?.promise;
  };
  let paused = false;
  const requests: string[] = [];

  const key = (namespace: string, name: string) => `${namespace}/${name}`;
  const emit = (type: EventType, object: StoredServiceAccount) => {
    const event = { type, object, rv: revision };
    events.push(event);
    const line = `${JSON.stringify({ type, object })}\n`;
    for (const watcher of watchers) {
      if (watcher.namespace && watcher.namespace !== object.metadata.namespace) continue;
      if (watcher.paused) watcher.paused.push(line);
      else watcher.send(line);
    }
  };

  const upsert = (sa: FakeServiceAccount) => {
    revision++;
    const existing = objects.get(key(sa.namespace, sa.name));
    const object: StoredServiceAccount = {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: {
        name: sa.name,
        namespace: sa.namespace,
        uid: existing?.metadata.uid ?? randomUUID(),
        resourceVersion: String(revision),
        creationTimestamp:
          existing?.metadata.creationTimestamp ??
          new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
        ...(sa.annotations ? { annotations: { ...sa.annotations } } : {}),
      },
    };
    objects.set(key(sa.namespace, sa.name), object);
    emit(existing ? 'MODIFIED' : 'ADDED', object);
  };
  for (const sa of options.initial ?? []) upsert(sa);

  const fault = (endpoint: KubeEndpoint): Response | undefined => {
    const code = faults[endpoint].shift();
    return code === undefined
      ? undefined
      : status(code, REASONS[code] ?? 'InternalError', `injected fault (${code})`);
  };

  const list = (namespace?: string) => ({
    kind: 'ServiceAccountList',
    apiVersion: 'v1',
    metadata: { resourceVersion: String(revision) },
    items: [...objects.values()].filter((sa) => !namespace || sa.metadata.namespace === namespace),
  });

  const watch = (url: URL, namespace?: string): Response => {
    const from = Number(url.searchParams.get('resourceVersion') || revision);
    const timeoutSeconds = Number(url.searchParams.get('timeoutSeconds') || 0);
    let watcher: Watcher;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        const encoder = new TextEncoder();
        let closed = false;
        watcher = {
          ...(namespace ? { namespace } : {}),
          paused: paused ? [] : undefined,
          send: (line) => {
            if (!closed) controller.enqueue(encoder.encode(line));
          },
          close: () => {
            if (closed) return;
            closed = true;
            watchers.delete(watcher);
            controller.close();
          },
        };
        if (!Number.isFinite(from) || from < oldestResumable) {
          // What kube-apiserver sends for a compacted resourceVersion: an ERROR event, then the end.
          watcher.send(
            `${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `too old resource version: ${from} (${revision})`, reason: 'Expired', code: 410 } })}\n`,
          );
          watcher.close();
          return;
        }
        watchers.add(watcher);
        for (const event of events) {
          if (event.rv > from && (!namespace || event.object.metadata.namespace === namespace)) {
            const line = `${JSON.stringify({ type: event.type, object: event.object })}\n`;
            if (watcher.paused) watcher.paused.push(line);
            else watcher.send(line);
          }
        }
        if (timeoutSeconds > 0) setTimeout(() => watcher.close(), timeoutSeconds * 1000).unref();
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

  const route =
    /^\/api\/v1\/(?:namespaces\/([a-z0-9-]{1,63})\/)?serviceaccounts(?:\/([a-z0-9.-]{1,253}))?$/;

  return {
    requests,
    async handle(request) {
      const url = new URL(request.url);
      const match = route.exec(url.pathname);
      if (!match) return undefined;
      const [, namespace, name] = match;
      requests.push(
        `${request.method} ${url.pathname}${url.searchParams.get('watch') ? '?watch' : ''}`,
      );
      if (request.headers.get('authorization') !== `Bearer ${options.token}`)
        return status(401, 'Unauthorized', 'Unauthorized');
      if (request.method !== 'GET')
        return status(
          405,
          'MethodNotAllowed',
          `the server does not allow this method on the requested resource`,
        );
      if (name) {
        if (!namespace)
          return status(404, 'NotFound', 'the server could not find the requested resource');
        await gate('get');
        const injected = fault('get');
        if (injected) return injected;
        if (getDelay > 0) await new Promise((resolve) => setTimeout(resolve, getDelay));
        const sa = objects.get(key(namespace, name));
        if (!sa) return status(404, 'NotFound', `serviceaccounts "${name}" not found`);
        return Response.json(sa);
      }
      const watching =
        url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1';
      await gate(watching ? 'watch' : 'list');
      const injected = fault(watching ? 'watch' : 'list');
      if (injected) return injected;
      return watching ? watch(url, namespace) : Response.json(list(namespace));
    },
    upsert,
    remove(namespace, name) {
      const existing = objects.get(key(namespace, name));
      if (!existing) return;
      objects.delete(key(namespace, name));
      revision++;
      emit('DELETED', {
        ...existing,
        metadata: { ...existing.metadata, resourceVersion: String(revision) },
      });
    },
    pauseWatches() {
      paused = true;
      for (const watcher of watchers) watcher.paused ??= [];
    },
    resumeWatches() {
      paused = false;
      for (const watcher of watchers) {
        const held = watcher.paused ?? [];
        watcher.paused = undefined;
        for (const line of held) watcher.send(line);
      }
    },
    closeWatches() {
      for (const watcher of [...watchers]) watcher.close();
    },
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
    openWatches: () => watchers.size,
    compact() {
      oldestResumable = revision;
      events = [];
    },
  };
}

export interface FakeKubeServiceAccounts extends KubeServiceAccountsHandler {
  url: string;
  token: string;
  /** PEM of the server's certificate, trusted by the kubeconfig. */
  ca: string;
  /** Writes a kubeconfig that points at this server with its bearer token; returns its path. */
  writeKubeconfig(dir: string): Promise<string>;
  close(): Promise<void>;
}

/** The handler on its own HTTPS server on 127.0.0.1 (as kube-apiserver: TLS, a CA in the kubeconfig). */
export async function startFakeKubeServiceAccounts(
  initial: FakeServiceAccount[] = [],
): Promise<FakeKubeServiceAccounts> {
  const token = `fake-kube-token-${randomUUID()}`;
  const handler = kubeServiceAccountsHandler({ token, initial });
  const certDir = await mkdtemp(join(tmpdir(), 'fake-kube-tls-'));
  const certificate = await makeCertificate(certDir, 'apiserver', 'kube-apiserver');
  const server = serve({
    fetch: async (request) =>
      (await handler.handle(request)) ??
      status(404, 'NotFound', 'the server could not find the requested resource'),
    port: 0,
    hostname: '127.0.0.1',
    createServer,
    serverOptions: { cert: certificate.cert, key: await readFile(certificate.keyFile) },
  });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const { port } = server.address() as AddressInfo;
  const url = `https://127.0.0.1:${port}`;
  return Object.assign(handler, {
    url,
    token,
    ca: certificate.cert,
    async writeKubeconfig(dir: string) {
      const path = join(dir, 'kubeconfig');
      await writeFile(path, kubeconfigYaml(url, token, certificate.cert), { mode: 0o600 });
      return path;
    },
    close: async () => {
      handler.closeWatches();
      await new Promise<void>((resolve) => {
        // Stop accepting first, then drop what is open: a client reconnecting in between is refused.
        server.close(() => resolve());
        (server as unknown as { closeAllConnections(): void }).closeAllConnections();
      });
      await rm(certDir, { recursive: true, force: true });
    },
  });
}

export function kubeconfigYaml(server: string, token: string, ca: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `- name: fake\n  cluster:\n    server: ${server}\n    certificate-authority-data: ${Buffer.from(ca).toString('base64')}`,
    'users:',
    `- name: webhook\n  user:\n    token: ${token}`,
    'contexts:',
    '- name: fake\n  context:\n    cluster: fake\n    user: webhook',
    'current-context: fake',
    '',
  ].join('\n');
}
