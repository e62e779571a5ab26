import type { MiddlewareHandler } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import { IdbridgeError } from '../errors.js';
import { errorBody, errorResponse } from '../http/errors.js';

/**
 * Admin bearer-token check. hono's bearerAuth compares SHA-256 digests in constant time, so the
 * answer time does not reveal how much of a guess was right.
 */
export function requireAdmin(adminToken: string | undefined): MiddlewareHandler {
  if (!adminToken) {
    return async (c) => errorResponse(c, new IdbridgeError('misconfigured', 'the admin API is disabled on this host: set IDBRIDGE_ADMIN_TOKEN and restart'));
  }
  const unauthenticated = errorBody(new IdbridgeError('unauthenticated', 'send the admin token as "Authorization: Bearer <token>" (idbridge serve printed it on first start and keeps it in the data directory)'));
  return bearerAuth({
    token: adminToken,
    realm: 'idbridge-admin',
    noAuthenticationHeader: { message: unauthenticated },
    invalidAuthenticationHeader: { message: errorBody(new IdbridgeError('invalid_request', 'the Authorization header must be "Bearer <admin token>"')) },
    invalidToken: { message: errorBody(new IdbridgeError('unauthenticated', 'the admin token is wrong; use the token from IDBRIDGE_ADMIN_TOKEN or the data directory\'s admin-token file')) },
  });
}
