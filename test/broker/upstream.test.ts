import { describe, expect, it } from 'vitest';
import {
  AnswerTooLarge,
  TransportTimeout,
  type Transport,
  type TransportAnswer,
} from '../../src/broker/http-transport.js';
import { UpstreamClient, type AttemptOutcome } from '../../src/broker/upstream.js';

/** A transport that plays a script of answers and failures, one per attempt. */
function scripted(...steps: Array<TransportAnswer | Error>): Transport & { calls: number } {
  const transport = Object.assign(
    async () => {
      const step = steps[transport.calls++];
      if (!step) throw new Error('no more steps');
      if (step instanceof Error) throw step;
      return step;
    },
    { calls: 0 },
  );
  return transport;
}

const ok: TransportAnswer = {
  status: 200,
  contentType: 'application/json',
  body: '{"access_token":"t","expires_in":3599}',
};
const request = {
  endpoint: 'token' as const,
  url: 'https://sts.example/v1/token',
  contentType: 'application/x-www-form-urlencoded',
  body: 'x=1',
};
const client = (transport: Transport, outcomes: AttemptOutcome[] = []) =>
  new UpstreamClient({
    timeoutMs: 50,
    attempts: 3,
    backoffMs: 1,
    transport,
    random: () => 0,
    onAttempt: (_e, outcome) => outcomes.push(outcome),
  });

describe('UpstreamClient', () => {
  it('retries timeouts, network failures and 5xx, and reports every attempt', async () => {
    const outcomes: AttemptOutcome[] = [];
    const transport = scripted(
      new TransportTimeout(),
      Object.assign(new Error('reset'), { code: 'ECONNRESET' }),
      ok,
    );
    expect(await client(transport, outcomes).post(request)).toMatchObject({
      status: 200,
      attempts: 3,
    });
    expect(outcomes).toEqual(['timeout', 'network', 200]);
  });

  it('relays the last 5xx when every attempt fails with one', async () => {
    const failing = {
      status: 503,
      contentType: 'application/json',
      body: '{"error":{"code":503}}',
    };
    const transport = scripted(failing, failing, failing);
    expect(await client(transport).post(request)).toMatchObject({
      status: 503,
      attempts: 3,
      body: failing.body,
    });
  });

  it('does not retry a 4xx, a 429 asking for a long wait, or an oversized answer', async () => {
    const refused = scripted({
      status: 400,
      contentType: 'application/json',
      body: '{"error":"invalid_grant"}',
    });
    expect(await client(refused).post(request)).toMatchObject({ status: 400, attempts: 1 });
    const slowDown = scripted({
      status: 429,
      contentType: 'application/json',
      body: '{}',
      retryAfter: '60',
    });
    expect(await client(slowDown).post(request)).toMatchObject({
      status: 429,
      attempts: 1,
      retryAfter: '60',
    });
    const huge = scripted(new AnswerTooLarge(), ok);
    await expect(client(huge).post(request)).rejects.toMatchObject({ code: 'bad_gateway' });
    expect(huge.calls).toBe(1);
  });

  it('waits out a short Retry-After and tries again', async () => {
    const transport = scripted(
      { status: 429, contentType: 'application/json', body: '{}', retryAfter: '0' },
      ok,
    );
    expect(await client(transport).post(request)).toMatchObject({ status: 200, attempts: 2 });
  });

  it('maps the last failure to 503 (refused), 504 (timeout) or 502 (anything else)', async () => {
    const refused = Object.assign(new Error('refused'), { code: 'ECONNREFUSED' });
    await expect(client(scripted(refused, refused, refused)).post(request)).rejects.toMatchObject({
      status: 503,
      sts: 'temporarily_unavailable',
    });
    await expect(
      client(scripted(new TransportTimeout(), new TransportTimeout(), new TransportTimeout())).post(
        request,
      ),
    ).rejects.toMatchObject({ status: 504 });
    const odd = new Error('odd');
    await expect(client(scripted(odd, odd, odd)).post(request)).rejects.toMatchObject({
      status: 502,
    });
  });

  it('answers 502 for a success whose body is not JSON', async () => {
    await expect(
      client(scripted({ status: 200, contentType: 'text/html', body: '<html>' })).post(request),
    ).rejects.toMatchObject({ status: 502, message: expect.stringMatching(/not JSON/) });
  });
});
