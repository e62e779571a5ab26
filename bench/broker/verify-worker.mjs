// One benchmark thread of verify-throughput.ts. Each mode verifies the same tokens as fast as it
// can for `durationMs` and reports how many it verified; the main thread runs one per core.
// Plain JavaScript on the built code (dist/), so that worker threads need no TypeScript loader.
import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { installFromBase64 } from '../../dist/src/verify/from-base64.js';
import { SubjectTokenVerifier } from '../../dist/src/verify/subject-token.js';

const { tokens, record, audience, concurrency } = workerData;
// As idbridge serve does at start (src/hosts/node/serve.ts); BENCH_NATIVE_BASE64=1 measures without it.
if (!process.env.BENCH_NATIVE_BASE64) installFromBase64();
const publicKey = createPublicKey({ key: { ...record.keys[0].jwk }, format: 'jwk' });
const keysByKid = new Map([[record.keys[0].jwk.kid, publicKey]]);
const verifier = new SubjectTokenVerifier();
const jwks = createLocalJWKSet({ keys: record.keys.map((k) => ({ ...k.jwk })) });
const options = { audiences: [audience] };

/** Bare node:crypto: the RS256 signature of each token, synchronously, nothing else. */
function nodeCrypto(deadline) {
  let n = 0;
  while (performance.now() < deadline) {
    for (let i = 0; i < 64; i++, n++) {
      const token = tokens[n % tokens.length];
      const dot = token.lastIndexOf('.');
      if (
        !cryptoVerify(
          'sha256',
          Buffer.from(token.slice(0, dot)),
          publicKey,
          Buffer.from(token.slice(dot + 1), 'base64url'),
        )
      )
        throw new Error('bad signature');
    }
  }
  return n;
}

/**
 * The least a verifier of these tokens must do, written directly on node:crypto and Buffer,
 * synchronously: split, parse the header, find the key by kid, check the RS256 signature, parse
 * the claims and check the expiry.
 */
function nodeCryptoJwt(deadline) {
  let n = 0;
  const now = Date.now() / 1000;
  while (performance.now() < deadline) {
    for (let i = 0; i < 64; i++, n++) {
      const token = tokens[n % tokens.length];
      const first = token.indexOf('.');
      const last = token.lastIndexOf('.');
      const header = JSON.parse(Buffer.from(token.slice(0, first), 'base64url').toString());
      const key =
        header.alg === 'RS256' && header.kid !== undefined ? keysByKid.get(header.kid) : undefined;
      if (
        !key ||
        !cryptoVerify(
          'sha256',
          Buffer.from(token.slice(0, last)),
          key,
          Buffer.from(token.slice(last + 1), 'base64url'),
        )
      )
        throw new Error('bad token');
      const claims = JSON.parse(Buffer.from(token.slice(first + 1, last), 'base64url').toString());
      if (typeof claims.exp !== 'number' || claims.exp < now) throw new Error('expired');
    }
  }
  return n;
}

/** `inFlight` verifications in flight at all times, as a busy server has. */
async function saturate(deadline, verifyOne, inFlight) {
  let n = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < deadline) await verifyOne(tokens[n++ % tokens.length]);
    }),
  );
  return n;
}

async function run({ mode, durationMs }) {
  const deadline = performance.now() + durationMs;
  switch (mode) {
    case 'node-crypto':
      return nodeCrypto(deadline);
    case 'node-crypto-jwt':
      return nodeCryptoJwt(deadline);
    case 'idbridge':
      return saturate(deadline, (token) => verifier.verify(token, record, options), concurrency);
    case 'jose-serial':
      return saturate(
        deadline,
        (token) => jwtVerify(token, jwks, { algorithms: ['RS256'], audience }),
        1,
      );
    default:
      throw new Error(`unknown mode ${mode}`);
  }
}

parentPort.on('message', (job) => {
  run(job).then(
    (count) => parentPort.postMessage({ count }),
    (err) => parentPort.postMessage({ error: err.message }),
  );
});
