import { importJWK } from 'jose';
import {
  curveAlgorithm,
  GOOGLE_ACCEPTED_ALGORITHMS,
  googleAccepts,
  MIN_RSA_BITS,
  PRIVATE_MEMBERS,
  rsaKeyFlaw,
  rsaModulusBits,
} from '../oidc/jwks.js';
import { MAX_KEYS } from '../oidc/limits.js';
import { fail, pass, warn, type Check, type Verdict } from '../report/report.js';
import { checkCacheHeaders } from './cache.js';
import { checkContentType, checkFetched, parseJsonObject } from './discovery-checks.js';
import type { FetchResult } from './fetch-document.js';

type RawKey = Record<string, unknown>;

export interface JwksFindings {
  checks: Check[];
  /** The keys as served, for the token checks; absent when the JWKS is unusable. */
  keys?: RawKey[];
}

const X509_MEMBERS = ['x5c', 'x5t', 'x5t#S256', 'x5u'];
const ROTATE =
  'rotate the Kubernetes way: add the new public key to the published JWKS first (idbridge sync), wait until Google has seen it (minutes), then switch --service-account-signing-key-file, and remove the old key after its tokens expire';

/** `keys[2] (kid "abc")`: how a key is named in findings. */
function label(key: RawKey, index: number): string {
  return typeof key.kid === 'string' && key.kid !== ''
    ? `keys[${index}] (kid ${JSON.stringify(key.kid.slice(0, 64))})`
    : `keys[${index}]`;
}

/** The algorithm a key signs with: its `alg`, or what its type and curve imply. */
export function impliedAlgorithm(key: RawKey): string | undefined {
  if (typeof key.alg === 'string') return key.alg;
  if (key.kty === 'RSA') return 'RS256';
  if (key.kty === 'EC') return curveAlgorithm(key.crv);
  return undefined;
}

interface Finding {
  verdict: Verdict;
  text: string;
}

function rule(
  id: string,
  okSummary: string,
  findings: Finding[],
  summary: (worst: Verdict) => string,
  fix: string,
): Check {
  if (findings.length === 0) return pass(id, okSummary);
  const worst: Verdict = findings.some((f) => f.verdict === 'fail') ? 'fail' : 'warn';
  const details = findings.map((f) => f.text);
  return worst === 'fail'
    ? fail(id, summary(worst), fix, { details })
    : warn(id, summary(worst), fix, { details });
}

/** Members every key needs: kid (unique), kty, use "sig", alg. */
function checkMembers(keys: RawKey[]): Check {
  const findings: Finding[] = [];
  const seen = new Set<string>();
  keys.forEach((key, i) => {
    const name = label(key, i);
    if (typeof key.kid !== 'string' || key.kid === '')
      findings.push({
        verdict: 'fail',
        text: `${name}: no "kid" — tokens name their key by kid, so this key can never be selected`,
      });
    else if (seen.has(key.kid))
      findings.push({
        verdict: 'fail',
        text: `${name}: kid appears twice — each key needs its own kid`,
      });
    else seen.add(key.kid);
    if (typeof key.kty !== 'string') findings.push({ verdict: 'fail', text: `${name}: no "kty"` });
    if (key.use === undefined)
      findings.push({
        verdict: 'warn',
        text: `${name}: no "use" — kube-apiserver publishes "use": "sig", and Google requires it in an uploaded JWKS`,
      });
    else if (key.use !== 'sig')
      findings.push({
        verdict: 'fail',
        text: `${name}: "use" is ${JSON.stringify(key.use)}; an issuer key must be "sig"`,
      });
    if (key.alg === undefined)
      findings.push({
        verdict: 'warn',
        text: `${name}: no "alg" — kube-apiserver always publishes it, and Google requires it in an uploaded JWKS`,
      });
  });
  return rule(
    'jwks.members',
    `every key has a unique kid, kty, "use": "sig" and alg`,
    findings,
    () => 'keys lack members verifiers rely on',
    'publish the JWKS exactly as the kube-apiserver serves it (kubectl get --raw /openid/v1/jwks): it sets kid, kty, use and alg on every key',
  );
}

