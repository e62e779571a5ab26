import { describeAdminApiContract, type ApiHost } from '../contract/admin-api-contract.js';
import { describeBrokerContract } from '../contract/broker-contract.js';
import { describeHostileApiInputs } from '../contract/hostile-api-contract.js';
import { describeIssuerContract, type IssuerHost } from '../contract/issuer-contract.js';
import { adminApiHost } from '../support/contract-hosts.js';
import { startServe, tempDir } from '../support/serve.js';

/** `idbridge serve` on a store, seen through its own admin API. */
async function serveHost(store: 'memory' | 'file'): Promise<IssuerHost & ApiHost> {
  const dir = store === 'file' ? await tempDir() : undefined;
  const harness = await startServe({ IDBRIDGE_STORE: dir ? `file:${dir.path}` : 'memory:' });
  return adminApiHost({
    url: harness.url,
    publicUrl: harness.url,
    adminToken: harness.adminToken,
    close: async () => {
      await harness.close();
      await dir?.remove();
    },
  });
}

for (const store of ['memory', 'file'] as const) {
  describeIssuerContract(`idbridge serve (${store} store)`, () => serveHost(store));
  describeAdminApiContract(`idbridge serve (${store} store)`, () => serveHost(store));
}
describeHostileApiInputs('idbridge serve (file store)', () => serveHost('file'));

describeBrokerContract('idbridge serve (fast path)', async (env) => {
  const harness = await startServe(env);
  return { url: harness.url, adminToken: harness.adminToken, close: () => harness.close() };
});
