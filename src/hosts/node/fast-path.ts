import type { IncomingMessage, ServerResponse } from 'node:http';
import { logRequest } from '../../http/request-log.js';
import {
  findFastRoute,
  pathOfTarget,
  type PlainAnswer,
  type RouteDescriptor,
} from '../../http/route.js';
import type { Logger } from '../../log/logger.js';
import { readRequestBody } from './request-body.js';

/** A Node request listener that answers (true) or leaves the request to hono (false). */
export type NodeFastPath = (req: IncomingMessage, res: ServerResponse) => boolean;

/**
 * The one fast-path hook of the Node hosts: a request for a fast route is decided by its
 * descriptor straight from the socket (no Web Request/Response), with the one path splitter, the
 * one capped body reader and the route's one 413. Anything else is left to hono.
 */
export function nodeFastPath(
  routes: readonly RouteDescriptor[],
  options: { log?: Logger } = {},
): NodeFastPath {
  const fast = routes.filter((route) => route.fast);
  const { log } = options;
  return (req, res) => {
    if (fast.length === 0 || !req.url || !req.method) return false;
    const path = pathOfTarget(req.url);
    const found = findFastRoute(fast, req.method, path);
    if (!found) return false;
    const { route, params } = found;
    const method = req.method;
    const started = performance.now();
    const send = (answer: PlainAnswer) => {
      writeAnswer(res, answer);
      if (log)
        logRequest(log, { method, path, status: answer.status, ms: performance.now() - started });
    };
    const decide = (body: string) => {
      let answer: PlainAnswer | Promise<PlainAnswer>;
      try {
        answer = route.decide({
          method,
          path,
          params,
          header: (name) => headerOf(req, name),
          body,
        });
      } catch (err) {
        send(route.fail(err, path));
        return;
      }
      // A synchronous answer (a document in memory) is written now, without a microtask.
      if (answer instanceof Promise)
        answer.then(send, (err: unknown) => send(route.fail(err, path)));
      else send(answer);
    };
    if (route.bodyCap === 0) {
      decide('');
      return true;
    }
    void readRequestBody(req, route.bodyCap).then((body) => {
      if (body === 'aborted') return;
      if (body === 'too-large') send(route.tooLarge());
      else decide(body.toString('utf8'));
    });
    return true;
  };
}

/** A plain answer on a Node response, with its length when the route did not state one. */
export function writeAnswer(res: ServerResponse, answer: PlainAnswer): void {
  const { body } = answer;
  const headers =
    body !== null && answer.headers['content-length'] === undefined
      ? {
          ...answer.headers,
          'content-length': String(
            typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength,
          ),
        }
      : answer.headers;
  res.writeHead(answer.status, headers);
  res.end(body ?? undefined);
}

function headerOf(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}
