import { createPublicKey, verify as cv } from 'node:crypto';
import { compactVerify, importJWK } from 'jose';
import { generateClusterKey, signKubeToken } from '../../../test/support/keys.js';
const key = generateClusterKey('RS256');
const tokens = await Promise.all(Array.from({ length: 256 }, () => signKubeToken(key, { issuer: 'https://i/x', audience: 'a' })));
const ck = await importJWK({ ...key.jwk }, 'RS256');
const ko = createPublicKey({ key: { ...key.jwk }, format: 'jwk' });
async function run(name: string, f: (t: string) => unknown, conc = 32) {
  const c0 = process.cpuUsage(); const t0 = performance.now(); let n = 0; const deadline = t0 + 3000;
  if (conc === 0) { while (performance.now() < deadline) { f(tokens[n++ % 256]!); } }
  else await Promise.all(Array.from({ length: conc }, async () => { while (performance.now() < deadline) await f(tokens[n++ % 256]!); }));
  const u = process.cpuUsage(c0);
  console.log(name.padEnd(28), String(Math.round(n / 3)).padStart(6), '/s', ((u.user + u.system) / n).toFixed(1).padStart(6), 'cpu us/token');
}
const td = new TextDecoder();
for (let r = 0; r < 2; r++) {
await run('bare sync', (t) => { const d = t.lastIndexOf('.'); cv('sha256', Buffer.from(t.slice(0, d)), ko, Buffer.from(t.slice(d + 1), 'base64url')); const p = JSON.parse(Buffer.from(t.slice(t.indexOf('.') + 1, d), 'base64url').toString()); if (p.exp < 0) throw 1; }, 0);
await run('subtle raw', (t) => { const d = t.lastIndexOf('.'); return crypto.subtle.verify('RSASSA-PKCS1-v1_5', ck as never, Buffer.from(t.slice(d + 1), 'base64url'), Buffer.from(t.slice(0, d))); });
await run('jose compactVerify ck', async (t) => JSON.parse(td.decode((await compactVerify(t, ck, { algorithms: ['RS256'] })).payload)));
await run('jose compactVerify ko', async (t) => JSON.parse(td.decode((await compactVerify(t, ko, { algorithms: ['RS256'] })).payload)));
}
