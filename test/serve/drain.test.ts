import { afterEach, describe, expect, it } from 'vitest';
import { generateClusterKey, jwksOf } from '../support/keys.js';
import { KeptAliveClient, within } from '../support/kept-alive.js';
import { spawnServe, type SpawnedServe } from '../support/serve.js';
import { waitFor } from '../support/webhook.js';

const TOKEN = 'drain-token-0123456789';
// The drain deadline is far beyond every ceiling below: exiting within one proves the process
// did not wait for it (the old code waited its fixed 10 s for a connection left idle).
const SHUTDOWN_TIMEOUT_MS = '60000';
const EXIT_CEILING_MS = 8_000;

const registration = (id: string) => ({
  method: 'POST',
  headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
  body: JSON.stringify({ id, jwks: jwksOf(generateClusterKey()) }),
});

/** `serve` with keep-alive clients around SIGTERM (needs `npm run build`). */
describe('idbridge serve drains kept-alive connections on SIGTERM', () => {
  let server: SpawnedServe | undefined;
  const clients: KeptAliveClient[] = [];
  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    if (server && server.child.exitCode === null) await server.stop();
    server = undefined;
  });
  const start = async () => {
    server = await spawnServe({
      IDBRIDGE_STORE: 'memory:',
      IDBRIDGE_ADMIN_TOKEN: TOKEN,
      IDBRIDGE_SHUTDOWN_TIMEOUT_MS: SHUTDOWN_TIMEOUT_MS,
    });
    return server;
  };
  const client = (url: string) => {
    const made = new KeptAliveClient(url);
    clients.push(made);
    return made;
  };
  const signalled = (s: SpawnedServe) =>
    waitFor(
      () => s.stdout.some((line) => line.includes('"msg":"shutting down"')),
      'the shutdown log line',
    );

  it('answers the request in flight at SIGTERM with its 201 and Connection: close, on the same connection', async () => {
    const s = await start();
    const busy = client(s.url);
    const warm = await busy.send('/healthz');
    expect([warm.status, warm.connection]).toEqual([200, 'keep-alive']);

    const held = await busy.hold('/api/v1/clusters', registration('c1'));
    const exited = s.stop();
    await signalled(s);
    const answer = await held.finish();
    expect(answer.status).toBe(201);
    expect(answer.connection).toBe('close');
    expect(answer.localPort).toBe(warm.localPort);
    expect(await within(exited, EXIT_CEILING_MS, 'exit after the last answer')).toBe(0);
  });

  it('exits before its drain deadline with an idle kept-alive connection and one that was busy at SIGTERM', async () => {
    const s = await start();
    const idle = client(s.url);
    expect((await idle.send('/healthz')).status).toBe(200);
    const busy = client(s.url);
    expect((await busy.send('/readyz')).status).toBe(200);
    const held = await busy.hold('/api/v1/clusters', registration('c2'));

    const exited = s.stop();
    await signalled(s);
    expect((await held.finish()).status).toBe(201);
    expect(await within(exited, EXIT_CEILING_MS, 'exit with kept-alive connections open')).toBe(0);
    expect(s.stdout.some((line) => line.includes('"msg":"stopped"'))).toBe(true);
  });
});
