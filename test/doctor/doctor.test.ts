import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseProvider } from '../../src/credentials/credential-config.js';
import { runDoctor, type DoctorInput } from '../../src/doctor/doctor.js';
import { buildDiscovery } from '../../src/oidc/discovery.js';
import { exitCode, outcome, type Check, type Verdict } from '../../src/report/report.js';
import {
  startFixtureIssuer,
  type FixtureIssuer,
  type FixtureResponse,
} from '../support/fixture-issuer.js';
import { generateClusterKey, jwksOf, signKubeToken } from '../support/keys.js';
import { freePort } from '../support/net.js';
import { registerCluster, startServe, type ServeHarness } from '../support/serve.js';

const provider = parseProvider(
  'projects/123456/locations/global/workloadIdentityPools/idbridge/providers/cluster-c1',
);

function find(checks: Check[], id: string): Check {
  const check = checks.find((c) => c.id === id);
  if (!check) throw new Error(`no check ${id} in ${checks.map((c) => c.id).join(', ')}`);
  return check;
}

function expectVerdict(
  checks: Check[],
  id: string,
  verdict: Verdict,
  text?: RegExp,
  fix?: RegExp,
): void {
  const check = find(checks, id);
  expect({ id, verdict: check.verdict }).toEqual({ id, verdict });
  if (text) expect(`${check.summary}\n${(check.details ?? []).join('\n')}`).toMatch(text);
  if (fix) expect(check.fix ?? '').toMatch(fix);
}

function doctor(input: DoctorInput, now = Date.now()): Promise<Check[]> {
  return runDoctor(input, {
    fetch,
    timeoutMs: 5000,
    clock: () => performance.now(),
    now: () => now,
  });
}

