import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';

/** How long shutdown waits for requests in flight by default (Kubernetes' grace period is 30 s). */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10_000;

/**
 * What every Node host does around its request handler: timeouts that outlast load balancers,
 * listen, report the URL, and close by draining (see drainOnClose).
 */
export async function listenNode(
  server: Server | HttpsServer,
  options: { host: string; port: number; scheme: 'http' | 'https'; drainMs?: number },
): Promise<{ url: string; close(): Promise<void> }> {
  // Longer than the idle timeout of common load balancers (60 s), so they close first.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 30_000;
  const drain = drainOnClose(server, options.drainMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  return { url: `${options.scheme}://${host}:${address.port}`, close: drain };
}

/**
 * Graceful close for a Node server: stop accepting, close idle keep-alive connections at once,
 * answer every response from then on with `Connection: close` (so clients stop reusing the
 * connection and Node closes it after the answer), and at `deadlineMs` drop what is still open.
 * Installed before the host's own request listener so it sees every request first.
 */
export function drainOnClose(
  server: Server | HttpsServer,
  deadlineMs: number,
): () => Promise<void> {
  const inFlight = new Set<ServerResponse>();
  let draining = false;
  // Headers already sent with keep-alive: the connection goes idle after the answer, close it then.
  const closeIdleSoon = () => setImmediate(() => server.closeIdleConnections());
  const closeAfterAnswer = (res: ServerResponse) => {
    if (!res.headersSent) res.setHeader('connection', 'close');
    else res.once('finish', closeIdleSoon);
  };
  server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => {
    if (draining) closeAfterAnswer(res);
    inFlight.add(res);
    res.once('close', () => inFlight.delete(res));
  });
  let closed: Promise<void> | undefined;
  return () => {
    closed ??= new Promise<void>((resolve) => {
      draining = true;
      for (const res of inFlight) closeAfterAnswer(res);
      const force = setTimeout(() => server.closeAllConnections(), deadlineMs);
      force.unref();
      server.close(() => {
        clearTimeout(force);
        resolve();
      });
      server.closeIdleConnections();
    });
    return closed;
  };
}
