import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { IdbridgeError } from '../errors.js';
import { mountRoute } from '../http/hono-route.js';
import type { RouteDescriptor } from '../http/route.js';
import type { Broker, BrokerCall } from './broker.js';
import {
  BrokerError,
  googleError,
  toResponse,
  type BrokerAnswer,
  type ErrorShape,
} from './google-errors.js';

/** A token request is a ~1 KiB token and a few names; 64 KiB leaves room and refuses abuse early. */
export const MAX_BROKER_BODY_BYTES = 64 * 1024;

const IAM_PATH = '/v1/projects/:project/serviceAccounts/:target';
const RAW_IAM_PATH = /^\/v1\/projects\/([^/]+)\/serviceAccounts\/([^/]+)$/;

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
  return googleError(
    shape,
    new BrokerError(
      'payload_too_large',
      `the request body is larger than ${MAX_BROKER_BODY_BYTES / 1024} KiB; a token request carries one ServiceAccount token (about 1 KiB)`,
    ),
    { connection: 'close' },
  );
}

/** The broker's two route descriptors (STS paths, IAM Credentials paths): one per Google error shape. */
export function brokerDescriptors(
  broker: Broker,
): [RouteDescriptor<BrokerRoute>, RouteDescriptor<BrokerRoute>] {
  const descriptor = (
    shape: ErrorShape,
    paths: readonly string[],
  ): RouteDescriptor<BrokerRoute> => ({
    name: 'broker',
    paths,
    match: (path) => (brokerShapeOf(path) === shape ? brokerRoute(broker, path) : null),
    methods: ['POST'],
    bodyCap: MAX_BROKER_BODY_BYTES,
    shape,
    decide: (request) => {
      const authorization = request.header('authorization');
      return request.params.handle({
        contentType: request.header('content-type') ?? '',
        body: request.body,
        ...(authorization !== undefined ? { authorization } : {}),
      });
    },
    tooLarge: () => tooLarge(shape),
    fail: (err) =>
      googleError(
        shape,
        err instanceof IdbridgeError
          ? err
          : new IdbridgeError('internal', 'internal error in the broker; its log has the details'),
      ),
    fast: true,
    methodHint: 'here; the broker takes POST, as Google does',
  });
  return [descriptor('sts', ['/v1/token', '/v1/introspect']), descriptor('iam', [IAM_PATH])];
}

/**
 * The broker's routes, at Google's own paths so that only the base URLs change in a credential
 * configuration. Every answer, refusals included, is in the shape of the Google API it stands for.
 */
export function brokerRoutes(
  broker: Broker,
  descriptors: readonly RouteDescriptor<BrokerRoute>[] = brokerDescriptors(broker),
): Hono {
  const app = new Hono();
  for (const route of descriptors) mountRoute(app, route);
  app.onError((err, c) => {
    const shape: ErrorShape = c.req.path.startsWith('/v1/projects/') ? 'iam' : 'sts';
    if (err instanceof IdbridgeError) return toResponse(googleError(shape, err));
    const status = err instanceof HTTPException ? err.status : 500;
    return toResponse(
      googleError(
        shape,
        new IdbridgeError(
          status < 500 ? 'invalid_request' : 'internal',
          status < 500 ? 'the request could not be read' : 'internal error in the broker',
        ),
      ),
    );
  });
  return app;
}