function checkPrivate(keys: RawKey[]): Check {
  const findings: Finding[] = [];
  keys.forEach((key, i) => {
    const found = PRIVATE_MEMBERS.filter((m) => m in key);
    if (key.kty === 'oct' || found.length > 0) {
      findings.push({
        verdict: 'fail',
        text: `${label(key, i)}: ${key.kty === 'oct' ? 'a symmetric (secret) key' : `private key members ${found.join(', ')}`}`,
      });
    }
  });
  return rule(
    'jwks.private',
    'no private key material',
    findings,
    () => 'the JWKS publishes PRIVATE key material',
    `remove it from the published JWKS at once and treat the key as leaked: anyone can mint tokens with it — ${ROTATE}`,
  );
}

function checkX509(keys: RawKey[]): Check {
  const findings: Finding[] = [];
  keys.forEach((key, i) => {
    const found = X509_MEMBERS.filter((m) => m in key);
    if (found.length > 0)
      findings.push({ verdict: 'warn', text: `${label(key, i)}: ${found.join(', ')}` });
  });
  return rule(
    'jwks.x509',
    'no certificate members (x5c, x5t)',
    findings,
    () => 'keys carry certificate members (x5c/x5t) that kube-apiserver never publishes',
    "Google refuses x5c/x5t in a JWKS uploaded to a provider (--jwk-json-path), and verifiers may try to validate the chain: publish the kube-apiserver's JWKS unchanged, or strip those members",
  );
}

function checkAlgorithms(keys: RawKey[]): Check {
  const findings: Finding[] = [];
  keys.forEach((key, i) => {
    const name = label(key, i);
    if (key.kty === 'oct' || (key.kty !== 'RSA' && key.kty !== 'EC')) {
      if (key.kty !== 'oct' && typeof key.kty === 'string')
        findings.push({
          verdict: 'fail',
          text: `${name}: key type ${JSON.stringify(key.kty)} — Google accepts RSA and EC P-256 keys only`,
        });
      return;
    }
    if (key.kty === 'EC' && !curveAlgorithm(key.crv)) {
      findings.push({
        verdict: 'fail',
        text: `${name}: curve ${JSON.stringify(key.crv)} is not P-256`,
      });
      return;
    }
    const implied = key.kty === 'RSA' ? 'RS256' : curveAlgorithm(key.crv)!;
    if (
      typeof key.alg === 'string' &&
      key.alg !== implied &&
      !(key.kty === 'RSA' && /^(RS|PS)(256|384|512)$/.test(key.alg))
    ) {
      findings.push({
        verdict: 'fail',
        text: `${name}: alg ${key.alg} does not match a ${key.kty}${key.kty === 'EC' ? ` ${String(key.crv)}` : ''} key (${implied})`,
      });
      return;
    }
    const alg = typeof key.alg === 'string' ? key.alg : implied;
    if (!googleAccepts(alg)) {
      const cause =
        key.kty === 'EC' ? `an EC ${String(key.crv)} signing key signs ${alg}` : `alg ${alg}`;
      findings.push({
        verdict: 'fail',
        text: `${name}: ${cause}, which Google STS refuses (RS256 and ES256 only)`,
      });
    }
  });
  return rule(
    'jwks.algorithms',
    `every key signs ${GOOGLE_ACCEPTED_ALGORITHMS.join(' or ')}, which Google STS accepts`,
    findings,
    () => 'keys sign with algorithms Google STS refuses',
    `give the kube-apiserver an RSA (2048 bits or more, RS256) or EC P-256 (ES256) --service-account-signing-key-file, e.g. openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048; ${ROTATE}`,
  );
}

function checkRsaSize(keys: RawKey[]): Check {
  const findings: Finding[] = [];
  keys.forEach((key, i) => {
    if (key.kty !== 'RSA' || typeof key.n !== 'string') return;
    let bits: number;
    try {
      bits = rsaModulusBits(key.n);
    } catch {
      return; // reported by jwks.material
    }
    if (bits < MIN_RSA_BITS)
      findings.push({ verdict: 'fail', text: `${label(key, i)}: ${bits} bits` });
  });
  return rule(
    'jwks.rsa_size',
    `RSA keys have at least ${MIN_RSA_BITS} bits`,
    findings,
    () => `RSA keys shorter than ${MIN_RSA_BITS} bits`,
    `generate a new signing key of at least ${MIN_RSA_BITS} bits (openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048); ${ROTATE}`,
  );
}

