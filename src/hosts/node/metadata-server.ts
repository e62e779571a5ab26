import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import {
  decideMetadata,
  failureAnswer,
  gate,
  identityAnswer,
  refusal,
  tokenAnswer,
  type InstanceView,
  type MetadataAnswer,
  type MetadataRequest,
  type Readiness,
} from '../../metadata/api.js';
import type { IdentityAnswer, IdentityResolver, PodIdentity } from '../../metadata/identity.js';
import type { TokenSource } from '../../metadata/token-source.js';
import type { Logger } from '../../log/logger.js';
import { listenNode } from './listen.js';

export interface MetadataServerOptions {
  resolver: IdentityResolver;
  /** What the API shows for an identity (sidecar: always the same view). */
  viewOf: (identity: PodIdentity) => InstanceView;
  tokens: TokenSource;
  readiness: () => Promise<Readiness>;
  logger: Logger;
  /** Every address to listen on (sidecar: loopback; the link-local variant adds 169.254.169.254:80). */
  listen: Array<{ host: string; port: number }>;
  drainMs?: number;
  now?: () => number;
}

export interface RunningMetadataServer {
  /** The first listener's URL, e.g. http://127.0.0.1:988. */
  url: string;
  urls: string[];
  close(): Promise<void>;
}

/**
 * The Node host of the metadata API: node:http in, the capability's decisions, the answer out.
 * Only the resolver knows who is asking; this adapter passes it the socket's remote address.
 */
export async function startMetadataServer(
  options: MetadataServerOptions,
): Promise<RunningMetadataServer> {
  const now = options.now ?? Date.now;
  const failed = (res: ServerResponse) => (err: unknown) => {
    options.logger.error('metadata request failed', {
      error: err instanceof Error ? err.message : String(err),
    });
    write(res, refusal(500, 'the metadata server failed to answer; see its log'));
  };
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    let answer: MetadataAnswer | Promise<MetadataAnswer>;
    try {
      answer = handle(options, now, req);
    } catch (err) {
      failed(res)(err);
      return;
    }
    // A warm answer (decision and token both known) is written in the same turn, with no promise.
    if (answer instanceof Promise) answer.then((a) => write(res, a), failed(res));
    else write(res, answer);
  };
  const servers: Server[] = [];
  const running: Array<{ url: string; close(): Promise<void> }> = [];
  try {
    for (const address of options.listen) {
      const server = createServer(listener);
      servers.push(server);
      running.push(
        await listenNode(server, {
          ...address,
          scheme: 'http',
          ...(options.drainMs !== undefined ? { drainMs: options.drainMs } : {}),
        }),
      );
    }
  } catch (err) {
    await Promise.all(running.map((r) => r.close()));
    throw err;
  }
  return {
    url: running[0]!.url,
    urls: running.map((r) => r.url),
    close: async () => {
      await Promise.all(running.map((r) => r.close()));
      await options.resolver.close?.();
      options.tokens.close();
    },
  };
}

/** The answer to one request: at once when nothing needs waiting for, else a promise of it. */
function handle(
  options: MetadataServerOptions,
  now: () => number,
  req: IncomingMessage,
): MetadataAnswer | Promise<MetadataAnswer> {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const request: MetadataRequest = {
    method: req.method ?? 'GET',
    path: q === -1 ? url : url.slice(0, q),
    query: q === -1 ? '' : url.slice(q + 1),
    headers: req.headers,
  };
  // Readiness is read only for the probe that asks for it.
  if (request.path === '/readyz' && request.method === 'GET')
    return options.readiness().then((readiness) => gated(options, now, req, request, readiness));
  return gated(options, now, req, request, READY);
}

const READY: Readiness = { ready: true };

/** gate(), then who is asking, then the metadata answer for that pod. */
function gated(
  options: MetadataServerOptions,
  now: () => number,
  req: IncomingMessage,
  request: MetadataRequest,
  readiness: Readiness,
): MetadataAnswer | Promise<MetadataAnswer> {
  const passed = gate(request, () => readiness);
  if ('answer' in passed) return passed.answer;
  const who = options.resolver.resolve({ remoteAddress: req.socket.remoteAddress ?? '' });
  return who instanceof Promise
    ? who.then((answer) => answerFor(options, now, request, answer))
    : answerFor(options, now, request, who);
}

function answerFor(
  options: MetadataServerOptions,
  now: () => number,
  request: MetadataRequest,
  who: IdentityAnswer,
): MetadataAnswer | Promise<MetadataAnswer> {
  if (!who.ok)
    return refusal(
      who.status,
      who.message,
      who.status === 429 || who.status === 503 ? { 'retry-after': '1' } : {},
    );
  const decision = decideMetadata(request, options.viewOf(who.identity));
  if ('answer' in decision) return decision.answer;
  const { need } = decision;
  if (need.kind === 'access') {
    const fresh = options.tokens.freshAccessToken(who.identity, need.scopes);
    if (fresh) return tokenAnswer(fresh, now());
    return options.tokens.accessToken(who.identity, need.scopes).then((result) => {
      if (!result.ok)
        options.logger.warn('no access token', {
          status: result.failure.status,
          reason: result.failure.message,
        });
      return tokenAnswer(result, now());
    });
  }
  return options.tokens.idToken(who.identity, need.audience).then((result) => {
    if (!result.ok) {
      options.logger.warn('no ID token', {
        status: result.failure.status,
        reason: result.failure.message,
      });
      return failureAnswer(result.failure);
    }
    return identityAnswer(result);
  });
}

function write(res: ServerResponse, answer: MetadataAnswer): void {
  res.writeHead(answer.status, withLength(answer.headers, Buffer.byteLength(answer.body)));
  res.end(answer.body);
}

/**
 * An answer's headers with its Content-Length, made once per (headers, length): answers share
 * their header objects (src/metadata/api.ts) and a warm /token answer keeps its length, so the
 * hot path copies no header object. Bounded: a few lengths per header set.
 */
const withLengths = new WeakMap<object, Map<number, Record<string, string>>>();
const LENGTHS_KEPT = 64;
function withLength(headers: Readonly<Record<string, string>>, length: number) {
  let byLength = withLengths.get(headers);
  if (!byLength) {
    byLength = new Map();
    withLengths.set(headers, byLength);
  }
  let merged = byLength.get(length);
  if (!merged) {
    if (byLength.size >= LENGTHS_KEPT) byLength.clear();
    merged = { ...headers, 'content-length': String(length) };
    byLength.set(length, merged);
  }
  return merged;
}
