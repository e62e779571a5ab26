import { fail, pass, warn, type Check } from '../report/report.js';

/** kube-apiserver's own choice for its issuer documents; anything longer slows key rotation. */
export const MAX_ROTATION_FRIENDLY_SECONDS = 3600;
/** Beyond a day, a removed (possibly compromised) key lingers in caches far too long. */
export const MAX_ACCEPTABLE_SECONDS = 86_400;

const CACHE_FIX =
  'serve the document with "Cache-Control: public, max-age=300" (idbridge) or at most max-age=3600 (kube-apiserver), ' +
  'so caches pick up a new key before the cluster signs with it and drop a removed key soon after';

/** Cache-Control directives, lower-cased, with their values (RFC 9111 §5.2). */
export function parseCacheControl(header: string | undefined): Map<string, string | true> {
  const directives = new Map<string, string | true>();
  for (const part of (header ?? '').split(',')) {
    const [name, ...rest] = part.trim().split('=');
    if (!name) continue;
    directives.set(
      name.toLowerCase(),
      rest.length > 0 ? rest.join('=').replace(/^"|"$/g, '') : true,
    );
  }
  return directives;
}

function seconds(value: string | true | undefined): number | undefined {
  if (typeof value !== 'string' || !/^\d+$/.test(value)) return undefined;
  return Number(value);
}

function humanDuration(s: number): string {
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} days`;
}

/**
 * Are the cache headers of an issuer document compatible with key rotation? A verifier or proxy
 * that honours them keeps an old JWKS for as long as they allow: a new signing key is not seen
 * until the copy expires, and a removed key stays trusted as long.
 */
export function checkCacheHeaders(
  id: string,
  what: string,
  headers: Record<string, string>,
): Check {
  const header = headers['cache-control'];
  const directives = parseCacheControl(header);
  const shown = {
    details: [
      `Cache-Control: ${header ?? '(none)'}${headers.expires ? `; Expires: ${headers.expires}` : ''}`,
    ],
  };
  if (directives.has('no-store') || directives.has('no-cache')) {
    return pass(
      id,
      `${what} is revalidated on every use (${directives.has('no-store') ? 'no-store' : 'no-cache'}): rotation is seen at once`,
      shown,
    );
  }
  if (directives.has('immutable')) {
    return fail(
      id,
      `${what} is marked immutable: caches never revalidate it, so a rotated key is never seen`,
      CACHE_FIX,
      shown,
    );
  }
  const ttl = Math.max(
    seconds(directives.get('max-age')) ?? -1,
    seconds(directives.get('s-maxage')) ?? -1,
  );
  if (ttl >= 0) {
    if (ttl > MAX_ACCEPTABLE_SECONDS) {
      return fail(
        id,
        `${what} may be cached for ${humanDuration(ttl)}: a removed key stays trusted and a new one unseen for that long`,
        CACHE_FIX,
        shown,
      );
    }
    if (ttl > MAX_ROTATION_FRIENDLY_SECONDS) {
      return warn(
        id,
        `${what} may be cached for ${humanDuration(ttl)}, longer than kube-apiserver's hour: publish new keys at least that long before signing with them`,
        CACHE_FIX,
        shown,
      );
    }
    return pass(id, `${what} is cached for at most ${humanDuration(ttl)}`, shown);
  }
  const expires = headers.expires ? Date.parse(headers.expires) : NaN;
  const date = headers.date ? Date.parse(headers.date) : NaN;
  if (Number.isFinite(expires) && Number.isFinite(date)) {
    const ttlFromExpires = Math.round((expires - date) / 1000);
    if (ttlFromExpires > MAX_ROTATION_FRIENDLY_SECONDS) {
      return warn(
        id,
        `${what} has no max-age but Expires allows caching it for ${humanDuration(ttlFromExpires)}`,
        CACHE_FIX,
        shown,
      );
    }
    return pass(
      id,
      `${what} is cached for at most ${humanDuration(Math.max(0, ttlFromExpires))} (Expires)`,
      shown,
    );
  }
  return warn(
    id,
    `${what} has no Cache-Control: caches then guess a lifetime (heuristic freshness) that nobody controls`,
    CACHE_FIX,
    shown,
  );
}
