import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseWifProviderTarget } from '../../src/sync/wif-provider-url.js';
import type { FakeIamAdmin } from '../fakes/iam-admin.js';
import { PRIVATE_C1, startPrivateC1Sync, type PrivateC1Sync } from '../support/provider-google.js';
import { generateClusterKey, jwksOf, type ClusterKey } from '../support/keys.js';
import { SYNC_NAMESPACE, SYNC_SERVICE_ACCOUNT, type SyncWorld } from '../support/sync.js';

/**
 * `idbridge sync --target wif-provider://…`: a cluster with no public issuer keeps its provider's
 * uploaded keys current. The sync job's own Google credential is a federated identity through the
 * same provider, so the fake Google STS verifies its token with the provider's uploaded keys: a
 * write that dropped the key in use would make the next sync (and every workload) fail.
 */
describe('idbridge sync --target wif-provider://', () => {
  const { provider, pool, syncPrincipal, target } = PRIVATE_C1;
  const issuer = 'https://kubernetes.default.svc.cluster.local';
  let googleSide: PrivateC1Sync;
  let world: SyncWorld;
  let iam: FakeIamAdmin;
  let googleToken: string;
  let credentials: string;

  const refreshGoogleToken = () => googleSide.refreshGoogleToken();
  const uploadedKids = () => googleSide.uploadedKids();
  const sync = (flags: Record<string, string | undefined> = {}) =>
    world.sync(
      { api: undefined, tokenFile: undefined, target, attempts: '2', ...flags },
      { GOOGLE_APPLICATION_CREDENTIALS: credentials, IDBRIDGE_IAM_URL: iam.url },
    );
  /** Resets the provider to the cluster's current keys, as gcp-setup --jwk-json-path created it. */
  const createProvider = (keys: ClusterKey[]) =>
    iam.providers.set(provider.path, {
      name: provider.path,
      oidc: { issuerUri: issuer, jwksJson: JSON.stringify(jwksOf(...keys)) },
      attributeMapping: { 'google.subject': 'assertion.sub' },
      etag: 'etag-initial',
    });

  beforeAll(async () => {
    googleSide = await startPrivateC1Sync(issuer);
    ({ world, iam, googleToken, credentials } = googleSide);
  });
  afterAll(() => googleSide?.close());
  beforeEach(async () => {
    iam.revoke(syncPrincipal);
    iam.grant(syncPrincipal, 'roles/iam.workloadIdentityPoolAdmin', pool);
    createProvider([...world.kube.keys]);
    await refreshGoogleToken();
  });

  it('writes nothing when the provider already holds the cluster keys', async () => {
    const before = iam.calls.patchProvider;
    const result = await sync();
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/already up to date; nothing written/);
    expect(iam.calls.patchProvider).toBe(before);
  });

  it('a two-step rotation never leaves the provider without the key in use', async () => {
    const old = world.kube.signingKey;
    const next = generateClusterKey('RS256');
    const patches = iam.calls.patchProvider;

    // 1. The kube-apiserver publishes the new key; it still signs with the old one.
    world.kube.addKey(next);
    const added = await sync();
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toMatch(/published new keys/);
    expect(uploadedKids()).toEqual([old.kid, next.kid]);
    expect(iam.calls.patchProvider).toBe(patches + 1);

    // 2. It signs with the new key and drops the old; the sync pod's token is still the old one.
    world.kube.setSigningKey(next);
    world.kube.removeKey(old.kid);
    await world.refreshTokens();
    const early = await sync();
    expect(early.code).toBe(3);
    expect(early.stderr).toMatch(
      new RegExp(`does not contain key "${old.kid}", which signs the sync job's own token`),
    );
    expect(early.stderr).toMatch(/would lock the sync job out.*nothing was written/);
    expect(uploadedKids()).toEqual([old.kid, next.kid]);
    expect(iam.calls.patchProvider).toBe(patches + 1);

    // 3. kubelet refreshes the token (signed by the new key): the old key goes.
    await refreshGoogleToken();
    const removed = await sync();
    expect(removed.code, removed.stderr).toBe(0);
    expect(uploadedKids()).toEqual([next.kid]);
    expect(iam.calls.patchProvider).toBe(patches + 2);

    // The provider still verifies what the cluster signs now: the next sync gets a token.
    const again = await sync();
    expect(again.code, again.stderr).toBe(0);
    expect(iam.calls.patchProvider).toBe(patches + 2);
  });

  it('a JWKS without the key that signs the sync token is refused with no write', async () => {
    const signer = world.kube.signingKey;
    const replacement = generateClusterKey('ES256');
    // The provider holds the signer and the replacement; the cluster now publishes the replacement only.
    createProvider([signer, replacement]);
    world.kube.addKey(replacement);
    world.kube.setSigningKey(replacement);
    world.kube.removeKey(signer.kid);
    await world.refreshTokens();
    const before = iam.providers.get(provider.path);
    const patches = iam.calls.patchProvider;
    const result = await sync();
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/would lock the sync job out/);
    expect(iam.calls.patchProvider).toBe(patches);
    expect(iam.providers.get(provider.path)).toEqual(before);
  });

  it('adds before it removes: a one-step key swap takes two syncs', async () => {
    const signer = world.kube.signingKey;
    const leaving = generateClusterKey('ES256');
    const arriving = generateClusterKey('ES256');
    createProvider([signer, leaving]);
    world.kube.addKey(arriving);
    const first = await sync();
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/stay on the provider until the next sync/);
    expect(uploadedKids()).toEqual([signer.kid, arriving.kid, leaving.kid]);
    const second = await sync();
    expect(second.code, second.stderr).toBe(0);
    expect(uploadedKids()).toEqual([signer.kid, arriving.kid]);
    world.kube.removeKey(arriving.kid);
  });

  it('a concurrent change loses nothing: a stale etag (409 ABORTED) is read again and retried', async () => {
    const extra = generateClusterKey('ES256');
    world.kube.addKey(extra);
    const other = JSON.stringify(jwksOf(...world.kube.keys.filter((k) => k !== extra)));
    iam.afterNextRead(() => iam.setJwks(provider.path, other));
    const patches = iam.calls.patchProvider;
    const result = await sync();
    expect(result.code, result.stderr).toBe(0);
    expect(iam.calls.patchProvider).toBe(patches + 2);
    expect(uploadedKids()).toEqual(world.kube.keys.map((k) => k.kid));
    world.kube.removeKey(extra.kid);
  });

  it('gives up after three lost etag races in a row, as an outage (exit 5), writing nothing', async () => {
    const extra = generateClusterKey('ES256');
    world.kube.addKey(extra);
    const other = JSON.stringify(jwksOf(...world.kube.keys.filter((k) => k !== extra)));
    for (let i = 0; i < 3; i++) iam.afterNextRead(() => iam.setJwks(provider.path, other));
    const patches = iam.calls.patchProvider;
    const result = await sync({ attempts: '1' });
    expect(result.code).toBe(5);
    expect(result.stderr).toMatch(
      /changed by another writer during each of 3 read-and-write attempts/,
    );
    expect(iam.calls.patchProvider).toBe(patches + 3);
    expect(uploadedKids()).not.toContain(extra.kid);
    world.kube.removeKey(extra.kid);
  });

  it('retries the IAM API when it is unavailable, and passes other Google errors on readably', async () => {
    world.kube.addKey(generateClusterKey('ES256'));
    iam.failNext('patchProvider', 503);
    const retried = await sync();
    expect(retried.code, retried.stderr).toBe(0);
    expect(uploadedKids()).toEqual(world.kube.keys.map((k) => k.kid));
    iam.failNext('getProvider', 503, 2);
    const down = await sync();
    expect(down.code).toBe(5);
    expect(down.stderr).toMatch(/503 UNAVAILABLE: injected/);
  });

  it('waits for the write operation to be done before it reports the keys written', async () => {
    const added = generateClusterKey('ES256');
    world.kube.addKey(added);
    iam.operateNext({ polls: 2 });
    const reads = iam.calls.getOperation;
    const result = await sync();
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/published new keys/);
    expect(iam.calls.getOperation).toBe(reads + 3);
    expect(uploadedKids()).toContain(added.kid);
    world.kube.removeKey(added.kid);
  });

  it('a write operation done with an error fails the run with Google message, keys unchanged', async () => {
    const added = generateClusterKey('ES256');
    world.kube.addKey(added);
    iam.operateNext({ error: { code: 9, message: 'The provider is being deleted.' } });
    const result = await sync({ attempts: '1' });
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(
      /Google answered the update of provider .* with 400 FAILED_PRECONDITION: The provider is being deleted\. \(operation .* failed\)/,
    );
    expect(uploadedKids()).not.toContain(added.kid);
    world.kube.removeKey(added.kid);
  });

  it('permission denied names the role, the custom-role permissions and the grant command', async () => {
    iam.revoke(syncPrincipal);
    const denied = await sync();
    expect(denied.code).toBe(4);
    expect(denied.stderr).toMatch(/refused to read provider/);
    expect(denied.stderr).toMatch(/roles\/iam\.workloadIdentityPoolAdmin on pool fleet/);
    expect(denied.stderr).toMatch(/iam\.workloadIdentityPoolProviders\.update/);
    expect(denied.stderr).toContain(
      `gcloud iam workload-identity-pools add-iam-policy-binding ${pool} --role=roles/iam.workloadIdentityPoolAdmin --member=${syncPrincipal}`,
    );
    // A viewer reads, and is refused the write with the same fix.
    iam.grant(syncPrincipal, 'roles/iam.workloadIdentityPoolViewer', pool);
    world.kube.addKey(generateClusterKey('ES256'));
    const viewer = await sync();
    expect(viewer.code).toBe(4);
    expect(viewer.stderr).toMatch(/refused to update provider .*PERMISSION_DENIED/);
    expect(viewer.stderr).toMatch(/roles\/iam\.workloadIdentityPoolAdmin/);
    expect(viewer.stderr).not.toMatch(/eyJ|ya29\./);
  });

  it('a provider that does not exist is named, with how to check it', async () => {
    const missing =
      'projects/123456/locations/global/workloadIdentityPools/fleet/providers/nope-c9';
    const result = await sync({ target: `wif-provider://${missing}` });
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(
      new RegExp(`provider ${missing} does not exist \\(404 NOT_FOUND`),
    );
    expect(result.stderr).toMatch(/providers describe/);
  });

  it("refuses a provider whose issuer URI is not the cluster's, with the command that fixes it", async () => {
    iam.providers.set(provider.path, {
      ...iam.providers.get(provider.path)!,
      oidc: { ...iam.providers.get(provider.path)!.oidc, issuerUri: `${issuer}/` },
    });
    const patches = iam.calls.patchProvider;
    const result = await sync();
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(
      /update-oidc .* --issuer-uri=https:\/\/kubernetes.default.svc.cluster.local/,
    );
    expect(iam.calls.patchProvider).toBe(patches);
  });

  it('credentials it cannot use are a configuration failure, or a refusal, with no IAM call', async () => {
    const calls = { ...iam.calls };
    const env = (file: string) => ({
      GOOGLE_APPLICATION_CREDENTIALS: file,
      IDBRIDGE_IAM_URL: iam.url,
    });
    const missing = await world.sync(
      { api: undefined, tokenFile: undefined, target, attempts: '1' },
      env(join(world.dir, 'nope.json')),
    );
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(
      /cannot read GOOGLE_APPLICATION_CREDENTIALS .*nope\.json \(ENOENT\)/,
    );
    const garbage = join(world.dir, 'garbage.json');
    await writeFile(garbage, 'not json');
    const notJson = await world.sync(
      { api: undefined, tokenFile: undefined, target, attempts: '1' },
      env(garbage),
    );
    expect(notJson.code).toBe(2);
    expect(notJson.stderr).toMatch(/is not JSON/);
    // A token for another audience: Google STS refuses the exchange.
    await writeFile(
      googleToken,
      await world.kube.issueToken({
        namespace: SYNC_NAMESPACE,
        serviceAccount: SYNC_SERVICE_ACCOUNT,
        audience: 'https://elsewhere.example',
      }),
    );
    const refused = await sync({ attempts: '1' });
    expect(refused.code).toBe(4);
    expect(refused.stderr).toMatch(/Google refused Application Default Credentials/);
    expect(refused.stderr).not.toMatch(/eyJ|ya29\./);
    expect(iam.calls).toEqual(calls);
  });

  const prefix = 'wif-provider://projects/123456/locations/global/workloadIdentityPools/fleet';
  it.each([
    ['wif-provider://', /names no provider/],
    ['wif-provider:/projects/1/locations/global', /scheme is "wif-provider:\/\/"/],
    [`WIF-PROVIDER://projects/123456`, /lower case/],
    [
      'wif-provider://projects/my-proj/locations/global/workloadIdentityPools/fleet/providers/prov',
      /project NUMBER/,
    ],
    [
      'wif-provider://projects/123456/locations/us-east1/workloadIdentityPools/fleet/providers/prov',
      /location "us-east1".*"global"/,
    ],
    [prefix, /names a pool, not a provider/],
    [`${prefix}/providers/private-c1/`, /ends with "\/"/],
    [`${prefix}/providers/private-c1?alt=json`, /query or fragment/],
    [`${prefix}/providers/private-c1#x`, /query or fragment/],
    [`${prefix}/providers/private-c1/keys`, /segments after the provider id/],
    [`wif-provider://iam.googleapis.com/projects/123456`, /host or a leading slash/],
    [`wif-provider:////iam.googleapis.com/projects/123456`, /host or a leading slash/],
    [`${prefix}/providers/private%2Dc1`, /percent-encoded/],
    [`${prefix}/providers/c1`, /provider id "c1" breaks Google's rule/],
    [`${prefix}/providers/gcp-reserved`, /provider id "gcp-reserved" breaks/],
    [`${prefix}/providers/Private-C1`, /provider id "Private-C1" breaks/],
    [`${prefix}/providers/private c1`, /whitespace or control characters/],
    [`${prefix}/providers/private-c1\n`, /whitespace or control characters/],
    ['wif-provider://projects/123456', /is not a workload identity provider name/],
    [`wif-provider://${'x'.repeat(20_000)}`, /is not a workload identity provider name/],
  ])(
    'refuses the target %j with a message that says what to fix (exit 2, no Google call)',
    async (value, message) => {
      expect(() => parseWifProviderTarget(value)).toThrow(message);
      const calls = { ...iam.calls };
      const result = await sync({ target: value });
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(result.stderr).toMatch(/write wif-provider:\/\/projects\/PROJECT_NUMBER\//);
      expect(result.stderr.length).toBeLessThan(1200);
      expect(iam.calls).toEqual(calls);
    },
  );

  it('accepts the exact form', () => {
    expect(parseWifProviderTarget(target)).toEqual(provider);
  });
});
