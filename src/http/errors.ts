import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { IdbridgeError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { idbridgeBody, idbridgeHeaders } from './wire/idbridge.js';

/** The one JSON error shape of idbridge's own routes; the mapping is src/http/wire/idbridge.ts. */
export type { ErrorBody } from './wire/idbridge.js';
export { idbridgeBody as errorBody } from './wire/idbridge.js';
export { retryAfterOf as retryAfterSeconds } from './wire/answer.js';

/** A refusal on idbridge's JSON wire, through hono's context (which keeps headers set earlier). */
export function errorResponse(
  c: Context,
  err: IdbridgeError,
  headers?: Record<string, string>,
): Response {
  return c.json(
    idbridgeBody(err),
    err.status as ContentfulStatusCode,
    idbridgeHeaders(err, headers),
  );
}

/** hono onError for idbridge's routes: known refusals keep their status, the rest is a 500. */
export function handleError(logger: Logger) {
  return (err: Error, c: Context): Response => {
    if (err instanceof IdbridgeError) {
      if (err.status >= 500)
        logger.error('request failed', { code: err.code, error: err.message, path: c.req.path });
      return errorResponse(c, err);
    }
    if (err instanceof HTTPException) return err.getResponse();
    logger.error('unexpected error', { ...unexpectedErrorFields(err), path: c.req.path });
    return errorResponse(
      c,
      new IdbridgeError('internal', 'internal error; the server log has the details'),
    );
  };
}

/**
 * What may be logged of an error nobody expected: its class and where it was thrown. Not its
 * message, which may quote input (a token, a body), and not the message lines a multi-line
 * message spills into its stack: only the `at …` frames.
 */
export function unexpectedErrorFields(err: unknown): { error: string; frames?: string } {
  const error = err as Error | undefined;
  const frames = error?.stack
    ?.split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('at '))
    .slice(0, 4);
  return {
    error: error?.name ?? typeof err,
    ...(frames?.length ? { frames: frames.join(' | ') } : {}),
  };
}

export function notFoundHandler(c: Context): Response {
  return errorResponse(
    c,
    new IdbridgeError(
      'not_found',
      `no route ${c.req.method} ${truncate(c.req.path)}; public documents are at /{cluster}/.well-known/openid-configuration and /{cluster}/openid/v1/jwks, the API under /api/v1`,
    ),
  );
}

export function truncate(text: string, max = 120): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
