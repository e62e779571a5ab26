import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import type { Hono } from 'hono';
import { logRequest } from '../http/request-log.js';
import { matchDocumentPath } from '../issuer/paths.js';
import type { ClusterDocuments } from '../issuer/published.js';
import { answerDocument } from '../issuer/respond.js';
import type { Logger } from '../log/logger.js';
import { listenNode } from './listen.js';

export interface NodeServerOptions {
  app: Hono;
  logger: Logger;
  host: string;
  port: number;
  /**
   * Synchronous look-up of documents already in memory. When it answers, the public GET is
   * written straight to the socket with the same decision (answerDocument) and the same
   * precomputed headers the hono route uses, skipping Request/Response construction.
   */
  peekDocuments?: (cluster: string) => ClusterDocuments | undefined;
  /**
   * Requests a host answers itself before hono, straight from the socket (the broker's POSTs);
   * returns false to leave the request to hono.
   */
  claim?: (req: IncomingMessage, res: ServerResponse) => boolean;
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
  const { peekDocuments, logger } = options;

  const fastPath = (req: IncomingMessage, res: ServerResponse): boolean => {
    if (!peekDocuments || (req.method !== 'GET' && req.method !== 'HEAD') || !req.url) return false;
    const start = performance.now();
    const query = req.url.indexOf('?');
    const path = query === -1 ? req.url : req.url.slice(0, query);
    const match = matchDocumentPath(path);
    if (!match) return false;
    const docs = peekDocuments(match.cluster);
    if (!docs) return false;
    const answer = answerDocument(match.kind === 'jwks' ? docs.jwks : docs.discovery, req.method, req.headers['if-none-match']);
    res.writeHead(answer.status, answer.headers);
    res.end(answer.body ?? undefined);
    logRequest(logger, { method: req.method, path, status: answer.status, ms: performance.now() - start });
    return true;
  };

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    if (!fastPath(req, res) && !options.claim?.(req, res)) void honoListener(req, res);
  };
  const server = options.tls ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, listener) : createServer(listener);
  const listening = await listenNode(server, { host: options.host, port: options.port, scheme: options.tls ? 'https' : 'http', ...(options.drainMs !== undefined ? { drainMs: options.drainMs } : {}) });
  return { server, ...listening };
}

// The listen and drain helpers live in a leaf module so hosts without hono (the metadata sidecar) can use them.
export { DEFAULT_SHUTDOWN_TIMEOUT_MS, drainOnClose, listenNode } from './listen.js';
