import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { buildDiscovery } from '../../src/oidc/discovery.js';
import type { PublicJwk } from '../../src/oidc/jwks.js';

/** Ways an origin fails, each applied to one cluster's documents. */
export type OriginFault =
  | 'connection-reset'
  | 'slow-headers'
  | 'slow-body'
  | 'status-500'
  | 'status-404'
  | 'status-403'
  | 'redirect'
  | 'truncated-json'
  | 'not-json'
  | 'oversized'
  | 'private-key'
  | 'symmetric-key'
  | 'empty-keys'
  | 'wrong-issuer'
  | 'trailing-slash-issuer'
  | 'other-cluster-issuer'
  | 'discovery-missing';

export interface OriginRequest {
  path: string;
  ifNoneMatch: string | undefined;
  status: number;
}

/**
 * An idbridge-like origin whose answers a test scripts per cluster: the real documents (with
 * ETags and 304s), or one fault. `delayMs` is how long the slow faults stall.
 */
export interface ScriptedOrigin {
  url: string;
  requests: OriginRequest[];
  /** Publishes a cluster's documents with issuer `{issuerBase}/{id}`. */
  publish(id: string, jwks: { keys: PublicJwk[] }, issuerBase: string): void;
  fail(id: string, fault: OriginFault | null): void;
  close(): Promise<void>;
}

export async function startScriptedOrigin(options: { delayMs: number }): Promise<ScriptedOrigin> {
  const clusters = new Map<
    string,
    {
      discovery: string;
      jwks: string;
      issuerBase: string;
      keys: PublicJwk[];
      fault: OriginFault | null;
    }
  >();
  const requests: OriginRequest[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const later = (fn: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, options.delayMs);
    timers.add(timer);
  };

  const send = (
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    body: string,
    headers: Record<string, string> = {},
  ) => {
    requests.push({ path: req.url ?? '', ifNoneMatch: req.headers['if-none-match'], status });
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(body);
  };

  const server = createServer((req, res) => {
    const match = /^\/([^/]+)(\/\.well-known\/openid-configuration|\/openid\/v1\/jwks)$/.exec(
      req.url ?? '',
    );
    const cluster = match ? clusters.get(match[1]!) : undefined;
    if (!match || !cluster)
      return send(
        req,
        res,
        404,
        '{"error":{"code":"cluster_not_found","message":"no such cluster"}}',
      );
    const kind = match[2]!.endsWith('jwks') ? 'jwks' : 'discovery';
    const good = cluster[kind];
    const otherIssuer = (issuer: string) =>
      JSON.stringify({
        ...JSON.parse(cluster.discovery),
        issuer,
        jwks_uri: `${issuer}/openid/v1/jwks`,
      });
    switch (cluster.fault) {
      case 'connection-reset':
        requests.push({
          path: req.url ?? '',
          ifNoneMatch: req.headers['if-none-match'],
          status: 0,
        });
        return req.socket.destroy();
      case 'slow-headers':
        return later(() => send(req, res, 200, good));
      case 'slow-body':
        res.writeHead(200, {
          'content-type': 'application/json',
          'content-length': String(good.length),
        });
        res.write(good.slice(0, 10));
        return later(() => res.end(good.slice(10)));
      case 'status-500':
        return send(req, res, 500, '{"error":{"code":"internal","message":"internal error"}}');
      case 'status-404':
        return send(
          req,
          res,
          404,
          '{"error":{"code":"cluster_not_found","message":"no such cluster"}}',
        );
      case 'status-403':
        return send(req, res, 403, '<Error><Code>AccessDenied</Code></Error>', {
          'content-type': 'application/xml',
        });
      case 'redirect':
        return send(req, res, 302, '', { location: 'http://127.0.0.1:9/elsewhere' });
      case 'truncated-json':
        return send(req, res, 200, good.slice(0, Math.floor(good.length / 2)));
      case 'not-json':
        return send(req, res, 200, '<!doctype html><title>Maintenance</title><p>Back soon', {
          'content-type': 'text/html',
        });
      case 'oversized':
        return send(
          req,
          res,
          200,
          JSON.stringify({ keys: cluster.keys, padding: 'x'.repeat(70 * 1024) }),
        );
      case 'private-key':
        if (kind === 'jwks')
          return send(
            req,
            res,
            200,
            JSON.stringify({ keys: cluster.keys.map((key) => ({ ...key, d: 'AQAB' })) }),
          );
        break;
      case 'symmetric-key':
        if (kind === 'jwks')
          return send(
            req,
            res,
            200,
            JSON.stringify({
              keys: [{ kty: 'oct', kid: 'hmac', k: 'c2VjcmV0LXNlY3JldC1zZWNyZXQ' }],
            }),
          );
        break;
      case 'empty-keys':
        if (kind === 'jwks') return send(req, res, 200, '{"keys":[]}');
        break;
      case 'wrong-issuer':
        if (kind === 'discovery')
          return send(req, res, 200, otherIssuer(`https://attacker.example/${match[1]}`));
        break;
      case 'trailing-slash-issuer':
        if (kind === 'discovery')
          return send(req, res, 200, otherIssuer(`${cluster.issuerBase}/${match[1]}/`));
        break;
      case 'other-cluster-issuer':
        if (kind === 'discovery')
          return send(req, res, 200, otherIssuer(`${cluster.issuerBase}/another-cluster`));
        break;
      case 'discovery-missing':
        if (kind === 'discovery')
          return send(
            req,
            res,
            404,
            '{"error":{"code":"cluster_not_found","message":"no such document"}}',
          );
        break;
      case null:
        break;
    }
    const etag = `"${createHash('sha256').update(good).digest('base64url')}"`;
    if (req.headers['if-none-match'] === etag) {
      requests.push({
        path: req.url ?? '',
        ifNoneMatch: req.headers['if-none-match'],
        status: 304,
      });
      res.writeHead(304, { etag });
      return res.end();
    }
    send(req, res, 200, good, { etag });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    publish(id, jwks, issuerBase) {
      const issuer = `${issuerBase}/${id}`;
      clusters.set(id, {
        discovery: JSON.stringify(buildDiscovery(issuer, jwks.keys)),
        jwks: JSON.stringify(jwks),
        issuerBase,
        keys: jwks.keys,
        fault: clusters.get(id)?.fault ?? null,
      });
    },
    fail(id, fault) {
      const cluster = clusters.get(id);
      if (!cluster) throw new Error(`publish ${id} before failing it`);
      cluster.fault = fault;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
