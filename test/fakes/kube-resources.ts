import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve as serveNode } from '@hono/node-server';
import { makeCertificate } from '../support/tls.js';

/**
 * The list/watch machinery a kube-apiserver fake shares across resources (ServiceAccounts, pods):
 * a store of namespaced objects under one resourceVersion counter, list answers carrying that
 * resourceVersion, newline-delimited watch streams resumed from a resourceVersion with events
 * computed per watch (an object that stops matching is DELETED for that watch), `Status` bodies,
 * bearer-token authentication, and the HTTPS server with its kubeconfig. What a resource is, its
 * routes and its own rules stay in its module, which imports this one as `kube` (`kube.status`,
 * `kube.time`, as Kubernetes' own code says `metav1.Status`).
 */

/** The ObjectMeta fields every fake object carries. */
export interface ObjectMeta {
  name: string;
  namespace: string;
  uid: string;
  resourceVersion: string;
  creationTimestamp: string;
}

export interface StoredObject {
  metadata: ObjectMeta;
}

/** A metav1.Time as Kubernetes serialises it: RFC 3339 in whole seconds. */
export const time = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** A metav1.Status failure as kube-apiserver serialises it: `details` only where it sets them. */
export const statusBody = (
  code: number,
  reason: string,
  message: string,
  details?: Record<string, unknown>,
) =>
  JSON.stringify({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(details ? { details } : {}),
    code,
  });

/** A metav1.Status failure, as kube-apiserver answers errors. */
export const status = (code: number, reason: string, message: string) =>
  new Response(statusBody(code, reason, message), {
    status: code,
    headers: { 'content-type': 'application/json' },
  });

export const resourceNotFound = () =>
  status(404, 'NotFound', 'the server could not find the requested resource');

/**
 * Records the request (e.g. `GET /api/v1/pods?watch`), then refuses a wrong bearer token (401) or
 * a method other than `method` on this path (405), in that order, as kube-apiserver does.
 */
export function admit(
  request: Request,
  url: URL,
  options: { token: string; requests: string[]; method: 'GET' | 'POST' },
): Response | undefined {
  options.requests.push(
    `${request.method} ${url.pathname}${url.searchParams.get('watch') ? '?watch' : ''}`,
  );
  if (request.headers.get('authorization') !== `Bearer ${options.token}`)
    return status(401, 'Unauthorized', 'Unauthorized');
  if (request.method !== options.method)
    return status(
      405,
      'MethodNotAllowed',
      'the server does not allow this method on the requested resource',
    );
  return undefined;
}

export const isWatch = (url: URL) =>
  url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1';

/**
 * A `fieldSelector` (`a=b`, `a==b`, `a!=b`, comma-joined) over the fields a resource supports; an
 * unsupported field or a malformed term is the message kube-apiserver sends with its 400.
 */
export function parseFieldSelector<T>(
  value: string | null,
  fields: Record<string, (object: T) => string>,
): ((object: T) => boolean) | string {
  const requirements: Array<{ field: string; equal: boolean; value: string }> = [];
  for (const part of value ? value.split(',') : []) {
    const match = /^([a-zA-Z.]+)(!=|==|=)(.*)$/.exec(part.trim());
    if (!match) return `invalid field selector: ${part}`;
    if (!(match[1]! in fields)) return `field label not supported: ${match[1]}`;
    requirements.push({ field: match[1]!, equal: match[2] !== '!=', value: match[3]! });
  }
  return (object) => requirements.every((r) => (fields[r.field]!(object) === r.value) === r.equal);
}

interface StoreEvent<T> {
  old?: T;
  current?: T;
  rv: number;
}

interface Watcher<T> {
  matches(object: T): boolean;
  send(line: string): void;
  close(): void;
  /** Lines held back while watches are paused. */
  paused: string[] | undefined;
}

export interface ResourceStore<T extends StoredObject> {
  get(namespace: string, name: string): T | undefined;
  /** GET of one object: it, or the 404 Status kube-apiserver sends (`pods "web" not found`). */
  read(namespace: string, name: string): Response;
  notFound(name: string): Response;
  /**
   * Stores what `build` makes at the next resourceVersion and notifies watches; `meta` carries
   * the name, the uid (kept from the object there, if any, else new) and that resourceVersion.
   */
  put(
    namespace: string,
    name: string,
    build: (meta: Omit<ObjectMeta, 'creationTimestamp'>, existing: T | undefined) => T,
  ): T;
  /** Deletes the object at the next resourceVersion; watches get it DELETED at that version. */
  remove(namespace: string, name: string): void;
  /** The list answer (`kind: …List`, the current resourceVersion) of the objects `matches` keeps. */
  list(matches: (object: T) => boolean): Response;
  /** A watch stream of the objects `matches` keeps, from the request's `resourceVersion` on. */
  watch(url: URL, matches: (object: T) => boolean): Response;
  pauseWatches(): void;
  resumeWatches(): void;
  closeWatches(): void;
  openWatches(): number;
  /** Forgets past events: resuming a watch before now gets 410 Expired. */
  compact(): void;
}

