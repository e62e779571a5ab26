import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { XMLParser } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateClusterKey, jwksOf, signKubeToken } from '../support/keys.js';
import { registerCluster, startServe, type ServeHarness } from '../support/serve.js';

/**
 * The broker's AWS STS and Entra ID hops when the upstream misbehaves, and its rate limits: a
 * 5xx is retried, an answer that is not the cloud's format becomes a refusal in the cloud's shape
 * that names the setting to check, an upstream refusal is relayed, a rate limit answers the
 * cloud's throttling code with Retry-After; every outcome is counted in the metrics.
 */
describe('broker AWS STS and Entra ID: upstream faults, rate limits, metrics', () => {
  const key = generateClusterKey('RS256');
  const script: Array<{ status: number; type: string; body: string }> = [];
  let hits = 0;
  let upstream: Server;
  let upstreamUrl: string;
  let serve: ServeHarness;
  const xml = new XMLParser({ parseTagValue: false });

  beforeAll(async () => {
    upstream = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        hits++;
        const next = script.shift() ?? { status: 500, type: 'text/plain', body: 'unscripted' };
        res.writeHead(next.status, { 'content-type': next.type }).end(next.body);
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    serve = await startServe({
      IDBRIDGE_BROKER_AWS_STS_URL: upstreamUrl,
      IDBRIDGE_BROKER_AZURE_AUTHORITY_URL: upstreamUrl,
      IDBRIDGE_BROKER_UPSTREAM_ATTEMPTS: '2',
      IDBRIDGE_BROKER_RATE_PER_SUBJECT: '3',
    });
    await registerCluster(serve, 'c1', jwksOf(key));
  });
  afterAll(async () => {
    await serve?.close();
    await new Promise<void>((resolve) => {
      upstream.closeAllConnections();
      upstream.close(() => resolve());
    });
  });

  let account = 0;
  /** A token of its own ServiceAccount each time: the per-subject limit is the last test's. */
  const token = (audience: string, serviceAccount = `sa-${account++}`) =>
    signKubeToken(key, { issuer: `${serve.url}/c1`, audience, namespace: 'apps', serviceAccount });
  const aws = async (serviceAccount?: string) =>
    fetch(`${serve.url}/aws/sts/`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        Action: 'AssumeRoleWithWebIdentity',
        Version: '2011-06-15',
        RoleArn: 'arn:aws:iam::123456789012:role/app',
        RoleSessionName: 'web',
        WebIdentityToken: await token('sts.amazonaws.com', serviceAccount),
      }),
    });
  const entra = async () =>
    fetch(`${serve.url}/azure/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        client_id: '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0',
        scope: 'https://management.azure.com/.default',
        grant_type: 'client_credentials',
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: await token('api://AzureADTokenExchange'),
      }),
    });
  const awsCode = async (res: Response) =>
    (xml.parse(await res.text()) as { ErrorResponse: { Error: { Code: string; Message: string } } })
      .ErrorResponse.Error;
  const expiration = new Date(Date.now() + 3600_000).toISOString();
  const awsOk = `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIAEXAMPLE</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>${expiration}</Expiration></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>`;

  it('AWS: retries a 5xx, then relays the XML answer', async () => {
    script.push({ status: 503, type: 'text/xml', body: '<ErrorResponse/>' });
    script.push({ status: 200, type: 'text/xml', body: awsOk });
    const before = hits;
    const res = await aws();
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(awsOk);
    expect(hits - before).toBe(2);
  });

  it('AWS: an answer that is not XML is a 503 ServiceUnavailable naming the setting', async () => {
    script.push({ status: 200, type: 'text/html', body: '<html><body>captive portal' });
    const res = await aws();
    expect(res.status).toBe(503);
    expect(await awsCode(res)).toMatchObject({
      Code: 'ServiceUnavailable',
      Message: expect.stringMatching(
        /AWS STS answered 200 with a body that is not XML; check IDBRIDGE_BROKER_AWS_STS_URL/,
      ),
    });
  });

  it('AWS: a 200 without credentials is refused, not cached', async () => {
    script.push({ status: 200, type: 'text/xml', body: '<Other/>' });
    const res = await aws();
    expect(res.status).toBe(503);
    expect((await awsCode(res)).Message).toMatch(/without credentials/);
  });

  it('Entra: relays its refusal, and refuses an answer that is not JSON', async () => {
    const refusal = {
      error: 'invalid_client',
      error_description: 'AADSTS700213: no match',
      error_codes: [700213],
    };
    script.push({
      status: 400,
      type: 'application/json; charset=utf-8',
      body: JSON.stringify(refusal),
    });
    const relayed = await entra();
    expect(relayed.status).toBe(400);
    expect(await relayed.json()).toEqual(refusal);
    script.push({ status: 200, type: 'text/plain', body: 'ok' });
    const garbled = await entra();
    expect(garbled.status).toBe(502);
    expect(await garbled.json()).toMatchObject({
      error: 'server_error',
      error_description: expect.stringMatching(
        /Entra ID answered 200 with a body that is not JSON; check IDBRIDGE_BROKER_AZURE_AUTHORITY_URL/,
      ),
    });
  });

  it('AWS: over the per-subject limit, Throttling with Retry-After and no upstream call', async () => {
    for (let i = 0; i < 3; i++)
      script.push({
        status: 403,
        type: 'text/xml',
        body: '<ErrorResponse><Error><Code>AccessDenied</Code></Error></ErrorResponse>',
      });
    for (let i = 0; i < 3; i++) expect((await aws('limited')).status).toBe(403);
    const before = hits;
    const res = await aws('limited');
    expect(res.status).toBe(400);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await awsCode(res)).Code).toBe('Throttling');
    expect(hits).toBe(before);
  });

  it('counts each cloud under its own endpoint label', async () => {
    const metrics = await (await fetch(`${serve.url}/metrics`)).text();
    expect(metrics).toMatch(
      /idbridge_broker_requests_total\{endpoint="assumeRoleWithWebIdentity",outcome="ok"\} 1/,
    );
    expect(metrics).toMatch(
      /idbridge_broker_requests_total\{endpoint="entraToken",outcome="upstream_refused"\} 1/,
    );
    expect(metrics).toMatch(/idbridge_broker_rate_limited_total\{scope="subject"\} 1/);
    expect(metrics).toMatch(
      /idbridge_broker_upstream_attempts_total\{endpoint="assumeRoleWithWebIdentity",outcome="503"\} 1/,
    );
  });
});
