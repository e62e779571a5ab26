import { createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { createLocalJWKSet, jwtVerify } from 'jose';
import type { ClusterRecord } from '../../src/registry/record.js';
import { SubjectTokenVerifier } from '../../src/verify/subject-token.js';

/**
 * One benchmark thread. Each mode verifies the same tokens as fast as it can for `durationMs`
 * and reports how many it verified; the main thread runs one such thread per core.
 */
export type VerifyMode = 'node-crypto' | 'node-crypto-jwt' | 'idbridge' | 'jose-serial';
export interface VerifyJob { mode: VerifyMode; durationMs: number }
export interface WorkerInput { tokens: string[]; record: ClusterRecord; audience: string; concurrency: number }

const { tokens, record, audience, concurrency } = workerData as WorkerInput;
const publicKey: KeyObject = createPublicKey({ key: { ...record.keys[0]!.jwk }, format: 'jwk' });
const verifier = new SubjectTokenVerifier();
const jwks = createLocalJWKSet({ keys: record.keys.map((k) => ({ ...k.jwk })) });
const options = { audiences: [audience] };

/** Bare node:crypto: the RS256 signature of each token, synchronously, nothing else. */
function nodeCrypto(deadline: number): number {
  let n = 0;
  while (performance.now() < deadline) {
    for (let i = 0; i < 64; i++, n++) {
      const token = tokens[n % tokens.length]!;
      const dot = token.lastIndexOf('.');
      if (!cryptoVerify('sha256', Buffer.from(token.slice(0, dot)), publicKey, Buffer.from(token.slice(dot + 1), 'base64url'))) throw new Error('bad signature');
    }
  }
  return n;
}

/**
 * The least a verifier of these tokens must do, written directly on node:crypto and Buffer,
 * synchronously: split, parse the header, find the key by kid, check the RS256 signature, parse
 * the claims and check the expiry.
 */
const keysByKid = new Map([[record.keys[0]!.jwk.kid, publicKey]]);
function nodeCryptoJwt(deadline: number): number {
  let n = 0;
  const now = Date.now() / 1000;
  while (performance.now() < deadline) {
    for (let i = 0; i < 64; i++, n++) {
      const token = tokens[n % tokens.length]!;
      const first = token.indexOf('.');
      const last = token.lastIndexOf('.');
      const header = JSON.parse(Buffer.from(token.slice(0, first), 'base64url').toString()) as { alg?: string; kid?: string };
      const key = header.alg === 'RS256' && header.kid !== undefined ? keysByKid.get(header.kid) : undefined;
      if (!key || !cryptoVerify('sha256', Buffer.from(token.slice(0, last)), key, Buffer.from(token.slice(last + 1), 'base64url'))) throw new Error('bad token');
      const claims = JSON.parse(Buffer.from(token.slice(first + 1, last), 'base64url').toString()) as { exp?: number };
      if (typeof claims.exp !== 'number' || claims.exp < now) throw new Error('expired');
    }
  }
  return n;
}

/** `concurrency` verifications in flight at all times, as a busy server has. */
async function saturate(deadline: number, verifyOne: (token: string) => Promise<unknown>, inFlight: number): Promise<number> {
  let n = 0;
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (performance.now() < deadline) await verifyOne(tokens[n++ % tokens.length]!);
  }));
  return n;
}

async function run(job: VerifyJob): Promise<number> {
  const deadline = performance.now() + job.durationMs;
  switch (job.mode) {
    case 'node-crypto':
      return nodeCrypto(deadline);
    case 'node-crypto-jwt':
      return nodeCryptoJwt(deadline);
    case 'idbridge':
      return saturate(deadline, (token) => verifier.verify(token, record, options), concurrency);
    case 'jose-serial':
      return saturate(deadline, (token) => jwtVerify(token, jwks, { algorithms: ['RS256'], audience }), 1);
  }
}

parentPort!.on('message', (job: VerifyJob) => {
  run(job).then((count) => parentPort!.postMessage({ count }), (err: Error) => parentPort!.postMessage({ error: err.message }));
});
