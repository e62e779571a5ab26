import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { getRequestListener } from '@hono/node-server';
import type { Hono } from 'hono';
import type { NodeFastPath } from './fast-path.js';
import { listenNode } from './listen.js';

export interface NodeServerOptions {
  app: Hono;
  host: string;
  port: number;
  /** Answers fast routes straight from the socket before hono (see nodeFastPath); returns false to leave a request to hono. */
  fastPath?: NodeFastPath;
  /** How long shutdown waits for requests in flight before closing connections. */
  drainMs?: number;
  /** Serve HTTPS with this certificate (PEM) instead of plain HTTP. */
  tls?: { cert: string | Buffer; key: string | Buffer };
}

export interface RunningServer {
  server: Server | HttpsServer;
  url: string;
  close(): Promise<void>;
}

export async function startNodeServer(options: NodeServerOptions): Promise<RunningServer> {
  const honoListener = getRequestListener(options.app.fetch);
  const { fastPath } = options;
  const listener = fastPath
    ? (req: IncomingMessage, res: ServerResponse) => {
        if (!fastPath(req, res)) void honoListener(req, res);
      }
    : (req: IncomingMessage, res: ServerResponse) => void honoListener(req, res);
  const server = options.tls
    ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, listener)
    : createServer(listener);
  const listening = await listenNode(server, {
    host: options.host,
    port: options.port,
    scheme: options.tls ? 'https' : 'http',
    ...(options.drainMs !== undefined ? { drainMs: options.drainMs } : {}),
  });
  return { server, ...listening };
}

// The listen and drain helpers live in a leaf module so hosts without hono (the metadata sidecar) can use them.
export { DEFAULT_SHUTDOWN_TIMEOUT_MS, drainOnClose, listenNode } from './listen.js';
