import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeFastPath } from '../../src/hosts/node/fast-path.js';
import { workersFastPath } from '../../src/hosts/workers/fast-path.js';
import { mountRoute } from '../../src/http/hono-route.js';
import {
  findFastRoute,
  jsonTooLarge,
  pathOfTarget,
  pathOfUrl,
  type PlainAnswer,
  type RouteDescriptor,
} from '../../src/http/route.js';

/** A route that echoes what it was handed, synchronously for GET, asynchronously for POST. */
function echoRoute(
  options: { fast?: boolean; calls?: string[] } = {},
): RouteDescriptor<{ id: string }> {
  return {
    name: 'echo',
    paths: ['/echo/:id'],
    match: (path) => (/^\/echo\/([^/]+)$/.exec(path) ? { id: path.slice(6) } : null),
    methods: ['GET', 'HEAD', 'POST'],
    bodyCap: 16,
    shape: 'idbridge',
    decide: (request) => {
      options.calls?.push(`${request.method} ${request.path}`);
      const answer: PlainAnswer = {
        status: 200,
        headers: { 'content-type': 'text/plain', 'x-id': request.params.id },
        body: `${request.method}:${request.body}`,
      };
      return request.method === 'POST' ? Promise.resolve(answer) : answer;
    },
    tooLarge: () => jsonTooLarge(16),
    fail: () => ({ status: 500, headers: {}, body: 'failed' }),
    fast: options.fast ?? true,
  };
}

describe('route descriptors: one splitter, one matcher', () => {
  it('splits request targets and absolute URLs into the path alone', () => {
    expect(pathOfTarget('/a/b?x=1')).toBe('/a/b');
    expect(pathOfTarget('/a/b')).toBe('/a/b');
    expect(pathOfUrl('https://h.example/a/b?x#y')).toBe('/a/b');
    expect(pathOfUrl('https://h.example/a#y')).toBe('/a');
    expect(pathOfUrl('https://h.example')).toBe('/');
  });

  it('finds only fast routes, for their methods', () => {
    const fast = echoRoute();
    expect(findFastRoute([fast], 'GET', '/echo/1')?.params).toEqual({ id: '1' });
    expect(findFastRoute([fast], 'PUT', '/echo/1')).toBeUndefined();
    expect(findFastRoute([fast], 'GET', '/other')).toBeUndefined();
    expect(findFastRoute([echoRoute({ fast: false })], 'GET', '/echo/1')).toBeUndefined();
  });
});

describe('the Workers fast-path hook and the hono routes generated from the same descriptor', () => {
  const calls: string[] = [];
  const route = echoRoute({ calls });
  const app = new Hono();
  mountRoute(app, route);
  app.notFound((c) => c.text('to hono', 404));
  const fast = workersFastPath([route], (request) => app.fetch(request));

  it.each([
    ['GET', undefined],
    ['HEAD', undefined],
    ['POST', 'hello'],
  ] as const)('answers %s the same way on both', async (method, body) => {
    const init = { method, ...(body !== undefined ? { body } : {}) };
    const viaFast = await fast(new Request('https://h.example/echo/7?q=1', init));
    const viaHono = await app.fetch(new Request('https://h.example/echo/7?q=1', init));
    expect(viaFast.status).toBe(viaHono.status);
    expect(viaFast.headers.get('x-id')).toBe('7');
    expect(viaHono.headers.get('x-id')).toBe('7');
    expect(await viaFast.text()).toBe(await viaHono.text());
  });

  it("gives the route's one 413 for a body over its cap, on both, without deciding", async () => {
    const before = calls.length;
    for (const fetcher of [fast, (request: Request) => app.fetch(request)]) {
      const res = await fetcher(
        new Request('https://h.example/echo/7', { method: 'POST', body: 'x'.repeat(17) }),
      );
      expect(res.status).toBe(413);
      expect(res.headers.get('connection')).toBe('close');
      expect(await res.json()).toEqual({
        error: {
          code: 'payload_too_large',
          message: expect.stringMatching(/larger than 0.015625 KiB/),
        },
      });
    }
    expect(calls.length).toBe(before);
  });

  it('leaves other paths and methods to the app', async () => {
    expect(await (await fast(new Request('https://h.example/other'))).text()).toBe('to hono');
    expect((await fast(new Request('https://h.example/echo/7', { method: 'DELETE' }))).status).toBe(
      404,
    );
  });
});

describe('the Node fast-path hook', () => {
  let server: Server;
  let port: number;
  const handedToHono: string[] = [];
  beforeAll(async () => {
    const hook = nodeFastPath([echoRoute()]);
    server = createServer((req, res) => {
      if (hook(req, res)) return;
      handedToHono.push(`${req.method} ${req.url}`);
      res.end('to hono');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const send = (method: string, path: string, body?: string) =>
    new Promise<{ status: number; headers: Record<string, unknown>; body: string }>(
      (resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port, path, method, agent: false }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk) => {
            text += chunk;
          });
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }),
          );
        });
        req.on('error', reject);
        req.end(body);
      },
    );

  it('answers a fast route from the socket, with the query split off and a Content-Length', async () => {
    const res = await send('GET', '/echo/9?x=1');
    expect(res).toMatchObject({
      status: 200,
      body: 'GET:',
      headers: { 'x-id': '9', 'content-length': '4' },
    });
    expect(await send('POST', '/echo/9', 'hi')).toMatchObject({ status: 200, body: 'POST:hi' });
  });

  it("answers a body over the cap with the route's 413 and closes the connection", async () => {
    const res = await send('POST', '/echo/9', 'x'.repeat(17));
    expect(res.status).toBe(413);
    expect(res.headers.connection).toBe('close');
    expect(JSON.parse(res.body)).toMatchObject({ error: { code: 'payload_too_large' } });
  });

  it('leaves everything else to the next listener', async () => {
    expect((await send('GET', '/other')).body).toBe('to hono');
    expect((await send('PUT', '/echo/9', 'x')).body).toBe('to hono');
    expect(handedToHono).toEqual(['GET /other', 'PUT /echo/9']);
  });
});
