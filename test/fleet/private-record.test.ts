import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Storage } from '@google-cloud/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLEET_KEYS_RECORD } from '../../src/fleet/keyset.js';
import { LocalFleetKeys } from '../../src/fleet/local-keys.js';
import { createLogger } from '../../src/log/logger.js';
import { currentOwner, ownerTag } from '../../src/registry/file-owner.js';
import { FileStore } from '../../src/registry/file-store.js';
import { GcsStore } from '../../src/registry/gcs-store.js';
import type { ClusterStore } from '../../src/registry/store.js';
import { startGcsHarness, type GcsHarness } from '../support/gcs.js';
import { tempDir } from '../support/serve.js';

const rotation = { rotationSeconds: 86400, leadSeconds: 3600, retainSeconds: 600 };
const claims = {
  iss: 'https://idbridge.example/_fleet',
  sub: 'c:n:s',
  aud: 'aud',
  iat: 1,
  nbf: 1,
  exp: 2,
  cluster: 'c',
  namespace: 'n',
  service_account: 's',
};

async function makeKey(store: ClusterStore, logs: string[]): Promise<void> {
  const keys = new LocalFleetKeys({
    store,
    issuer: claims.iss,
    rotation,
    logger: createLogger((line) => logs.push(line)),
  });
  await keys.sign(claims);
}

/** The fleet signing key is a private record: never readable by others, never at a published path, never logged. */
describe('the fleet signing key at rest', () => {
  let gcs: GcsHarness;
  beforeAll(async () => {
    gcs = await startGcsHarness();
  });
  afterAll(async () => {
    await gcs?.close();
  });

  it('file: DIR/private/fleet-keys.json, mode 0600 in a 0700 directory', async () => {
    const dir = await tempDir();
    try {
      const logs: string[] = [];
      await makeKey(await FileStore.open(dir.path), logs);
      const file = await stat(join(dir.path, 'private', `${FLEET_KEYS_RECORD}.json`));
      expect(file.mode & 0o777).toBe(0o600);
      expect((await stat(join(dir.path, 'private'))).mode & 0o777).toBe(0o700);
      expect(logs.join('\n')).not.toMatch(/"d":/);
    } finally {
      await dir.remove();
    }
  });

  it("file: a dead writer's temporary private record is removed at the next start", async () => {
    const dir = await tempDir();
    try {
      const me = await currentOwner();
      const dead = ownerTag({ ...me, pid: 2 ** 22 + 12345, start: '1' });
      await mkdir(join(dir.path, 'private'), { recursive: true, mode: 0o700 });
      const leftover = `${FLEET_KEYS_RECORD}.json.${dead}.0123456789ab.tmp`;
      await writeFile(join(dir.path, 'private', leftover), '{"d":"secret"}', { mode: 0o600 });
      await FileStore.open(dir.path);
      expect(await readdir(join(dir.path, 'private'))).toEqual([]);
    } finally {
      await dir.remove();
    }
  });

  it('GCS: a private object beside the records, not publicly readable, never mirrored as a document', async () => {
    const bucket = await gcs.newBucket();
    const store = new GcsStore({
      storage: new Storage({ apiEndpoint: gcs.gcs.url }),
      bucket,
      prefix: 'issuers',
      acl: 'fine-grained',
    });
    try {
      await makeKey(store, []);
      const name = `issuers/.idbridge/private/${FLEET_KEYS_RECORD}`;
      const [files] = await gcs.storage.bucket(bucket).getFiles();
      expect(files.map((file) => file.name)).toEqual([name]);
      // What anyone on the internet would get: the fake judges by the object's ACL, as GCS does.
      const anonymous = await fetch(`${gcs.gcs.url}/${bucket}/${name}`);
      expect(anonymous.status).toBe(403);
      expect(await anonymous.text()).not.toMatch(/"d"/);
      await store.reconcile();
      const [after] = await gcs.storage.bucket(bucket).getFiles();
      expect(after.map((file) => file.name)).toEqual([name]);
    } finally {
      store.stop();
    }
  });
});
