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
/** AWS STS: the SDKs keep AWS_ENDPOINT_URL_STS's path and post to it with a trailing slash. */
const AWS_STS_PATHS = ['/aws/sts/', '/aws/sts'] as const;
const ENTRA_TOKEN_PATH = '/azure/:tenant/oauth2/v2.0/token';
const RAW_ENTRA_TOKEN_PATH = /^\/azure\/([^/]+)\/oauth2\/v2\.0\/token$/;
const ENTRA_DISCOVERY_PATH = '/azure/:tenant/v2.0/.well-known/openid-configuration';
const RAW_ENTRA_DISCOVERY_PATH = /^\/azure\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/;

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
  if ((AWS_STS_PATHS as readonly string[]).includes(path))
    return { shape: 'aws-sts', handle: (call) => broker.awsAssumeRole(call) };
  const entra = RAW_ENTRA_TOKEN_PATH.exec(path);
  if (entra) return { shape: 'entra', handle: (call) => broker.entraToken(entra[1]!, call) };
  return null;
}

/** The error shape of a broker path (undecoded, no query), or null when the path is not the broker's. */
export function brokerShapeOf(path: string): ErrorShape | null {
  if (path === '/v1/token' || path === '/v1/introspect') return 'sts';
  if (RAW_IAM_PATH.test(path)) return 'iam';
  if ((AWS_STS_PATHS as readonly string[]).includes(path)) return 'aws-sts';
  return RAW_ENTRA_TOKEN_PATH.test(path) || RAW_ENTRA_DISCOVERY_PATH.test(path) ? 'entra' : null;
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

/**
 * The broker's route descriptors, one per wire and path family: Google STS, IAM Credentials,
 * AWS STS, Entra ID's token endpoint (POST) and Entra ID's tenant discovery (GET).
 */
export function brokerDescriptors(broker: Broker): RouteDescriptor<BrokerRoute>[] {
  const descriptor = (
    shape: ErrorShape,
    paths: readonly string[],
    methodHint: string,
  ): RouteDescriptor<BrokerRoute> => ({
    name: 'broker',
    paths,
    match: (path) =>
      brokerShapeOf(path) === shape && !RAW_ENTRA_DISCOVERY_PATH.test(path)
        ? brokerRoute(broker, path)
        : null,
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
    fail: (err) => failure(shape, err),
    fast: true,
    methodHint,
  });
  const google = 'here; the broker takes POST, as Google does';
  return [
    descriptor('sts', ['/v1/token', '/v1/introspect'], google),
    descriptor('iam', [IAM_PATH], google),
    descriptor('aws-sts', AWS_STS_PATHS, 'here; the STS Query API takes POST'),
    descriptor('entra', [ENTRA_TOKEN_PATH], 'here; the token endpoint takes POST'),
    entraDiscoveryDescriptor(broker),
  ];
}

/** Entra ID's tenant discovery: a GET, answered from configuration alone. */
function entraDiscoveryDescriptor(broker: Broker): RouteDescriptor<BrokerRoute> {
  return {
    name: 'broker',
    paths: [ENTRA_DISCOVERY_PATH],
    match: (path) => {
      const tenant = RAW_ENTRA_DISCOVERY_PATH.exec(path)?.[1];
      return tenant === undefined
        ? null
        : { shape: 'entra', handle: () => Promise.resolve(broker.entraDiscovery(tenant)) };
    },
    methods: ['GET'],
    bodyCap: 0,
    shape: 'entra',
    decide: (request) => request.params.handle({ contentType: '', body: '' }),
    tooLarge: () => tooLarge('entra'),
    fail: (err) => failure('entra', err),
    fast: false,
    methodHint: 'here; tenant discovery takes GET',
  };
}

function failure(shape: ErrorShape, err: unknown): BrokerAnswer {
  return googleError(
    shape,
    err instanceof IdbridgeError
      ? err
      : new IdbridgeError('internal', 'internal error in the broker; its log has the details'),
  );
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
    const shape: ErrorShape = brokerShapeOf(c.req.path) ?? 'sts';
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
