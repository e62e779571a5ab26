import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { IdbridgeError } from '../errors.js';
import { truncate } from '../http/errors.js';
import type { Broker, BrokerCall } from './broker.js';
import { BrokerError, googleError, toResponse, type BrokerAnswer, type ErrorShape } from './google-errors.js';

/** A token request is a ~1 KiB token and a few names; 64 KiB leaves room and refuses abuse early. */
export const MAX_BROKER_BODY_BYTES = 64 * 1024;

const IAM_PATH = '/v1/projects/:project/serviceAccounts/:target';
const RAW_IAM_PATH = /^\/v1\/projects\/([^/]+)\/serviceAccounts\/([^/]+)$/;
const ROUTES = [['/v1/token', 'sts'], ['/v1/introspect', 'sts'], [IAM_PATH, 'iam']] as const;

/** A broker endpoint: the Google API it stands for (its error shape) and what answers a POST. */
export interface BrokerRoute {
  shape: ErrorShape;
  handle(call: BrokerCall): Promise<BrokerAnswer>;
}

/** The broker endpoint at `path` (undecoded, no query), or null: one table for every host. */
export function brokerRoute(broker: Broker, path: string): BrokerRoute | null {
  if (path === '/v1/token') return { shape: 'sts', handle: (call) => broker.token(call) };
  if (path === '/v1/introspect') return { shape: 'sts', handle: (call) => broker.introspect(call) };
  const iam = RAW_IAM_PATH.exec(path);
  if (iam) return { shape: 'iam', handle: (call) => broker.iamCredentials(iam[1]!, iam[2]!, call) };
  return null;
}

/** The error shape of a broker path (undecoded, no query), or null when the path is not the broker's. */
export function brokerShapeOf(path: string): ErrorShape | null {
  if (path === '/v1/token' || path === '/v1/introspect') return 'sts';
  return RAW_IAM_PATH.test(path) ? 'iam' : null;
}

export function tooLarge(shape: ErrorShape): BrokerAnswer {
  // The unread rest of the body is still on the connection: close it rather than reuse it.
  return googleError(shape, new BrokerError('payload_too_large', `the request body is larger than ${MAX_BROKER_BODY_BYTES / 1024} KiB; a token request carries one ServiceAccount token (about 1 KiB)`), { connection: 'close' });
}

/**
 * The broker's routes, at Google's own paths so that only the base URLs change in a credential
 * configuration. Every answer, refusals included, is in the shape of the Google API it stands for.
 */
export function brokerRoutes(broker: Broker): Hono {
  const app = new Hono();
  for (const [path, shape] of ROUTES) {
    app.post(path, bodyLimit({ maxSize: MAX_BROKER_BODY_BYTES, onError: () => toResponse(tooLarge(shape)) }), async (c) => {
      const route = brokerRoute(broker, c.req.path);
      return toResponse(route ? await route.handle(await readCall(c)) : googleError(shape, new BrokerError('not_found', 'no such broker endpoint')));
    });
    app.all(path, (c) => toResponse(googleError(shape, new BrokerError('method_not_allowed', `${truncate(c.req.method, 16)} is not allowed here; the broker takes POST, as Google does`), { allow: 'POST' })));
  }
  app.onError((err, c) => {
    const shape: ErrorShape = c.req.path.startsWith('/v1/projects/') ? 'iam' : 'sts';
    if (err instanceof IdbridgeError) return toResponse(googleError(shape, err));
    const status = err instanceof HTTPException ? err.status : 500;
    return toResponse(googleError(shape, new IdbridgeError(status < 500 ? 'invalid_request' : 'internal', status < 500 ? 'the request could not be read' : 'internal error in the broker')));
  });
  return app;
}

async function readCall(c: Context): Promise<BrokerCall> {
  const authorization = c.req.header('authorization');
  return { contentType: c.req.header('content-type') ?? '', body: await c.req.text(), ...(authorization !== undefined ? { authorization } : {}) };
}
