import { compactVerify, importJWK } from 'jose';
import { generateClusterKey, signKubeToken } from '../../../test/support/keys.js';
const key = generateClusterKey('RS256');
const tokens = await Promise.all(Array.from({ length: 256 }, () => signKubeToken(key, { issuer: 'https://i/x', audience: 'a' })));
const ck = await importJWK({ ...key.jwk }, 'RS256');
const t0 = performance.now(); let n = 0; const deadline = t0 + 4000;
await Promise.all(Array.from({ length: 32 }, async () => { while (performance.now() < deadline) await compactVerify(tokens[n++ % 256]!, ck, { algorithms: ['RS256'] }); }));
console.log(n / 4);