describe('idbridge doctor against a healthy issuer (idbridge serve)', () => {
  const key = generateClusterKey('RS256');
  let server: ServeHarness;
  let issuer: string;

  beforeAll(async () => {
    server = await startServe();
    await registerCluster(server, 'c1', jwksOf(key));
    issuer = `${server.url}/c1`;
  });
  afterAll(async () => server?.close());

  it('passes every issuer check', async () => {
    const checks = await doctor({ issuer });
    expect(checks.filter((c) => c.verdict !== 'pass')).toEqual([]);
    expect(checks.map((c) => c.id)).toEqual([
      'issuer.url',
      'discovery.fetch',
      'discovery.content_type',
      'discovery.json',
      'discovery.issuer',
      'discovery.jwks_uri',
      'discovery.cache',
      'jwks.fetch',
      'jwks.content_type',
      'jwks.json',
      'jwks.members',
      'jwks.private',
      'jwks.x509',
      'jwks.algorithms',
      'jwks.rsa_size',
      'jwks.material',
      'jwks.cache',
    ]);
    expect(exitCode(checks)).toBe(0);
  });

  it('passes a good token with --provider, and names the identity', async () => {
    const token = await signKubeToken(key, {
      issuer,
      audience: provider.audience,
      namespace: 'apps',
      serviceAccount: 'web',
    });
    const checks = await doctor({ issuer, token, provider });
    expect(checks.filter((c) => c.verdict !== 'pass')).toEqual([]);
    expectVerdict(
      checks,
      'token.subject',
      'pass',
      /system:serviceaccount:apps:web \(namespace apps, ServiceAccount web, pod web-pod\)/,
    );
    expectVerdict(checks, 'token.aud', 'pass', /its default audience/);
  });

  const tokenCases: Array<{
    name: string;
    make: (issuer: string, nowSeconds: number) => Promise<string>;
    id: string;
    verdict: Verdict;
    text: RegExp;
    fix?: RegExp;
    options?: Partial<DoctorInput>;
  }> = [
    {
      name: 'iss mismatch (trailing slash)',
      make: (iss) => signKubeToken(key, { issuer: `${iss}/`, audience: provider.audience }),
      id: 'token.iss',
      verdict: 'fail',
      text: /trailing slash/,
      fix: /--service-account-issuer=http:\/\/127\.0\.0\.1:\d+\/c1 /,
    },
    {
      name: 'iss of another host',
      make: () =>
        signKubeToken(key, {
          issuer: 'https://kubernetes.default.svc.cluster.local',
          audience: provider.audience,
        }),
      id: 'token.iss',
      verdict: 'fail',
      text: /scheme differs|host differs/,
    },
    {
      name: 'unknown kid (key not published yet)',
      make: (iss) =>
        signKubeToken(generateClusterKey('RS256'), { issuer: iss, audience: provider.audience }),
      id: 'token.kid',
      verdict: 'fail',
      text: /is not in the published JWKS/,
      fix: /publish it .*before switching --service-account-signing-key-file/,
    },
    {
      name: 'bad signature (published kid, other key)',
      make: (iss) =>
        signKubeToken(generateClusterKey('RS256'), {
          issuer: iss,
          audience: provider.audience,
          header: { kid: key.kid },
        }),
      id: 'token.signature',
      verdict: 'fail',
      text: /does not verify/,
    },
    {
      name: 'lifetime of 48 h',
      make: (iss) =>
        signKubeToken(key, { issuer: iss, audience: provider.audience, lifetime: 48 * 3600 }),
      id: 'token.lifetime',
      verdict: 'fail',
      text: /48\.0 h; Google requires less than 48 h/,
      fix: /expirationSeconds/,
    },
    {
      name: 'iat ten minutes in the future',
      make: (iss, now) =>
        signKubeToken(key, { issuer: iss, audience: provider.audience, issuedAt: now + 600 }),
      id: 'token.iat',
      verdict: 'fail',
      text: /clock skew 600 s/,
      fix: /NTP/,
    },
    {
      name: 'iat a few seconds in the future',
      make: (iss, now) =>
        signKubeToken(key, { issuer: iss, audience: provider.audience, issuedAt: now + 20 }),
      id: 'token.iat',
      verdict: 'warn',
      text: /clock skew 20 s/,
    },
    {
      name: 'expired',
      make: (iss, now) =>
        signKubeToken(key, { issuer: iss, audience: provider.audience, issuedAt: now - 7200 }),
      id: 'token.exp',
      verdict: 'fail',
      text: /expired 60 min ago/,
    },
    {
      name: "aud is the kube-apiserver's own",
      make: (iss) =>
        signKubeToken(key, {
          issuer: iss,
          audience: 'https://kubernetes.default.svc.cluster.local',
        }),
      id: 'token.aud',
      verdict: 'fail',
      text: /projected volume sets no audience/,
      fix: /audience to \/\/iam\.googleapis\.com\/projects\/123456\//,
    },
    {
      name: 'aud names the project by id',
      make: (iss) =>
        signKubeToken(key, {
          issuer: iss,
          audience:
            '//iam.googleapis.com/projects/my-proj/locations/global/workloadIdentityPools/idbridge/providers/cluster-c1',
        }),
      id: 'token.aud',
      verdict: 'fail',
      text: /project by id \(my-proj\); Google expects the project NUMBER \(123456\)/,
    },
    {
      name: 'aud without the //iam.googleapis.com/ prefix',
      make: (iss) => signKubeToken(key, { issuer: iss, audience: provider.path }),
      id: 'token.aud',
      verdict: 'fail',
      text: /lacks the "\/\/iam\.googleapis\.com\/" prefix/,
    },
    {
      name: 'aud of another provider',
      make: (iss) =>
        signKubeToken(key, {
          issuer: iss,
          audience:
            '//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/idbridge/providers/cluster-c2',
        }),
      id: 'token.aud',
      verdict: 'fail',
      text: /issued for provider .*cluster-c2, not .*cluster-c1/,
    },
    {
      name: "aud in the provider's allowed audiences",
      make: (iss) => signKubeToken(key, { issuer: iss, audience: 'sts.example' }),
      id: 'token.aud',
      verdict: 'pass',
      text: /allowed audiences/,
      options: { allowedAudiences: ['sts.example'] },
    },
    {
      name: 'https:// form of the provider name',
      make: (iss) =>
        signKubeToken(key, {
          issuer: iss,
          audience: `https://iam.googleapis.com/${provider.path}`,
        }),
      id: 'token.aud',
      verdict: 'pass',
      text: /https:\/\/iam/,
    },
    {
      name: 'signed ES384 by a P-384 key',
      make: (iss) =>
        signKubeToken(generateClusterKey('ES384'), { issuer: iss, audience: provider.audience }),
      id: 'token.alg',
      verdict: 'fail',
      text: /signed ES384/,
      fix: /EC P-384 key: give it an RSA 2048\+ or EC P-256/,
    },
    {
      name: "a subject over Google's 127 bytes",
      make: (iss) =>
        signKubeToken(key, {
          issuer: iss,
          audience: provider.audience,
          namespace: 'n'.repeat(60),
          serviceAccount: 's'.repeat(60),
        }),
      id: 'token.subject',
      verdict: 'fail',
      text: /over Google's 127-byte limit/,
    },
    {
      name: 'not a JWT',
      make: async () => 'not-a-token\n',
      id: 'token.format',
      verdict: 'fail',
      text: /not a compact JWT/,
    },
  ];

  for (const c of tokenCases) {
    it(`token: ${c.name} → ${c.id} ${c.verdict}`, async () => {
      // One instant for the token and the doctor's clock, so the skew shown is exact under any load.
      const nowSeconds = Math.floor(Date.now() / 1000);
      const checks = await doctor(
        { issuer, token: await c.make(issuer, nowSeconds), provider, ...c.options },
        nowSeconds * 1000,
      );
      expectVerdict(checks, c.id, c.verdict, c.text, c.fix);
      expect(outcome(checks)).toBe(c.verdict === 'pass' ? 'pass' : c.verdict);
    });
  }

  it('without --provider the audience is shown, not judged', async () => {
    const checks = await doctor({
      issuer,
      token: await signKubeToken(key, { issuer, audience: 'anything' }),
    });
    expectVerdict(checks, 'token.aud', 'skip', /"anything".*--provider/);
    expect(exitCode(checks)).toBe(0);
  });

  it('names a JWKS that the edge serves stale against the registry', async () => {
    const checks = await doctor({ issuer, registeredKids: [key.kid, 'rotated-in'] });
    expectVerdict(
      checks,
      'jwks.registered',
      'warn',
      /registered, not served: rotated-in/,
      /wait for max-age/,
    );
  });
});

