import { Storage } from '@google-cloud/storage';
import { afterAll, beforeAll } from 'vitest';
import { FileStore } from '../../src/registry/file-store.js';
import { GcsStore } from '../../src/registry/gcs-store.js';
import { MemoryStore } from '../../src/registry/memory-store.js';
import { describeStoreContract } from '../contract/store-contract.js';
import { startGcsHarness, type GcsHarness } from '../support/gcs.js';
import { tempDir } from '../support/serve.js';

let gcs: GcsHarness;
beforeAll(async () => {
  gcs = await startGcsHarness();
});
afterAll(async () => {
  await gcs?.close();
});

describeStoreContract('memory', async () => ({ store: new MemoryStore(), done: async () => {} }));

describeStoreContract('file', async () => {
  const dir = await tempDir();
  return { store: await FileStore.open(dir.path), done: dir.remove };
});

describeStoreContract('GCS', async () => {
  const store = new GcsStore({
    storage: new Storage({ apiEndpoint: gcs.gcs.url }),
    bucket: await gcs.newBucket(),
    prefix: 'issuers',
    acl: 'fine-grained',
  });
  return { store, done: async () => store.stop() };
});
