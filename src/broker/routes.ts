import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { IdbridgeError } from '../errors.js';
import { truncate } from '../http/errors.js';
import type { Broker, BrokerCall } from './broker.js';
import { BrokerError, googleErrorResponse, type ErrorShape } from './google-errors.js';

/** A token request is a ~1 KiB token and a few names; 64 KiB leaves room and refuses abuse early. */
export const MAX_BROKER_BODY_BYTES = 64 * 1024;

const IAM_PATH = '/v1/projects/:project/serviceAccounts/:target';
const RAW_IAM_PATH = /^\/v1\/projects\/([^/]+)\/serviceAccounts\/([^/]+)$/;

/**
 * The broker's routes, at Google's own paths so that only the base URLs change in a credential
 * configuration. Every answer, refusals included, is in the shape of the Google API it stands for.
 */
export function brokerRoutes(broker: Broker): Hono {
  const app = new Hono();
  for (const [path, shape] of [['/v1/token', 'sts'], ['/v1/introspect', 'sts'], [IAM_PATH, 'iam']] as const) {
    app.use(path, bodyLimit({
      maxSize: MAX_BROKER_BODY_BYTES,
      // The unread rest of the body is still on the connection: close it rather than reuse it.
      onError: () => withHeaders(googleErrorResponse(shape, new BrokerError('payload_too_large', `the request body is larger than ${MAX_BROKER_BODY_BYTES / 1024} KiB; a token request carries one ServiceAccount token (about 1 KiB)`)), { connection: 'close' }),
    }));
  }
  app.post('/v1/token', async (c) => broker.token(await readCall(c)));
  app.post('/v1/introspect', async (c) => broker.introspect(await readCall(c)));
  app.post(IAM_PATH, async (c) => {
    const [, project, target] = RAW_IAM_PATH.exec(c.req.path) ?? [];
    return broker.iamCredentials(project ?? '', target ?? '', await readCall(c));
  });
  for (const [path, shape] of [['/v1/token', 'sts'], ['/v1/introspect', 'sts'], [IAM_PATH, 'iam']] as const) {
    app.all(path, (c) => withHeaders(googleErrorResponse(shape, new BrokerError('method_not_allowed', `${truncate(c.req.method, 16)} is not allowed here; the broker takes POST, as Google does`)), { allow: 'POST' }));
  }
  app.onError((err, c) => {
    const shape: ErrorShape = c.req.path.startsWith('/v1/projects/') ? 'iam' : 'sts';
    if (err instanceof IdbridgeError) return googleErrorResponse(shape, err);
    const status = err instanceof HTTPException ? err.status : 500;
    return googleErrorResponse(shape, new IdbridgeError(status < 500 ? 'invalid_request' : 'internal', status < 500 ? 'the request could not be read' : 'internal error in the broker'));
  });
  return app;
}

async function readCall(c: Context): Promise<BrokerCall> {
  const authorization = c.req.header('authorization');
  return { contentType: c.req.header('content-type') ?? '', body: await c.req.text(), ...(authorization !== undefined ? { authorization } : {}) };
}

function withHeaders(response: Response, headers: Record<string, string>): Response {
  for (const [name, value] of Object.entries(headers)) response.headers.set(name, value);
  return response;
}
