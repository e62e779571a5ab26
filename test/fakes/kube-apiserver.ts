import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  connect,
  createServer as createNetServer,
  type AddressInfo,
  type Server as NetServer,
  type Socket,
} from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { generateClusterKey, signKubeToken, type ClusterKey } from '../support/keys.js';
import { statusBody } from './kube-resources.js';
import { testPki } from './tls.js';

/**
 * A fake kube-apiserver for the two service-account issuer discovery endpoints, behaving like the
 * real one: HTTPS with its own CA; a bearer token is required and must be a ServiceAccount token
 * this apiserver signed for one of its API audiences (else 401, as a metav1.Status); RBAC can
 * forbid a subject (403); `/.well-known/openid-configuration` as application/json and
 * `/openid/v1/jwks` as application/jwk-set+json with `Cache-Control: public, max-age=3600`; key
 * rotation the Kubernetes way (publish a key, switch the signing key, drop the old key).
 */
export interface FakeKubeApiserver {
  url: string;
  caPem: string;
  /** --service-account-issuer (the first one: what new tokens carry and discovery says). */
  issuer: string;
  /** --api-audiences: what the apiserver's own API accepts. */
  readonly apiAudience: string;
  /** Keys published in the JWKS (--service-account-key-file); the signing key is among them. */
  readonly keys: readonly ClusterKey[];
  readonly signingKey: ClusterKey;
  /** Publishes another verification key. */
  addKey(key: ClusterKey): void;
  /** --service-account-signing-key-file: new tokens are signed with this (already published) key. */
  setSigningKey(key: ClusterKey): void;
  removeKey(kid: string): void;
  /** A projected ServiceAccount token as kubelet would get it from the TokenRequest API. */
  issueToken(options: {
    namespace: string;
    serviceAccount: string;
    audience: string | string[];
    lifetime?: number;
    issuedAt?: number;
  }): Promise<string>;
  /** A kubeconfig that trusts this apiserver's CA and authenticates with `token`. */
  writeKubeconfig(dir: string, token: string): Promise<string>;
  /** Makes the next `count` requests (default: all from now on) fail this way; 'none' clears it. */
  fault(mode: KubeFault, count?: number): void;
  /** RBAC: this subject may not read the discovery endpoints. */
  forbid(subject: string): void;
  /** Requests served, by outcome. */
  readonly served: { ok: number; unauthorized: number; forbidden: number; faulted: number };
  /** Creates a ServiceAccount (NS/NAME) that ServiceAccount admission will find. */
  addServiceAccount(namespace: string, name: string): void;
  /** Pods that passed ServiceAccount admission and reached the mutating webhooks, in order. */
  readonly admittedPods: readonly string[];
  close(): Promise<void>;
}

/** What the real kube-apiserver does that the fake reproduces (issue #11, "a real cluster"). */
export interface RealApiserverOptions {
  /** --service-account-jwks-uri: an http:// one makes the real apiserver refuse to start. */
  jwksUri?: string;
  /** ServiceAccounts that exist, as NS/NAME (default: none; add more with addServiceAccount). */
  serviceAccounts?: string[];
  /**
   * Serve discovery for an http:// issuer, which no real kube-apiserver does: only for harnesses
   * whose idbridge serve listens on plain HTTP (the in-process sync world).
   */
  allowHttpIssuer?: boolean;
}

export type KubeFault =
  'none' | 'reset' | 'garbage' | 'error' | 'empty-jwks' | 'private-jwks' | 'slow' | 'oversized';

const DISCOVERY = '/.well-known/openid-configuration';
const JWKS = '/openid/v1/jwks';

