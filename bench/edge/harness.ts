// Starts what bench/edge/run.sh measures, prints one JSON line describing it, and runs until
// SIGTERM: `idbridge serve` as the origin with one cluster; one workerd (miniflare) running the
// edge Worker bundle and a constant Worker that returns the same JWKS bytes and headers, each on
// its own direct socket; the JWKS bytes in a file for nginx.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Miniflare } from 'miniflare';
import { workerBundle } from '../../test/support/edge-worker.js';
import { generateClusterKey, jwksOf } from '../../test/support/keys.js';
import { startServe } from '../../test/support/serve.js';

const dir = process.argv[2];
if (!dir) throw new Error('usage: harness.ts DIR (where the JWKS file for nginx is written)');

const publicUrl = 'https://issuer.bench.example';
const origin = await startServe({ IDBRIDGE_PUBLIC_URL: publicUrl });
const created = await fetch(`${origin.url}/api/v1/clusters`, {
  method: 'POST',
  headers: { authorization: `Bearer ${origin.adminToken}`, 'content-type': 'application/json' },
  body: JSON.stringify({
    id: 'bench',
    jwks: jwksOf(generateClusterKey('RS256'), generateClusterKey('ES256')),
  }),
});
if (created.status !== 201)
  throw new Error(`registering the bench cluster failed: ${created.status}`);

const bundle = await workerBundle();
const runtime = {
  modules: true,
  compatibilityDate: bundle.compatibilityDate,
  compatibilityFlags: bundle.compatibilityFlags,
};
// The constant Worker needs the bytes and headers first: ask the edge Worker once for them.
const edgeOnly = new Miniflare({
  ...runtime,
  modulesRoot: bundle.dir,
  scriptPath: bundle.script,
  cf: false,
  bindings: { ...bundle.vars, IDBRIDGE_PUBLIC_URL: publicUrl, IDBRIDGE_ORIGIN: origin.url },
});
const sample = await edgeOnly.dispatchFetch('http://bench/bench/openid/v1/jwks');
const body = await sample.text();
const headers = Object.fromEntries(sample.headers);
await edgeOnly.dispose();
if (sample.status !== 200) throw new Error(`the edge Worker answered ${sample.status}: ${body}`);

const mf = new Miniflare({
  host: '127.0.0.1',
  port: 0,
  cf: false,
  workers: [
    {
      name: 'edge',
      ...runtime,
      modulesRoot: bundle.dir,
      scriptPath: bundle.script,
      cache: true,
      bindings: { ...bundle.vars, IDBRIDGE_PUBLIC_URL: publicUrl, IDBRIDGE_ORIGIN: origin.url },
      unsafeDirectSockets: [{ host: '127.0.0.1', port: 0 }],
    },
    {
      name: 'constant',
      ...runtime,
      script: `const body = new TextEncoder().encode(${JSON.stringify(body)});
const headers = ${JSON.stringify(headers)};
export default { fetch() { return new Response(body, { headers }); } };`,
      unsafeDirectSockets: [{ host: '127.0.0.1', port: 0 }],
    },
  ],
});
await mf.ready;
const edgeUrl = (await mf.unsafeGetDirectURL('edge')).href.replace(/\/$/, '');
const constantUrl = (await mf.unsafeGetDirectURL('constant')).href.replace(/\/$/, '');
// Warm the edge Worker's copy so every measured request takes the cached path.
const warm = await fetch(`${edgeUrl}/bench/openid/v1/jwks`);
if (warm.status !== 200 || (await warm.text()) !== body)
  throw new Error('the edge Worker did not serve the bench cluster');

await writeFile(join(dir, 'jwks.json'), body);

/** The workerd process miniflare started (a child of this one), whose CPU time run.sh reads. */
async function workerdPid(): Promise<number> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const match = /^\d+ \((.*)\) \S+ (\d+)/.exec(stat);
    if (match && match[1] === 'workerd' && Number(match[2]) === process.pid) return Number(entry);
  }
  throw new Error('workerd process not found');
}

console.log(
  JSON.stringify({
    edge: `${edgeUrl}/bench/openid/v1/jwks`,
    constant: `${constantUrl}/bench/openid/v1/jwks`,
    bytes: Buffer.byteLength(body),
    bundleBytes: bundle.bytes,
    bundleGzipBytes: bundle.gzipBytes,
    workerdPid: await workerdPid(),
  }),
);

const stop = async () => {
  await mf.dispose();
  await origin.close();
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
