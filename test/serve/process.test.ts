import { spawn } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateClusterKey, jwksOf } from '../support/keys.js';
import { IDBRIDGE_BIN, spawnServe, tempDir } from '../support/serve.js';

/** `bin/idbridge.js serve` as an operator runs it (needs `npm run build`; `npm test` does it). */
describe('idbridge serve as a process', () => {
  it('generates the admin token once, keeps it private and never logs it', async () => {
    const dir = await tempDir();
    const first = await spawnServe({ IDBRIDGE_STORE: `file:${dir.path}` });
    const token = (await readFile(join(dir.path, 'admin-token'), 'utf8')).trim();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await stat(join(dir.path, 'admin-token'))).mode & 0o777).toBe(0o600);
    expect(first.stderr).toContain(token);

    const created = await fetch(`${first.url}/api/v1/clusters?trace=secret-query`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'c1', jwks: jwksOf(generateClusterKey()) }),
    });
    expect(created.status).toBe(201);
    await fetch(`${first.url}/api/v1/clusters`, {
      headers: { authorization: 'Bearer wrong-token-0123456789' },
    });
    expect(await first.stop()).toBe(0);

    const second = await spawnServe({ IDBRIDGE_STORE: `file:${dir.path}` });
    expect(second.stderr).not.toContain(token);
    const listed = await fetch(`${second.url}/api/v1/clusters`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(
      ((await listed.json()) as { clusters: { id: string }[] }).clusters.map((c) => c.id),
    ).toEqual(['c1']);
    expect(await second.stop()).toBe(0);

    const logs = [...first.stdout, ...second.stdout].join('\n');
    expect(logs).not.toContain(token);
    expect(logs).not.toContain('wrong-token');
    expect(logs).not.toContain('secret-query');
    const requests = [...first.stdout, ...second.stdout]
      .map((line) => JSON.parse(line))
      .filter((entry) => entry.msg === 'request');
    expect(requests.map((r) => [r.method, r.path, r.status])).toEqual([
      ['POST', '/api/v1/clusters', 201],
      ['GET', '/api/v1/clusters', 401],
      ['GET', '/api/v1/clusters', 200],
    ]);
    for (const entry of requests)
      expect(Object.keys(entry).sort()).toEqual([
        'level',
        'method',
        'ms',
        'msg',
        'path',
        'status',
        'time',
      ]);
    await dir.remove();
  });

  it('serves identical bytes and headers from the in-memory fast path and the hono route', async () => {
    const dir = await tempDir();
    const server = await spawnServe({
      IDBRIDGE_STORE: `file:${dir.path}`,
      IDBRIDGE_ADMIN_TOKEN: 'fast-path-token-0123456789',
    });
    await fetch(`${server.url}/api/v1/clusters`, {
      method: 'POST',
      headers: {
        authorization: 'Bearer fast-path-token-0123456789',
        'content-type': 'application/json',
      },
      body: JSON.stringify({ id: 'c1', jwks: jwksOf(generateClusterKey()) }),
    });
    let change = 0;
    for (const path of ['/c1/openid/v1/jwks', '/c1/.well-known/openid-configuration']) {
      for (const init of [{}, { method: 'HEAD' }, { headers: { 'if-none-match': '*' } }]) {
        // The first request after a write goes through hono (the write emptied the cache); the next through the fast path.
        const patched = await fetch(`${server.url}/api/v1/clusters/c1`, {
          method: 'PATCH',
          headers: {
            authorization: 'Bearer fast-path-token-0123456789',
            'content-type': 'application/json',
          },
          body: JSON.stringify({ broker: { subjects: [`system:serviceaccount:a:s${change++}`] } }),
        });
        expect(patched.status).toBe(200);
        const cold = await fetch(`${server.url}${path}`, init);
        const warm = await fetch(`${server.url}${path}`, init);
        const strip = (h: Headers) =>
          Object.fromEntries([...h].filter(([name]) => name !== 'date'));
        expect(strip(warm.headers), `${path} ${JSON.stringify(init)}`).toEqual(strip(cold.headers));
        expect(warm.status).toBe(cold.status);
        expect(Buffer.from(await warm.arrayBuffer())).toEqual(
          Buffer.from(await cold.arrayBuffer()),
        );
      }
    }
    await server.stop();
    await dir.remove();
  });

  it('shuts down promptly on SIGTERM even with idle keep-alive connections', async () => {
    const server = await spawnServe({
      IDBRIDGE_STORE: 'memory:',
      IDBRIDGE_ADMIN_TOKEN: 'shutdown-token-0123456789',
    });
    await fetch(`${server.url}/healthz`); // leaves a keep-alive connection open in undici's pool
    const started = Date.now();
    expect(await server.stop()).toBe(0);
    expect(server.stdout.some((line) => line.includes('"msg":"stopped"'))).toBe(true);
    // Not a timing assertion on the server: only that it did not sit out the 65 s keep-alive.
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it('with PORT=0 publishes issuers under the port it actually listens on', async () => {
    const server = await spawnServe({
      PORT: '0',
      IDBRIDGE_STORE: 'memory:',
      IDBRIDGE_ADMIN_TOKEN: 'port-zero-token-0123456789',
    });
    expect(server.url).not.toMatch(/:0$/);
    const res = await fetch(`${server.url}/api/v1/clusters`, {
      method: 'POST',
      headers: {
        authorization: 'Bearer port-zero-token-0123456789',
        'content-type': 'application/json',
      },
      body: JSON.stringify({ id: 'c1', jwks: jwksOf(generateClusterKey()) }),
    });
    expect(((await res.json()) as { cluster: { issuer: string } }).cluster.issuer).toBe(
      `${server.url}/c1`,
    );
    await server.stop();
  });

  it('refuses invalid configuration with a message naming the variable', async () => {
    const child = spawn(process.execPath, [IDBRIDGE_BIN, 'serve'], {
      env: {
        PATH: process.env.PATH ?? '',
        IDBRIDGE_PUBLIC_URL: 'issuer.example.com/?x=1',
        IDBRIDGE_STORE: 'memory:',
      },
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(code).toBe(2);
    expect(stderr).toMatch(/IDBRIDGE_PUBLIC_URL must be an absolute http\(s\) URL/);
  });
});