export function resourceStore<T extends StoredObject>(options: {
  /** As in the 404 message, e.g. `pods`. */
  resource: string;
  listKind: string;
  firstRevision: number;
}): ResourceStore<T> {
  const objects = new Map<string, T>();
  let events: StoreEvent<T>[] = [];
  let revision = options.firstRevision;
  let oldestResumable = revision;
  const watchers = new Set<Watcher<T>>();
  let paused = false;
  const key = (namespace: string, name: string) => `${namespace}/${name}`;

  const eventLine = (event: StoreEvent<T>, matches: (object: T) => boolean) => {
    const was = event.old !== undefined && matches(event.old);
    const is = event.current !== undefined && matches(event.current);
    const type = was && is ? 'MODIFIED' : is ? 'ADDED' : was ? 'DELETED' : undefined;
    if (!type) return undefined;
    const last = (event.current ?? event.old)!;
    const object =
      type === 'DELETED'
        ? { ...last, metadata: { ...last.metadata, resourceVersion: String(event.rv) } }
        : event.current!;
    return `${JSON.stringify({ type, object })}\n`;
  };
  const deliver = (watcher: Watcher<T>, event: StoreEvent<T>) => {
    const line = eventLine(event, watcher.matches);
    if (!line) return;
    if (watcher.paused) watcher.paused.push(line);
    else watcher.send(line);
  };
  const emit = (event: StoreEvent<T>) => {
    events.push(event);
    for (const watcher of watchers) deliver(watcher, event);
  };

  const notFound = (name: string) =>
    status(404, 'NotFound', `${options.resource} "${name}" not found`);

  return {
    get: (namespace, name) => objects.get(key(namespace, name)),
    read(namespace, name) {
      const object = objects.get(key(namespace, name));
      return object ? Response.json(object) : notFound(name);
    },
    notFound,
    put(namespace, name, build) {
      revision++;
      const old = objects.get(key(namespace, name));
      const uid = old?.metadata.uid ?? randomUUID();
      const current = build({ name, namespace, uid, resourceVersion: String(revision) }, old);
      objects.set(key(namespace, name), current);
      emit({ ...(old ? { old } : {}), current, rv: revision });
      return current;
    },
    remove(namespace, name) {
      const old = objects.get(key(namespace, name));
      if (!old) return;
      objects.delete(key(namespace, name));
      revision++;
      emit({ old, rv: revision });
    },
    list: (matches) =>
      Response.json({
        kind: options.listKind,
        apiVersion: 'v1',
        metadata: { resourceVersion: String(revision) },
        items: [...objects.values()].filter(matches),
      }),
    watch(url, matches) {
      const asked = url.searchParams.get('resourceVersion');
      // Unset or "0" (kube-apiserver's "start at most recent" and "start at any"): the current
      // state as synthetic ADDED events, then every change. Any other value resumes after it.
      const fromState = asked === null || asked === '' || asked === '0';
      const from = fromState ? revision : Number(asked);
      const timeoutSeconds = Number(url.searchParams.get('timeoutSeconds') || 0);
      let watcher: Watcher<T>;
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          const encoder = new TextEncoder();
          let closed = false;
          watcher = {
            matches,
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
          // A watch from before the oldest kept event, or from a resourceVersion that is not a number.
          if (!Number.isFinite(from) || from < oldestResumable) {
            // What kube-apiserver sends for a compacted resourceVersion: an ERROR event, then the end.
            const expired = statusBody(
              410,
              'Expired',
              `too old resource version: ${from} (${revision})`,
            );
            watcher.send(`{"type":"ERROR","object":${expired}}\n`);
            watcher.close();
            return;
          }
          watchers.add(watcher);
          if (fromState) {
            for (const object of objects.values())
              if (matches(object)) watcher.send(`${JSON.stringify({ type: 'ADDED', object })}\n`);
          } else for (const event of events) if (event.rv > from) deliver(watcher, event);
          // The server ends a watch after its timeoutSeconds.
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
    openWatches: () => watchers.size,
    compact() {
      oldestResumable = revision;
      events = [];
    },
  };
}

export interface FakeServer {
  url: string;
  /** PEM of the server's certificate, trusted by the kubeconfig. */
  ca: string;
  /** Writes a kubeconfig that points at this server with its bearer token; returns its path. */
  writeKubeconfig(dir: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * Resource handlers on one HTTPS server on 127.0.0.1 (as kube-apiserver: TLS, a CA in the
 * kubeconfig); the first handler that knows a path answers it, else 404.
 */
export async function serve(options: {
  token: string;
  handlers: Array<(request: Request) => Promise<Response | undefined>>;
  /** Ends open watches before the server closes. */
  closeWatches(): void;
}): Promise<FakeServer> {
  const certDir = await mkdtemp(join(tmpdir(), 'fake-kube-tls-'));
  const certificate = await makeCertificate(certDir, 'apiserver', 'kube-apiserver');
  const server = serveNode({
    fetch: async (request) => {
      for (const handle of options.handlers) {
        const response = await handle(request);
        if (response) return response;
      }
      return resourceNotFound();
    },
    port: 0,
    hostname: '127.0.0.1',
    createServer,
    serverOptions: { cert: certificate.cert, key: await readFile(certificate.keyFile) },
  });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    ca: certificate.cert,
    async writeKubeconfig(dir) {
      const path = join(dir, 'kubeconfig');
      await writeFile(path, kubeconfigYaml(url, options.token, certificate.cert), { mode: 0o600 });
      return path;
    },
    close: async () => {
      options.closeWatches();
      await new Promise<void>((resolve) => {
        // Stop accepting first, then drop what is open: a client reconnecting in between is refused.
        server.close(() => resolve());
        (server as unknown as { closeAllConnections(): void }).closeAllConnections();
      });
      await rm(certDir, { recursive: true, force: true });
    },
  };
}

/** A bearer token for one fake server (its kubeconfig carries it). */
export const newToken = () => `fake-kube-token-${randomUUID()}`;

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
