import { timingSafeEqual } from 'hono/utils/buffer';
import type { PlainAnswer } from './route.js';

/** The token syntax of RFC 6750 §2.1 (what hono's bearerAuth accepts). */
const TOKEN = /^[A-Za-z0-9._~+/-]+=*$/;

export interface BearerRefusals {
  realm: string;
  /** The JSON bodies of the three refusals, in the route's own shape. */
  missing: unknown;
  malformed: unknown;
  wrong: unknown;
}

/**
 * The bearer token of an Authorization header, or the refusal hono's bearerAuth sends (401 with
 * a realm challenge, 400 invalid_request, 401 invalid_token), as a plain answer.
 */
export function bearerOf(
  header: string | undefined,
  refusals: BearerRefusals,
): { token: string } | { refusal: PlainAnswer } {
  if (!header)
    return {
      refusal: challenge(
        401,
        `Bearer realm="${refusals.realm.replace(/[\\"]/g, '\\$&')}"`,
        refusals.missing,
      ),
    };
  const token =
    header.toLowerCase().startsWith('bearer') && header[6] === ' '
      ? header.slice(7).trimStart()
      : '';
  if (!token || !TOKEN.test(token))
    return { refusal: challenge(400, 'Bearer error="invalid_request"', refusals.malformed) };
  return { token };
}

/** The 401 of a well-formed bearer that is not accepted. */
export function wrongBearer(refusals: BearerRefusals): PlainAnswer {
  return challenge(401, 'Bearer error="invalid_token"', refusals.wrong);
}

/** Whether `token` is `expected`, compared in constant time (SHA-256 of both sides). */
export async function sameToken(expected: string, token: string): Promise<boolean> {
  return timingSafeEqual(expected, token);
}

function challenge(status: number, wwwAuthenticate: string, body: unknown): PlainAnswer {
  return {
    status,
    headers: { 'www-authenticate': wwwAuthenticate, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  };
}