describe('idbridge doctor against broken issuers', () => {
  let fx: FixtureIssuer;
  let counter = 0;
  let closedPort = 0;
  const rsa = generateClusterKey('RS256');

  beforeAll(async () => {
    fx = await startFixtureIssuer();
    closedPort = await freePort();
  });
  afterAll(async () => fx?.close());

  interface Publish {
    keys?: object[];
    /** Mutates the discovery document before it is served. */
    discovery?: (doc: Record<string, unknown>) => unknown;
    discoveryResponse?: FixtureResponse;
    jwksResponse?: FixtureResponse;
    jwksUri?: (issuer: string) => string;
  }

  /** Serves an issuer under a fresh path; returns its URL. */
  function publish(options: Publish = {}): string {
    const base = `/fx-${++counter}`;
    const issuer = `${fx.url}${base}`;
    const keys = options.keys ?? [rsa.jwk];
    const discovery: Record<string, unknown> = { ...buildDiscovery(issuer, []) };
    if (options.jwksUri) discovery.jwks_uri = options.jwksUri(issuer);
    const cache = { 'cache-control': 'public, max-age=300' };
    fx.set(`${base}/.well-known/openid-configuration`, {
      headers: cache,
      body: options.discovery ? options.discovery(discovery) : discovery,
      ...options.discoveryResponse,
    });
    fx.set(`${base}/openid/v1/jwks`, {
      headers: { 'content-type': 'application/jwk-set+json', ...cache },
      body: { keys },
      ...options.jwksResponse,
    });
    return issuer;
  }

  it('the fixture itself, unbroken, passes', async () => {
    const checks = await doctor({ issuer: publish() });
    expect(checks.filter((c) => c.verdict !== 'pass')).toEqual([]);
  });

  const es384 = generateClusterKey('ES384');
  const es512 = generateClusterKey('ES512');
  const rsa1024 = generateClusterKey('RS256', 1024);
  const { use: _use, ...noUse } = rsa.jwk;
  const { alg: _alg, ...noAlg } = rsa.jwk;
  const { kid: _kid, ...noKid } = rsa.jwk;
  const privateJwk = {
    ...(rsa.privateKey.export({ format: 'jwk' }) as object),
    kid: rsa.kid,
    alg: 'RS256',
    use: 'sig',
  };

  const cases: Array<{
    name: string;
    publish: Publish;
    issuerSuffix?: string;
    id: string;
    verdict: Verdict;
    text?: RegExp;
    fix?: RegExp;
  }> = [
    {
      name: 'issuer with a trailing slash in the document',
      publish: { discovery: (d) => ({ ...d, issuer: `${d.issuer}/` }) },
      id: 'discovery.issuer',
      verdict: 'fail',
      text: /has a trailing slash that/,
      fix: /Use http:\/\/127\.0\.0\.1:\d+\/fx-\d+ \(no trailing slash\) everywhere/,
    },
    {
      name: 'issuer URL given with a trailing slash',
      publish: {},
      issuerSuffix: '/',
      id: 'discovery.issuer',
      verdict: 'fail',
      text: /lacks the trailing slash/,
    },
    {
      name: 'issuer of another host',
      publish: {
        discovery: (d) => ({ ...d, issuer: String(d.issuer).replace('127.0.0.1', 'localhost') }),
      },
      id: 'discovery.issuer',
      verdict: 'fail',
      text: /the host differs: "localhost:\d+" instead of "127\.0\.0\.1:\d+"/,
      fix: /IDBRIDGE_PUBLIC_URL/,
    },
    {
      name: 'issuer with another path',
      publish: { discovery: (d) => ({ ...d, issuer: `${String(d.issuer)}-other` }) },
      id: 'discovery.issuer',
      verdict: 'fail',
      text: /the path differs/,
    },
    {
      name: 'discovery served as text/html',
      publish: { discoveryResponse: { headers: { 'content-type': 'text/html' } } },
      id: 'discovery.content_type',
      verdict: 'warn',
      text: /"text\/html"/,
      fix: /application\/json/,
    },
    {
      name: 'discovery is an HTML page',
      publish: { discovery: () => '<html><body>Sign in</body></html>' },
      id: 'discovery.json',
      verdict: 'fail',
      text: /looks like an HTML page/,
      fix: /login wall/,
    },
    {
      name: 'discovery is a JSON array',
      publish: { discovery: () => '[]' },
      id: 'discovery.json',
      verdict: 'fail',
      text: /not a JSON object/,
    },
    {
      name: 'discovery without jwks_uri',
      publish: { discovery: ({ jwks_uri: _u, ...rest }) => rest },
      id: 'discovery.json',
      verdict: 'fail',
      text: /no valid jwks_uri/,
    },
    {
      name: 'discovery missing OIDC fields',
      publish: { discovery: ({ response_types_supported: _r, ...rest }) => rest },
      id: 'discovery.json',
      verdict: 'warn',
      text: /response_types_supported/,
    },
    {
      name: 'discovery not found',
      publish: { discoveryResponse: { status: 404, body: '{}' } },
      id: 'discovery.fetch',
      verdict: 'fail',
      text: /HTTP 404/,
      fix: /idbridge clusters get/,
    },
    {
      name: 'discovery behind a redirect',
      publish: { discoveryResponse: { status: 302, headers: { location: '/elsewhere' } } },
      id: 'discovery.fetch',
      verdict: 'fail',
      text: /HTTP 404|redirected/,
    },
    {
      name: 'discovery cached for a week',
      publish: { discoveryResponse: { headers: { 'cache-control': 'public, max-age=604800' } } },
      id: 'discovery.cache',
      verdict: 'fail',
      text: /7 days/,
      fix: /max-age=300/,
    },
    {
      name: 'JWKS unreachable',
      publish: { jwksUri: () => `http://127.0.0.1:${closedPort}/openid/v1/jwks` },
      id: 'jwks.fetch',
      verdict: 'fail',
      text: /connection refused/,
      fix: /reachable from the internet/,
    },
    {
      name: 'JWKS not found',
      publish: { jwksResponse: { status: 404 } },
      id: 'jwks.fetch',
      verdict: 'fail',
      text: /HTTP 404/,
    },
    {
      name: 'JWKS served as text/plain',
      publish: {
        jwksResponse: { headers: { 'content-type': 'text/plain', 'cache-control': 'max-age=60' } },
      },
      id: 'jwks.content_type',
      verdict: 'warn',
      text: /text\/plain/,
      fix: /application\/jwk-set\+json/,
    },
    {
      name: 'JWKS is not JSON',
      publish: { jwksResponse: { body: 'keys: []' } },
      id: 'jwks.json',
      verdict: 'fail',
      text: /not a JSON object/,
    },
    {
      name: 'JWKS without keys',
      publish: { keys: [] },
      id: 'jwks.json',
      verdict: 'fail',
      text: /no keys/,
    },
    {
      name: 'key with x5c and x5t',
      publish: { keys: [{ ...rsa.jwk, x5c: ['MIIB'], x5t: 'abc' }] },
      id: 'jwks.x509',
      verdict: 'warn',
      text: /x5c, x5t/,
      fix: /--jwk-json-path/,
    },
    {
      name: 'key with private members',
      publish: { keys: [privateJwk] },
      id: 'jwks.private',
      verdict: 'fail',
      text: /private key members d, p, q, dp, dq, qi/,
      fix: /treat the key as leaked/,
    },
    {
      name: 'symmetric key',
      publish: { keys: [rsa.jwk, { kty: 'oct', kid: 'hmac', k: 'c2VjcmV0' }] },
      id: 'jwks.private',
      verdict: 'fail',
      text: /symmetric/,
    },
    {
      name: 'key without use',
      publish: { keys: [noUse] },
      id: 'jwks.members',
      verdict: 'warn',
      text: /no "use"/,
    },
    {
      name: 'key with use enc',
      publish: { keys: [{ ...rsa.jwk, use: 'enc' }] },
      id: 'jwks.members',
      verdict: 'fail',
      text: /"use" is "enc"/,
    },
    {
      name: 'key without alg',
      publish: { keys: [noAlg] },
      id: 'jwks.members',
      verdict: 'warn',
      text: /no "alg"/,
    },
    {
      name: 'key without kid',
      publish: { keys: [noKid] },
      id: 'jwks.members',
      verdict: 'fail',
      text: /no "kid"/,
      fix: /kubectl get --raw \/openid\/v1\/jwks/,
    },
    {
      name: 'duplicate kid',
      publish: { keys: [rsa.jwk, { ...es384.jwk, kid: rsa.kid }] },
      id: 'jwks.members',
      verdict: 'fail',
      text: /kid appears twice/,
    },
    {
      name: 'ES384 key (P-384)',
      publish: { keys: [rsa.jwk, es384.jwk] },
      id: 'jwks.algorithms',
      verdict: 'fail',
      text: /EC P-384 signing key signs ES384, which Google STS refuses/,
      fix: /RSA \(2048 bits or more, RS256\) or EC P-256/,
    },
    {
      name: 'ES512 key (P-521)',
      publish: { keys: [es512.jwk] },
      id: 'jwks.algorithms',
      verdict: 'fail',
      text: /EC P-521 signing key signs ES512/,
    },
    {
      name: 'Ed25519 key',
      publish: {
        keys: [
          rsa.jwk,
          {
            kty: 'OKP',
            crv: 'Ed25519',
            kid: 'ed',
            alg: 'EdDSA',
            use: 'sig',
            x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo',
          },
        ],
      },
      id: 'jwks.algorithms',
      verdict: 'fail',
      text: /"OKP"/,
    },
    {
      name: 'RSA 1024',
      publish: { keys: [rsa1024.jwk] },
      id: 'jwks.rsa_size',
      verdict: 'fail',
      text: /1024 bits/,
      fix: /rsa_keygen_bits:2048/,
    },
    {
      name: 'RSA key with e = 1 (forgeable by anyone)',
      publish: { keys: [{ ...rsa.jwk, e: 'AQ' }] },
      id: 'jwks.material',
      verdict: 'fail',
      text: /UNSAFE, FORGEABLE: public exponent e is 1/,
      fix: /treat every token it signed as forged/,
    },
    {
      name: 'RSA modulus 2^2048 - 1',
      publish: {
        keys: [{ ...rsa.jwk, n: Buffer.from('ff'.repeat(256), 'hex').toString('base64url') }],
      },
      id: 'jwks.material',
      verdict: 'fail',
      text: /UNSAFE, FORGEABLE: modulus n is divisible by 3/,
    },
    {
      name: 'key material that does not import',
      publish: { keys: [{ ...es384.jwk, crv: 'P-256', alg: 'ES256' }] },
      id: 'jwks.material',
      verdict: 'fail',
      text: /does not import/,
    },
    {
      name: 'JWKS immutable',
      publish: {
        jwksResponse: {
          headers: {
            'content-type': 'application/jwk-set+json',
            'cache-control': 'public, max-age=300, immutable',
          },
        },
      },
      id: 'jwks.cache',
      verdict: 'fail',
      text: /immutable/,
    },
    {
      name: 'JWKS cached two hours',
      publish: {
        jwksResponse: {
          headers: {
            'content-type': 'application/jwk-set+json',
            'cache-control': 'public, s-maxage=7200',
          },
        },
      },
      id: 'jwks.cache',
      verdict: 'warn',
      text: /2 h/,
      fix: /max-age=300/,
    },
    {
      name: 'JWKS without Cache-Control',
      publish: {
        jwksResponse: {
          headers: { 'content-type': 'application/jwk-set+json', 'cache-control': '' },
        },
      },
      id: 'jwks.cache',
      verdict: 'warn',
      text: /heuristic freshness/,
    },
    {
      name: 'JWKS no-store',
      publish: {
        jwksResponse: {
          headers: { 'content-type': 'application/jwk-set+json', 'cache-control': 'no-store' },
        },
      },
      id: 'jwks.cache',
      verdict: 'pass',
      text: /no-store/,
    },
  ];

  for (const c of cases) {
    it(`${c.name} → ${c.id} ${c.verdict}`, async () => {
      const checks = await doctor({ issuer: `${publish(c.publish)}${c.issuerSuffix ?? ''}` });
      expectVerdict(checks, c.id, c.verdict, c.text, c.fix);
      expect(exitCode(checks)).toBe(c.verdict === 'fail' ? 2 : c.verdict === 'warn' ? 1 : 0);
    });
  }

  it('follows and reports a redirect to the right document', async () => {
    const target = publish();
    const base = `/fx-${++counter}`;
    fx.set(`${base}/.well-known/openid-configuration`, {
      status: 301,
      headers: { location: `${target}/.well-known/openid-configuration` },
    });
    const checks = await doctor({ issuer: target.replace(/\/fx-\d+$/, base) });
    expectVerdict(
      checks,
      'discovery.fetch',
      'warn',
      /redirected to/,
      /not required to follow redirects/,
    );
    expectVerdict(checks, 'discovery.issuer', 'fail', /the path differs/);
  });

  it('an issuer nobody serves: the fetch fails and the JWKS checks are skipped', async () => {
    const issuer = `http://127.0.0.1:${await freePort()}/c1`;
    const checks = await doctor({
      issuer,
      token: await signKubeToken(rsa, { issuer, audience: provider.audience }),
      provider,
    });
    expectVerdict(checks, 'discovery.fetch', 'fail', /connection refused/);
    expectVerdict(checks, 'jwks.algorithms', 'skip');
    expectVerdict(checks, 'token.kid', 'skip', /could not be fetched/);
    expectVerdict(checks, 'token.iss', 'pass');
  });

  it('a URL that is no issuer at all stops at the first check', async () => {
    const checks = await doctor({ issuer: 'ftp://example.com/c1' });
    expect(checks).toHaveLength(1);
    expectVerdict(checks, 'issuer.url', 'fail', /ftp: URLs are not fetched/);
  });
});
