import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { z } from 'zod';
import { IdbridgeError } from '../errors.js';
import { describeIssues, zodDetails } from '../errors/zod.js';
import { errorResponse } from './errors.js';
import { jsonTooDeep, TOO_DEEP_MESSAGE } from './json-depth.js';

/** Largest API body: a 64 KiB JWKS and a 64 KiB discovery document with room to spare. */
export const MAX_API_BODY_BYTES = 256 * 1024;

export function limitBody(maxBytes = MAX_API_BODY_BYTES): MiddlewareHandler {
  return bodyLimit({
    maxSize: maxBytes,
    // The unread rest of the body is still on the connection: close it rather than reuse it.
    onError: (c) =>
      errorResponse(
        c,
        new IdbridgeError(
          'payload_too_large',
          `the request body is larger than ${maxBytes / 1024} KiB; send only the documents the endpoint asks for`,
        ),
        { connection: 'close' },
      ),
  });
}

/** Reads a JSON body and validates it with `schema`, refusing wrong content types and bad JSON. */
export async function readJson<T extends z.ZodType>(c: Context, schema: T): Promise<z.infer<T>> {
  return parseJsonBody(c.req.header('content-type'), await c.req.text(), schema);
}

/** The same checks on a body already read (hosts that read requests without hono). */
export function parseJsonBody<T extends z.ZodType>(
  contentType: string | undefined,
  text: string,
  schema: T,
): z.infer<T> {
  const type = contentType ?? '';
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw new IdbridgeError(
      'unsupported_media_type',
      `the body must be JSON sent with "Content-Type: application/json" (got ${JSON.stringify(type.slice(0, 60)) || 'none'})`,
    );
  }
  if (jsonTooDeep(text)) throw new IdbridgeError('invalid_request', TOO_DEEP_MESSAGE);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    // V8's message quotes the input; keep only where it broke.
    const where = /position \d+/.exec((err as Error).message)?.[0];
    throw new IdbridgeError(
      'invalid_request',
      `the body is not valid JSON${where ? ` (at ${where})` : ''}; check quoting and commas`,
    );
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const details = zodDetails(parsed.error, { root: '(body)' });
    throw new IdbridgeError(
      'invalid_request',
      `the body was refused: ${describeIssues(details)}`,
      details,
    );
  }
  return parsed.data;
}
