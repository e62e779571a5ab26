import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/net.js';
import { SERVICE_ACCOUNT, startBrokerStack, type BrokerStack } from './stack.js';

/**
 * How the broker behaves when Google misbehaves: bounded waits, retries only where repeating is
 * safe, Google's answers relayed as they are, network failures as 502/503/504 in Google's shape.
 */
describe('broker and upstream faults', () => {
  let stack: BrokerStack;
  beforeAll(async () => {
    stack = await startBrokerStack({
      env: { IDBRIDGE_BROKER_UPSTREAM_TIMEOUT_MS: '300', IDBRIDGE_BROKER_UPSTREAM_ATTEMPTS: '2' },
    });
  });
  afterAll(async () => {
    await stack?.close();
  });

  const exchange = async () => {
    const before = stack.google.calls.token;
    const res = await stack.exchange(stack.tokenForm(await stack.token()));
    return {
      res,
      body: (await res.json()) as Record<string, unknown>,
      upstreamCalls: stack.google.calls.token - before,
    };
  };

  it('gives up on a hanging upstream after the timeout, retried once: 504', async () => {
    stack.google.failNext('token', 'hang', 2);
    const { res, body, upstreamCalls } = await exchange();
    expect(res.status).toBe(504);
    expect(body).toEqual({
      error: 'server_error',
      error_description: expect.stringMatching(/did not answer within 300 ms/),
    });
    expect(upstreamCalls).toBe(2);
  });

  it('answers 502 when the connection is reset, after a retry', async () => {
    stack.google.failNext('token', 'reset', 2);
    const { res, body, upstreamCalls } = await exchange();
    expect(res.status).toBe(502);
    expect(body.error_description).toMatch(/failed before a complete answer/);
    expect(upstreamCalls).toBe(2);
  });

  it('relays a 500 that persists, as Google sent it', async () => {
    const googleBody = JSON.stringify({
      error: { code: 500, message: 'Internal error encountered.', status: 'INTERNAL' },
    });
    stack.google.failNext('token', { status: 500, body: googleBody }, 2);
    const { res, body, upstreamCalls } = await exchange();
    expect(res.status).toBe(500);
    expect(body).toEqual(JSON.parse(googleBody));
    expect(upstreamCalls).toBe(2);
  });

  it('retries a single 503 and succeeds', async () => {
    stack.google.failNext('token', { status: 503 });
    const { res, body, upstreamCalls } = await exchange();
    expect(res.status).toBe(200);
    expect(body.access_token).toMatch(/^ya29\.fed\./);
    expect(upstreamCalls).toBe(2);
  });

  it('relays a 429 asking for a long wait at once, with its Retry-After', async () => {
    stack.google.failNext('token', {
      status: 429,
      body: JSON.stringify({ error: 'rate_limit_exceeded', error_description: 'Quota exceeded.' }),
      headers: { 'retry-after': '30' },
    });
    const { res, body, upstreamCalls } = await exchange();
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('30');
    expect(body.error_description).toBe('Quota exceeded.');
    expect(upstreamCalls).toBe(1);
  });

  it("does not retry Google's refusals (4xx), and relays them", async () => {
    stack.google.failNext('token', {
      status: 400,
      body: JSON.stringify({
        error: 'invalid_target',
        error_description: 'The target service indicated by the "audience" parameters is invalid.',
      }),
    });
    const { res, body, upstreamCalls } = await exchange();
    expect(res.status).toBe(400);
    expect(body.error).toBe('invalid_target');
    expect(upstreamCalls).toBe(1);
  });

  it('answers 502 for a malformed 200, without caching or retrying it', async () => {
    stack.google.failNext('token', 'malformed');
    const { res, body, upstreamCalls } = await exchange();
    expect(res.status).toBe(502);
    expect(body).toEqual({
      error: 'server_error',
      error_description: expect.stringMatching(/not JSON.*IDBRIDGE_STS_URL/),
    });
    expect(upstreamCalls).toBe(1);
  });

  it('answers IAM Credentials faults in the IAM shape', async () => {
    // Its own federated token, checked: an exchange that failed (a fault left by another test)
    // would send "Bearer undefined" and this test would prove nothing about IAM faults.
    const exchanged = await stack.exchange(stack.tokenForm(await stack.token()));
    const federated = (await exchanged.json()) as { access_token: string };
    expect(exchanged.status, JSON.stringify(federated)).toBe(200);
    expect(federated.access_token).toMatch(/^ya29\.fed\./);
    stack.google.failNext('generateAccessToken', 'hang', 2);
    const before = stack.google.calls.generateAccessToken;
    const res = await fetch(
      `${stack.serve.url}/v1/projects/-/serviceAccounts/${SERVICE_ACCOUNT}:generateAccessToken`,
      {
        method: 'POST',
        headers: {
          authorization: `Bearer ${federated.access_token}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify({ scope: ['https://www.googleapis.com/auth/cloud-platform'] }),
      },
    );
    expect(res.status).toBe(504);
    expect(await res.json()).toEqual({
      error: {
        code: 504,
        message: expect.stringMatching(/IAM Credentials did not answer/),
        status: 'DEADLINE_EXCEEDED',
      },
    });
    // Both attempts reached the fake and hung: the 504 is the broker's timeout, not a refusal.
    expect(stack.google.calls.generateAccessToken - before).toBe(2);
  });

  it('keeps serving after all of that', async () => {
    expect((await fetch(`${stack.serve.url}/healthz`)).status).toBe(200);
    const { res } = await exchange();
    expect(res.status).toBe(200);
  });
});

describe('broker under a burst of identical exchanges', () => {
  let stack: BrokerStack;
  beforeAll(async () => {
    // Default timeouts: a slow answer under this burst must not be mistaken for a hang.
    stack = await startBrokerStack();
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('makes one upstream call for 200 concurrent exchanges of one token', async () => {
    const token = await stack.token();
    stack.google.setDelay(150);
    try {
      const before = stack.google.calls.token;
      const answers = await Promise.all(
        Array.from({ length: 200 }, async () => {
          const res = await stack.exchange(stack.tokenForm(token));
          return { status: res.status, body: (await res.json()) as { access_token: string } };
        }),
      );
      expect(answers.every((a) => a.status === 200)).toBe(true);
      expect(new Set(answers.map((a) => a.body.access_token)).size).toBe(1);
      expect(stack.google.calls.token - before).toBe(1);
    } finally {
      stack.google.setDelay(0);
    }
  });
});

describe('broker with an upstream that refuses connections', () => {
  it("answers 503 temporarily_unavailable in Google's shape", async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const stack = await startBrokerStack({
      env: { IDBRIDGE_STS_URL: closed, IDBRIDGE_BROKER_UPSTREAM_ATTEMPTS: '2' },
    });
    try {
      const res = await stack.exchange(stack.tokenForm(await stack.token()));
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({
        error: 'temporarily_unavailable',
        error_description: expect.stringMatching(/cannot be reached \(ECONNREFUSED\)/),
      });
    } finally {
      await stack.close();
    }
  });
});
