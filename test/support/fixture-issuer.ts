import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FixtureResponse {
  status?: number;
  headers?: Record<string, string>;
  /** A string is sent as is; anything else as JSON. */
  body?: unknown;
}

/**
 * A deliberately configurable issuer on loopback: each test publishes documents (good or broken)
 * under its own path prefix, so one server serves a whole table of failure cases.
 */
export interface FixtureIssuer {
  url: string;
  /** Serves `response` at `path` (exact match, GET and HEAD). */
  set(path: string, response: FixtureResponse): void;
  close(): Promise<void>;
}

export async function startFixtureIssuer(): Promise<FixtureIssuer> {
  const routes = new Map<string, FixtureResponse>();
  const server: Server = createServer((req, res) => {
    const route = routes.get(new URL(req.url ?? '/', 'http://x').pathname);
    if (!route) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
      return;
    }
    const body =
      route.body === undefined
        ? ''
        : typeof route.body === 'string'
          ? route.body
          : JSON.stringify(route.body);
    res.writeHead(route.status ?? 200, { 'content-type': 'application/json', ...route.headers });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    set: (path, response) => routes.set(path, response),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