export async function startFakeKubeApiserver(
  options: { issuer: string; apiAudience?: string; key?: ClusterKey } & RealApiserverOptions,
): Promise<FakeKubeApiserver> {
  refuseInsecureJwksUri(options.jwksUri);
  const pki = await testPki();
  const serviceAccounts = new Set(options.serviceAccounts ?? []);
  const admittedPods: string[] = [];
  const initial = options.key ?? generateClusterKey('RS256');
  let keys: ClusterKey[] = [initial];
  let signingKey = initial;
  let fault: { mode: KubeFault; remaining: number } = { mode: 'none', remaining: 0 };
  const forbidden = new Set<string>();
  const served = { ok: 0, unauthorized: 0, forbidden: 0, faulted: 0 };
  const apiAudience = options.apiAudience ?? 'https://kubernetes.default.svc.cluster.local';

  const state = { issuer: options.issuer };

  const jwksBody = (): string => JSON.stringify({ keys: keys.map((k) => k.jwk) });
  const discoveryBody = (): string =>
    JSON.stringify({
      issuer: state.issuer,
      jwks_uri: options.jwksUri ?? `${state.issuer}${JWKS}`,
      response_types_supported: ['id_token'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: [...new Set(keys.map((k) => k.alg))].sort(),
    });

  /** The apiserver's token authenticator: its own keys, its issuer, its API audiences. */
  const authenticate = async (req: IncomingMessage): Promise<string | null> => {
    const match = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
    if (!match) return null;
    try {
      const { payload } = await jwtVerify(
        match[1]!,
        createLocalJWKSet({ keys: keys.map((k) => ({ ...k.jwk })) }),
        {
          issuer: state.issuer,
          audience: apiAudience,
          algorithms: ['RS256', 'ES256', 'ES384', 'ES512'],
        },
      );
      return typeof payload.sub === 'string' ? payload.sub : null;
    } catch {
      return null;
    }
  };

  const status = (
    res: ServerResponse,
    code: number,
    reason: string,
    message: string,
    details?: Record<string, unknown>,
  ): void => {
    const body = statusBody(code, reason, message, details);
    res.writeHead(code, {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
    });
    res.end(body);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'https://apiserver').pathname;
    if (fault.mode !== 'none' && fault.remaining > 0) {
      fault.remaining--;
      served.faulted++;
      switch (fault.mode) {
        case 'reset':
          req.socket.destroy();
          return;
        case 'garbage':
          res.writeHead(200, { 'content-type': 'text/html' });
          res.end('<html><body>502 Bad Gateway (upstream connect error)</body></html>');
          return;
        case 'error':
          return status(
            res,
            500,
            'InternalError',
            'Internal error occurred: etcdserver: request timed out',
          );
        case 'empty-jwks':
          if (path === JWKS) {
            res.writeHead(200, { 'content-type': 'application/jwk-set+json' });
            res.end('{"keys":[]}');
            return;
          }
          fault.remaining++;
          served.faulted--;
          break;
        case 'private-jwks':
          if (path === JWKS) {
            const leaked = {
              ...(signingKey.privateKey.export({ format: 'jwk' }) as object),
              kid: signingKey.kid,
              use: 'sig',
              alg: signingKey.alg,
            };
            res.writeHead(200, { 'content-type': 'application/jwk-set+json' });
            res.end(JSON.stringify({ keys: [leaked] }));
            return;
          }
          fault.remaining++;
          served.faulted--;
          break;
        case 'slow':
          await new Promise((resolve) => setTimeout(resolve, 30_000));
          break;
        case 'oversized':
          // A misbehaving proxy's answer: 200, JSON content type, over 1 MiB of padding.
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(`{"keys":[],"pad":"${'x'.repeat(1024 * 1024 + 1024)}"}`);
          return;
      }
    }
    const subject = await authenticate(req);
    if (!subject) {
      served.unauthorized++;
      return status(res, 401, 'Unauthorized', 'Unauthorized');
    }
    const pod = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(path);
    if (pod && req.method === 'POST') return createPod(req, res, decodeURIComponent(pod[1]!));
    // The real apiserver installs no discovery handlers for a non-https issuer ("issuer URL must use https scheme").
    if (
      (path !== DISCOVERY && path !== JWKS) ||
      (!state.issuer.startsWith('https://') && !options.allowHttpIssuer)
    )
      return status(res, 404, 'NotFound', 'the server could not find the requested resource', {});
    if (forbidden.has(subject)) {
      served.forbidden++;
      return status(
        res,
        403,
        'Forbidden',
        `forbidden: User "${subject}" cannot get path "${path}"`,
        {},
      );
    }
    if (req.method !== 'GET')
      return status(
        res,
        405,
        'MethodNotAllowed',
        `the server does not allow this method on the requested resource`,
      );
    served.ok++;
    const body = path === JWKS ? jwksBody() : discoveryBody();
    res.writeHead(200, {
      'content-type': path === JWKS ? 'application/jwk-set+json' : 'application/json',
      'cache-control': 'public, max-age=3600',
      'content-length': String(Buffer.byteLength(body)),
    });
    res.end(body);
  };

  /** POST pods: the ServiceAccount admission plugin runs before any mutating webhook, and refuses a missing ServiceAccount. */
  const createPod = async (
    req: IncomingMessage,
    res: ServerResponse,
    namespace: string,
  ): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let pod: { metadata?: { name?: string }; spec?: { serviceAccountName?: string } };
    try {
      pod = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return status(
        res,
        400,
        'BadRequest',
        'the object provided is unrecognized (must be of type Pod)',
        {},
      );
    }
    const name = pod.metadata?.name ?? '';
    const account = pod.spec?.serviceAccountName || 'default';
    if (!serviceAccounts.has(`${namespace}/${account}`)) {
      return status(
        res,
        403,
        'Forbidden',
        `pods "${name}" is forbidden: error looking up service account ${namespace}/${account}: serviceaccount "${account}" not found`,
        { name, kind: 'pods' },
      );
    }
    admittedPods.push(`${namespace}/${name}`);
    const body = JSON.stringify({
      kind: 'Pod',
      apiVersion: 'v1',
      ...pod,
      metadata: { ...pod.metadata, namespace },
    });
    res.writeHead(201, {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
    });
    res.end(body);
  };

  const server: Server = createServer(
    { key: pki.serverKeyPem, cert: pki.serverCertPem },
    (req, res) => {
      handle(req, res).catch(() => status(res, 500, 'InternalError', 'fake apiserver error'));
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const front = httpsOnlyFront((server.address() as AddressInfo).port);
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  const url = `https://127.0.0.1:${(front.address() as AddressInfo).port}`;

  return {
    url,
    caPem: pki.caPem,
    get issuer() {
      return state.issuer;
    },
    set issuer(value: string) {
      state.issuer = value;
    },
    apiAudience,
    get keys() {
      return keys;
    },
    get signingKey() {
      return signingKey;
    },
    addKey: (key) => {
      keys = [...keys, key];
    },
    setSigningKey: (key) => {
      if (!keys.some((k) => k.kid === key.kid))
        throw new Error('publish the key before signing with it');
      signingKey = key;
    },
    removeKey: (kid) => {
      if (kid === signingKey.kid) throw new Error('cannot remove the signing key');
      keys = keys.filter((k) => k.kid !== kid);
    },
    issueToken: ({ namespace, serviceAccount, audience, lifetime, issuedAt }) =>
      signKubeToken(signingKey, {
        issuer: state.issuer,
        audience,
        namespace,
        serviceAccount,
        ...(lifetime !== undefined ? { lifetime } : {}),
        ...(issuedAt !== undefined ? { issuedAt } : {}),
      }),
    writeKubeconfig: async (dir, token) => {
      const path = join(dir, 'kubeconfig');
      const yaml = [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: fake',
        '  cluster:',
        `    server: ${url}`,
        `    certificate-authority-data: ${Buffer.from(pki.caPem).toString('base64')}`,
        'users:',
        '- name: sync',
        '  user:',
        `    token: ${token}`,
        'contexts:',
        '- name: fake',
        '  context: {cluster: fake, user: sync}',
        'current-context: fake',
        '',
      ].join('\n');
      await writeFile(path, yaml, { mode: 0o600 });
      return path;
    },
    fault: (mode, count = Number.POSITIVE_INFINITY) => {
      fault = { mode, remaining: mode === 'none' ? 0 : count };
    },
    forbid: (subject) => {
      forbidden.add(subject);
    },
    served,
    addServiceAccount: (namespace, name) => {
      serviceAccounts.add(`${namespace}/${name}`);
    },
    admittedPods,
    close: () =>
      new Promise<void>((resolve) => {
        front.close(() => server.close(() => resolve()));
        front.destroyAll();
        server.closeAllConnections();
      }),
  };
}

/** kube-apiserver refuses to start with an http:// --service-account-jwks-uri. */
function refuseInsecureJwksUri(jwksUri: string | undefined): void {
  if (jwksUri !== undefined && !jwksUri.startsWith('https://')) {
    throw new Error(
      `invalid value ${JSON.stringify(jwksUri)} for --service-account-jwks-uri: jwks-uri requires https scheme`,
    );
  }
}

/**
 * HTTPS only, as Go's net/http answers a plain-HTTP client on a TLS port: a TLS handshake is piped
 * to the HTTPS server (listening on its own loopback port), anything else gets Go's 400
 * "Client sent an HTTP request to an HTTPS server."
 */
function httpsOnlyFront(httpsPort: number): NetServer & { destroyAll(): void } {
  const sockets = new Set<Socket>();
  const front = createNetServer((socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.once('data', (first: Buffer) => {
      // 0x16: a TLS handshake record.
      if (first[0] !== 0x16) {
        socket.end(
          'HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n',
        );
        return;
      }
      const upstream = connect(httpsPort, '127.0.0.1');
      sockets.add(upstream);
      upstream.on('close', () => {
        sockets.delete(upstream);
        socket.destroy();
      });
      upstream.on('error', () => socket.destroy());
      socket.on('close', () => upstream.destroy());
      upstream.write(first);
      socket.pipe(upstream).pipe(socket);
    });
  });
  return Object.assign(front, {
    destroyAll: () => {
      for (const socket of sockets) socket.destroy();
    },
  });
}
