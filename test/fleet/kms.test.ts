import { Hono } from 'hono';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseProvider } from '../../src/credentials/credential-config.js';
import { IdbridgeError } from '../../src/errors.js';
import { FLEET_TOKEN_LIFETIME_SECONDS, type FleetClaims } from '../../src/fleet/claims.js';
import { WithFleetDocuments } from '../../src/fleet/documents.js';
import { derToJose, KmsFleetSigner } from '../../src/fleet/kms-signer.js';
import { issuerRoutes } from '../../src/issuer/routes.js';
import { createLogger } from '../../src/log/logger.js';
import { startFakeGoogle, type FakeGoogle } from '../fakes/google.js';
import { startFakeKms, type FakeKms } from '../fakes/kms.js';
import { serveOnLoopback } from '../support/net.js';
import { fleetAttributes, FLEET_PROVIDER } from './stack.js';

const VERSION =
  'projects/p/locations/global/keyRings/idbridge/cryptoKeys/fleet/cryptoKeyVersions/1';
const provider = parseProvider(FLEET_PROVIDER);

/** The KMS signer: tokens signed by the KMS fake's asymmetricSign validate at the fake Google through the fleet issuer. */
describe('the Cloud KMS fleet signer', () => {
  let kms: FakeKms;
  let google: FakeGoogle;
  let issuer: { url: string; close(): Promise<void> };
  let signer: KmsFleetSigner;
  beforeAll(async () => {
    kms = await startFakeKms();
    kms.addKeyVersion(VERSION, ['broker-token']);
    const served: { source?: WithFleetDocuments } = {};
    const app = new Hono();
    const logger = createLogger(() => {});
    app.all('*', (c) => issuerRoutes(served.source!, logger).fetch(c.req.raw));
    issuer = await serveOnLoopback(app);
    signer = new KmsFleetSigner({
      keyVersion: VERSION,
      kmsUrl: kms.url,
      issuer: `${issuer.url}/_fleet`,
      accessToken: async () => 'broker-token',
    });
    served.source = new WithFleetDocuments({ documents: async () => null }, signer);
    google = await startFakeGoogle();
    google.providers.push({
      path: provider.path,
      issuerUri: `${issuer.url}/_fleet`,
      attributeMapping: fleetAttributes,
    });
  });
  afterAll(async () => {
    await Promise.all([kms?.close(), google?.close(), issuer?.close()]);
  });

  const claims = (): FleetClaims => {
    const iat = Math.floor(Date.now() / 1000);
    return {
      iss: `${issuer.url}/_fleet`,
      sub: 'a:apps:web',
      aud: provider.audience,
      iat,
      nbf: iat,
      exp: iat + FLEET_TOKEN_LIFETIME_SECONDS,
      cluster: 'a',
      namespace: 'apps',
      service_account: 'web',
    };
  };

  it('signs with asymmetricSign and publishes getPublicKey; the fake Google accepts the token', async () => {
    const { token, kid } = await signer.sign(claims());
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'ES256', kid, typ: 'JWT' });
    const jwks = (await (await fetch(`${issuer.url}/_fleet/openid/v1/jwks`)).json()) as {
      keys: Array<{ kid: string; d?: string }>;
    };
    expect(jwks.keys.map((k) => k.kid)).toEqual([kid]);
    const res = await fetch(`${google.url}/v1/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        audience: provider.audience,
        requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        subject_token: token,
        subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      }).toString(),
    });
    expect(res.status).toBe(200);
    expect(google.assertions.at(-1)).toMatchObject({ sub: 'a:apps:web', cluster: 'a' });
    // The public key is read once; every mint is one asymmetricSign.
    const before = { ...kms.calls };
    await signer.sign(claims());
    expect(kms.calls).toEqual({
      publicKey: before.publicKey,
      asymmetricSign: before.asymmetricSign + 1,
    });
  });

  it('rotates by publishing the next version before it signs and the previous one after', async () => {
    const v2 = `${VERSION.slice(0, -1)}5`;
    kms.addKeyVersion(v2, ['broker-token']);
    const signerOf = (keyVersion: string, alsoPublish: string[]) =>
      new KmsFleetSigner({
        keyVersion,
        alsoPublish,
        kmsUrl: kms.url,
        issuer: `${issuer.url}/_fleet`,
        accessToken: async () => 'broker-token',
      });
    // Step 1: v1 signs, v2 is published; step 2: v2 signs, v1 is still published.
    const before = signerOf(VERSION, [v2]);
    const after = signerOf(v2, [VERSION]);
    const old = await before.sign(claims());
    const next = await after.sign(claims());
    expect(old.kid).not.toBe(next.kid);
    const kids = async (signer: KmsFleetSigner) =>
      (await signer.documents()).keys.map((key) => key.kid).sort();
    expect(await kids(before)).toEqual([old.kid, next.kid].sort());
    expect(await kids(after)).toEqual([old.kid, next.kid].sort());
  });

  it('names the role to grant when KMS denies the permission', async () => {
    const denied = new KmsFleetSigner({
      keyVersion: VERSION,
      kmsUrl: kms.url,
      issuer: `${issuer.url}/_fleet`,
      accessToken: async () => 'someone-else',
    });
    const err = await denied.sign(claims()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IdbridgeError);
    expect((err as IdbridgeError).status).toBe(503);
    expect((err as IdbridgeError).message).toMatch(/roles\/cloudkms\.signerVerifier/);
    expect((err as IdbridgeError).message).not.toMatch(/someone-else/);
  });

  it('refuses a disabled key version and an unreachable KMS with clear errors', async () => {
    const other = `${VERSION.slice(0, -1)}2`;
    kms.addKeyVersion(other, ['broker-token']);
    kms.disable(other);
    const disabled = new KmsFleetSigner({
      keyVersion: other,
      kmsUrl: kms.url,
      issuer: `${issuer.url}/_fleet`,
      accessToken: async () => 'broker-token',
    });
    await expect(disabled.sign(claims())).rejects.toThrow(/not enabled/);
    const gone = new KmsFleetSigner({
      keyVersion: VERSION,
      kmsUrl: 'http://127.0.0.1:9',
      issuer: `${issuer.url}/_fleet`,
      accessToken: async () => 'broker-token',
    });
    await expect(gone.sign(claims())).rejects.toThrow(/cannot be reached.*IDBRIDGE_KMS_URL/);
  });

  it('turns DER signatures into JWS r‖s and refuses what is not one', () => {
    const der = Buffer.from([0x30, 0x08, 0x02, 0x02, 0x00, 0x80, 0x02, 0x02, 0x01, 0x02]);
    const raw = derToJose(der);
    expect(raw.length).toBe(64);
    expect(raw[31]).toBe(0x80);
    expect([raw[62], raw[63]]).toEqual([0x01, 0x02]);
    expect(() => derToJose(Buffer.from([0x31, 0x00]))).toThrow(/not a DER ECDSA signature/);
  });
});
