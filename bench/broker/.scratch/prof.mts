import type { ClusterRecord } from '../../../src/registry/record.js';
import { SubjectTokenVerifier } from '../../../src/verify/subject-token.js';
import { generateClusterKey, signKubeToken } from '../../../test/support/keys.js';
const issuer = 'https://issuer.example/bench';
const audience = 'aud';
const key = generateClusterKey('RS256');
const at = new Date().toISOString();
const record: ClusterRecord = { id: 'bench', issuer, syncSubject: 'system:serviceaccount:a:b', keys: [{ jwk: key.jwk, firstSeen: at, lastSeen: at }], keyEvents: [], createdAt: at, updatedAt: at, version: 1 };
const tokens = await Promise.all(Array.from({ length: 256 }, () => signKubeToken(key, { issuer, audience })));
const v = new SubjectTokenVerifier();
const mode = process.env.MODE;
const c0 = process.cpuUsage(); const t0 = performance.now();
let n = 0; const deadline = t0 + 4000;
const { subtle } = globalThis.crypto;
const ck = await (await import('jose')).importJWK({ ...key.jwk }, 'RS256');
await Promise.all(Array.from({ length: 32 }, async () => { while (performance.now() < deadline) {
  const t = tokens[n++ % 256]!;
  if (mode === 'subtle') { const d = t.lastIndexOf('.'); await subtle.verify('RSASSA-PKCS1-v1_5', ck as CryptoKey, Buffer.from(t.slice(d + 1), 'base64url'), Buffer.from(t.slice(0, d))); }
  else await v.verify(t, record, { audiences: [audience] });
} }));
const u = process.cpuUsage(c0);
console.log(mode, n / 4, 'per s', ((u.user + u.system) / n).toFixed(1), 'cpu us/token', 'user', (u.user/n).toFixed(1), 'sys', (u.system/n).toFixed(1));
