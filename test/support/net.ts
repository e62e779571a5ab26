import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';

/**
 * Ports handed to child processes are drawn below the kernel's ephemeral range: a port from
 * `listen(0)` comes from that range, and in the moment between closing it and the child binding it,
 * any outgoing connection on the machine may take it as its local port ("Address already in use").
 */
const FIRST_PORT = 10_000;
const EPHEMERAL_LOW = (() => {
  try {
    const low = Number(
      readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0],
    );
    return Number.isInteger(low) && low > FIRST_PORT + 1_000 ? low : 32_768;
  } catch {
    return 32_768;
  }
})();

/** A port that was free a moment ago on 127.0.0.1, outside the range outgoing connections use. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = FIRST_PORT + Math.floor(Math.random() * (EPHEMERAL_LOW - FIRST_PORT));
    if (await bindable(port)) return port;
  }
  throw new Error(
    `no free port on 127.0.0.1 between ${FIRST_PORT} and ${EPHEMERAL_LOW - 1} after 50 tries`,
  );
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Serves a hono app (a fake Google service) on a fresh 127.0.0.1 port until `close`. */
export async function serveOnLoopback(app: Hono): Promise<{ url: string; close(): Promise<void> }> {
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
