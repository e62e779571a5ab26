import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An HTTP proxy in front of a server that can fail requests the way load balancers and gateways
 * do in front of a real API: a status with an HTML page, or a dropped connection.
 */
export interface FlakyProxy {
  url: string;
  /** The next `count` requests get `status` with an HTML body, or have their connection reset (status 0). */
  fail(status: number, count?: number): void;
  readonly forwarded: number;
  close(): Promise<void>;
}

export async function startFlakyProxy(target: string): Promise<FlakyProxy> {
  const upstream = new URL(target);
  let failure = { status: 0, remaining: 0 };
  let forwarded = 0;
  const server = createServer((req, res) => {
    if (failure.remaining > 0) {
      failure.remaining--;
      if (failure.status === 0) {
        req.socket.destroy();
        return;
      }
      req.resume();
      res.writeHead(failure.status, { 'content-type': 'text/html' });
      res.end(
        `<html><body><h1>${failure.status} Server Error</h1>The server encountered a temporary error.</body></html>`,
      );
      return;
    }
    forwarded++;
    const out = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        path: req.url,
        method: req.method,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    fail: (status, count = Number.POSITIVE_INFINITY) => {
      failure = { status, remaining: count };
    },
    get forwarded() {
      return forwarded;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
