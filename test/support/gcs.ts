import { randomBytes } from 'node:crypto';
import { Storage } from '@google-cloud/storage';
import { startFakeGcs, type FakeGcs } from '../fakes/gcs.js';

export interface GcsHarness {
  gcs: FakeGcs;
  /** The real client, pointed at the fake. */
  storage: Storage;
  /** Creates a bucket with a fresh name (uniform bucket-level access if asked). */
  newBucket(options?: { uniform?: boolean }): Promise<string>;
  close(): Promise<void>;
}

export async function startGcsHarness(): Promise<GcsHarness> {
  const gcs = await startFakeGcs();
  const storage = new Storage({ apiEndpoint: gcs.url, projectId: 'idbridge-test' });
  return {
    gcs,
    storage,
    newBucket: async ({ uniform = false } = {}) => {
      const name = `idbridge-${randomBytes(5).toString('hex')}`;
      await storage.createBucket(
        name,
        uniform ? { iamConfiguration: { uniformBucketLevelAccess: { enabled: true } } } : {},
      );
      return name;
    },
    close: () => gcs.close(),
  };
}
