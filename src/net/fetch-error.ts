/**
 * Network failures in words an operator can act on (undici hides the cause one level down).
 * Never the raw message of a failed request: fetch quotes an invalid header value in it, and
 * that value is a bearer token.
 */
export function describeFetchError(err: unknown, timeoutMs: number): string {
  const error = err as Error & { cause?: { code?: string; message?: string } };
  if (error?.name === 'TimeoutError' || error?.name === 'AbortError')
    return `no answer within ${timeoutMs / 1000} s`;
  const code = error?.cause?.code;
  const known: Record<string, string> = {
    ECONNREFUSED: 'connection refused (nothing listens there)',
    ENOTFOUND: 'the host name does not resolve (DNS)',
    EAI_AGAIN: 'the host name could not be resolved right now (DNS)',
    ECONNRESET: 'the connection was reset',
    ETIMEDOUT: 'the connection timed out',
    EHOSTUNREACH: 'the host is unreachable',
    CERT_HAS_EXPIRED: 'the TLS certificate has expired',
    DEPTH_ZERO_SELF_SIGNED_CERT:
      'the TLS certificate is self-signed (Google accepts only publicly trusted certificates)',
    SELF_SIGNED_CERT_IN_CHAIN:
      'the TLS chain contains a self-signed certificate (Google accepts only publicly trusted certificates)',
    UNABLE_TO_VERIFY_LEAF_SIGNATURE:
      'the TLS chain is incomplete (serve the intermediate certificates)',
    ERR_TLS_CERT_ALTNAME_INVALID: 'the TLS certificate does not name this host',
  };
  if (code && known[code]) return known[code]!;
  if (error?.cause?.message === 'bad port')
    return 'fetch refuses this port (a "bad port" in the Fetch standard); serve on 443';
  if (code) return `the connection failed (${code})`;
  if (error?.name === 'TypeError' && !error.cause) {
    return 'the request could not be built: a URL or a header value (a token) is invalid, e.g. it contains a line break';
  }
  return `the request failed (${error?.name ?? 'unknown error'})`;
}
