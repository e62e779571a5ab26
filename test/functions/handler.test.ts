import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createFunctionHandler } from '../../src/hosts/functions/handler.js';

/** The function handler behind a bare Node server: the framework's parsing is not involved here. */
async function serveHandler(
  env: Record<string, string>,
): Promise<{ url: string; lines: string[]; server: Server }> {
  const lines: string[] = [];
  const handler = createFunctionHandler(env, (line) => lines.push(line));
  const server = createServer((req, res) => void handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, lines, server };
}

describe('Cloud Functions handler', () => {
  let server: Server | undefined;
  afterEach(() => {
    server?.close();
    server = undefined;
  });

  it('answers 503 saying what to set when IDBRIDGE_PUBLIC_URL is missing, and recovers nothing silently', async () => {
    const host = await serveHandler({ IDBRIDGE_STORE: 'memory:' });
    server = host.server;
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${host.url}/healthz`);
      expect(res.status).toBe(503);
      expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(
        /IDBRIDGE_PUBLIC_URL is not set/,
      );
    }
    expect(host.lines.map((l) => JSON.parse(l).severity)).toEqual(['ERROR', 'ERROR']);
  });

  it('reads a body the framework did not parse from the stream', async () => {
    const host = await serveHandler({
      IDBRIDGE_STORE: 'memory:',
      IDBRIDGE_PUBLIC_URL: 'https://edge.example',
      IDBRIDGE_ADMIN_TOKEN: 'handler-admin-token-0123456789',
    });
    server = host.server;
    const res = await fetch(`${host.url}/api/v1/clusters`, {
      method: 'POST',
      headers: {
        authorization: 'Bearer handler-admin-token-0123456789',
        'content-type': 'application/json',
      },
      body: JSON.stringify({ id: 'streamed' }),
    });
    expect(res.status).toBe(201);
    const head = await fetch(`${host.url}/healthz`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });
});