export const FORGEABLE_FIX = `remove the key from the JWKS at once (idbridge clusters update ID --jwks FILE with the admin token) and give the kube-apiserver a real key (openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048, e = 65537); treat every token it signed as forged — ${ROTATE}`;

/**
 * The public parts must import as keys (the real test of the base64url members), and RSA keys
 * must pass the one RSA rule of src/oidc/jwks.ts: e = 1 makes a key forgeable by anyone.
 */
async function checkMaterial(keys: RawKey[]): Promise<Check> {
  const findings: Finding[] = [];
  let unsafe = false;
  for (const [i, key] of keys.entries()) {
    if (key.kty !== 'RSA' && key.kty !== 'EC') continue;
    const alg = impliedAlgorithm(key);
    const { kty, n, e, crv, x, y } = key;
    const publicPart = key.kty === 'RSA' ? { kty, n, e } : { kty, crv, x, y };
    try {
      await importJWK(
        publicPart as Parameters<typeof importJWK>[0],
        key.kty === 'RSA' ? 'RS256' : (alg ?? 'ES256'),
      );
    } catch {
      findings.push({
        verdict: 'fail',
        text: `${label(key, i)}: the key material does not import as a ${String(key.kty)} public key`,
      });
      continue;
    }
    const flaw = typeof n === 'string' && typeof e === 'string' ? rsaKeyFlaw(n, e) : undefined;
    if (flaw !== undefined) {
      unsafe = true;
      findings.push({ verdict: 'fail', text: `${label(key, i)}: UNSAFE, FORGEABLE: ${flaw}` });
    }
  }
  return rule(
    'jwks.material',
    'every key imports as a public key',
    findings,
    () =>
      unsafe
        ? 'keys are UNSAFE: anyone can forge tokens that verify with them (or factor them)'
        : 'keys whose material is not a valid public key',
    unsafe
      ? FORGEABLE_FIX
      : 're-export the JWKS from the cluster (kubectl get --raw /openid/v1/jwks) instead of editing it by hand',
  );
}

/** Every rule Google and OIDC verifiers apply to the keys of an issuer. */
export async function checkKeys(keys: RawKey[]): Promise<Check[]> {
  return [
    checkMembers(keys),
    checkPrivate(keys),
    checkX509(keys),
    checkAlgorithms(keys),
    checkRsaSize(keys),
    await checkMaterial(keys),
  ];
}

/** The JWKS at jwks_uri: reachable, JSON, the right type, good keys, rotation-friendly caching. */
export async function checkJwks(result: FetchResult): Promise<JwksFindings> {
  const fetched = checkFetched('jwks', 'the JWKS', result);
  const checks = fetched.checks;
  if (fetched.body === undefined || !fetched.headers) return { checks };
  checks.push(
    checkContentType('jwks.content_type', 'the JWKS', fetched.headers, [
      'application/jwk-set+json',
      'application/json',
    ]),
  );
  const json = parseJsonObject(fetched.body);
  const keys = json?.keys;
  if (
    !json ||
    !Array.isArray(keys) ||
    keys.some((key) => key === null || typeof key !== 'object' || Array.isArray(key))
  ) {
    checks.push(
      fail(
        'jwks.json',
        'the JWKS is not a JSON object {"keys": [ {…}, … ]}',
        "serve the cluster's /openid/v1/jwks unchanged at jwks_uri",
      ),
    );
    return { checks };
  }
  if (keys.length === 0) {
    checks.push(
      fail(
        'jwks.json',
        'the JWKS has no keys',
        'publish the key the kube-apiserver signs with (idbridge sync, or idbridge clusters update ID --jwks FILE)',
      ),
    );
    return { checks };
  }
  checks.push(
    keys.length > MAX_KEYS
      ? warn(
          'jwks.json',
          `the JWKS has ${keys.length} keys`,
          `keep it under ${MAX_KEYS}: remove keys whose tokens have all expired`,
        )
      : pass('jwks.json', `the JWKS has ${keys.length} key${keys.length === 1 ? '' : 's'}`),
  );
  checks.push(...(await checkKeys(keys as RawKey[])));
  checks.push(checkCacheHeaders('jwks.cache', 'the JWKS', fetched.headers));
  return { checks, keys: keys as RawKey[] };
}
