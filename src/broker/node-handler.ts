import type { IncomingMessage, ServerResponse } from 'node:http';
import { IdbridgeError } from '../errors.js';
import { logRequest } from '../http/request-log.js';
import { readRequestBody } from '../hosts/node/request-body.js';
import type { Logger } from '../log/logger.js';
import type { Broker } from './broker.js';
import { googleError, type BrokerAnswer } from './google-errors.js';
import { brokerRoute, MAX_BROKER_BODY_BYTES, tooLarge } from './routes.js';

/**
 * The broker's POSTs on the Node server, answered straight from the socket: the same routes and
 * answers as the hono routes (brokerRoute), without building a Web Request and Response around
 * every token request — the broker is a hop in front of Google, so its own cost is kept small.
 * Anything else (other methods, other paths) is left to hono.
 */
export function brokerNodeHandler(broker: Broker, logger: Logger): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    if (req.method !== 'POST' || !req.url) return false;
    const query = req.url.indexOf('?');
    const path = query === -1 ? req.url : req.url.slice(0, query);
    const route = brokerRoute(broker, path);
    if (!route) return false;
    const started = performance.now();
    const send = (answer: BrokerAnswer) => {
      res.writeHead(answer.status, answer.headers);
      res.end(answer.body);
      logRequest(logger, { method: 'POST', path, status: answer.status, ms: performance.now() - started });
    };
    void readRequestBody(req, MAX_BROKER_BODY_BYTES).then((body) => {
      if (body === 'aborted') return;
      if (body === 'too-large') {
        send(tooLarge(route.shape));
        return;
      }
      const { authorization } = req.headers;
      route
        .handle({ contentType: req.headers['content-type'] ?? '', body: body.toString('utf8'), ...(authorization !== undefined ? { authorization } : {}) })
        .then(send, () => send(googleError(route.shape, new IdbridgeError('internal', 'internal error in the broker; its log has the details'))));
    });
    return true;
  };
}
