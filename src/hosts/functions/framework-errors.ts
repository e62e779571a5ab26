import { createRequire } from 'node:module';
import type { ServerResponse } from 'node:http';
import { IdbridgeError } from '../../errors.js';
import {
  shapedError,
  shapeOfPath,
  type RouteDescriptor,
  type WireShape,
} from '../../http/route.js';
import type { FunctionHandler } from './handler.js';
import type { FrameworkRequest } from './web-request.js';

type Handler = FunctionHandler;
type ExpressHandle = (
  this: unknown,
  req: FrameworkRequest,
  res: ServerResponse,
  callback?: (err?: unknown) => void,
) => void;

const INSTALLED = Symbol.for('idbridge.frameworkRefusals');

/**
 * The Functions Framework parses JSON, text and form bodies (body-parser) before the function
 * runs, and hands what it cannot parse to Express's final handler: an HTML page, with a stack
 * trace naming local paths outside production (functions-framework-nodejs#686, no option in
 * 5.x). This replaces that final handler of every Express app made afterwards, so such a
 * request still reaches `handler`, which reads the bytes itself and answers as `serve` does.
 * Call it before the framework builds its server: from the module it loads.
 */
export function answerFrameworkRefusals(handler: Handler): void {
  const frameworkRequire = createRequire(
    createRequire(import.meta.url).resolve('@google-cloud/functions-framework'),
  );
  const application = (
    frameworkRequire('express') as { application: Record<string | symbol, unknown> }
  ).application;
  if (application[INSTALLED]) return;
  const original = application.handle as ExpressHandle;
  application.handle = function handle(
    this: unknown,
    req: FrameworkRequest,
    res: ServerResponse,
    callback?: (err?: unknown) => void,
  ) {
    original.call(
      this,
      req,
      res,
      callback ?? ((err) => void answerUnhandled(handler, req, res, err)),
    );
  };
  application[INSTALLED] = true;
}

/** What Express would have rendered: the function's own answer when the body is still there, else a refusal in the route's shape. */
async function answerUnhandled(
  handler: Handler,
  req: FrameworkRequest,
  res: ServerResponse,
  err: unknown,
): Promise<void> {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // body-parser keeps the bytes (rawBody) before it parses them, and refuses charsets and encodings before it reads any.
  const bodyIntact =
    Buffer.isBuffer(req.rawBody) || (!req.readableEnded && req.readableFlowing === null);
  if (err === undefined || bodyIntact) {
    await handler(req, res);
    return;
  }
  const status = (err as { status?: unknown }).status;
  const refusal =
    status === 413
      ? new IdbridgeError(
          'payload_too_large',
          'the request body is too large; send only the documents the endpoint asks for',
        )
      : status === 415
        ? new IdbridgeError(
            'unsupported_media_type',
            'the request body is in an encoding the endpoint does not take; send it uncompressed',
          )
        : new IdbridgeError(
            'invalid_request',
            'the request body could not be read; send it uncompressed, with an accurate Content-Length',
          );
  const shape = await shapeOf(
    handler,
    new URL(req.originalUrl ?? req.url ?? '/', 'http://function').pathname,
  );
  const answer = shapedError(shape, refusal, { connection: 'close' });
  res.writeHead(answer.status, answer.headers);
  res.end(answer.body);
}

/** The shape of the route the app would have answered with (idbridge's own when the app cannot be built). */
async function shapeOf(handler: Handler, path: string): Promise<WireShape> {
  let routes: readonly RouteDescriptor[];
  try {
    routes = await handler.routes();
  } catch {
    return 'idbridge';
  }
  return shapeOfPath(routes, path);
}
