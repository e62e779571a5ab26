/**
 * Is this host the local machine? Plain HTTP is acceptable there (tests, a laptop) and nowhere
 * else: Google STS fetches issuers over HTTPS only, and tokens must not cross a network in clear.
 * `hostname` as URL gives it: IPv6 in brackets, already lower-cased and normalised.
 */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '')
    .toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  // WHATWG URL parsing has already turned 127.1, 0x7f.0.0.1 and friends into dotted decimal.
  if (/^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)) return host.startsWith('127.');
  if (host === '::1') return true;
  // IPv4-mapped loopback, as URL normalises it: ::ffff:7f00:1
  const mapped = /^::ffff:([0-9a-f]{1,4}):[0-9a-f]{1,4}$/.exec(host);
  return mapped !== null && parseInt(mapped[1]!, 16) >> 8 === 127;
}

export type TransportVerdict =
  | { kind: 'https' }
  | { kind: 'loopback-http' }
  | { kind: 'plain-http' }
  | { kind: 'invalid'; reason: string };

/** How a URL would be reached: the decision behind doctor's HTTPS check and cred-config's warnings. */
export function transportOf(value: string): TransportVerdict {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return {
      kind: 'invalid',
      reason: `${JSON.stringify(value.slice(0, 200))} is not an absolute URL`,
    };
  }
  if (url.protocol === 'https:') return { kind: 'https' };
  if (url.protocol !== 'http:')
    return {
      kind: 'invalid',
      reason: `${url.protocol} URLs are not fetched by Google; use https://`,
    };
  return isLoopbackHost(url.hostname) ? { kind: 'loopback-http' } : { kind: 'plain-http' };
}

/**
 * Where a bearer secret (the admin token, a cluster's projected token) may be sent: https, or
 * plain http to this machine. Returns why not, or null.
 */
export function secretTransportProblem(flag: string, value: string): string | null {
  if (transportOf(value).kind !== 'plain-http') return null;
  return `${flag} ${JSON.stringify(value.slice(0, 200))} is plain http outside this machine: the bearer token would cross the network unencrypted; use https:// (http:// only to 127.0.0.1 or localhost)`;
}
