import { NodeIdentityResolver, PodAddressIndex } from '../../src/metadata/node-identity.js';
import type {
  ServiceAccountInfo,
  ServiceAccountSource,
} from '../../src/webhook/service-accounts.js';

/**
 * Node mode's lookup cost by pod count (issue #13): ops/s of NodeIdentityResolver.resolve() with
 * 10, 100 and 1,000 pods in the address index, on the same ServiceAccount source (an in-memory
 * one, as the informer cache answers) and no token fetch (resolve() never waits for TokenRequest).
 * Each size runs the same number of lookups, cycling over every pod's address; the best of
 * ROUNDS is kept. Prints a Markdown table.
 *   npx tsx bench/metadata/node-lookup.ts
 */

const SIZES = [10, 100, 1000];
const LOOKUPS = Number(process.env.BENCH_LOOKUPS ?? 200_000);
const ROUNDS = 5;
const AUDIENCE =
  '//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool/providers/prov';

class MemoryServiceAccounts implements ServiceAccountSource {
  private readonly map = new Map<string, ServiceAccountInfo>();
  add(info: ServiceAccountInfo) {
    this.map.set(`${info.namespace}/${info.name}`, info);
  }
  async get(namespace: string, name: string) {
    return this.map.get(`${namespace}/${name}`);
  }
  ready() {
    return true;
  }
  async close() {}
}

const address = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

async function measure(size: number): Promise<{ opsPerSecond: number; nsPerLookup: number }> {
  const index = new PodAddressIndex();
  const serviceAccounts = new MemoryServiceAccounts();
  for (let i = 0; i < size; i++) {
    const namespace = `ns-${i % 20}`;
    serviceAccounts.add({
      namespace,
      name: `sa-${i}`,
      annotations: {
        'iam.gke.io/gcp-service-account': `sa-${i}@project-1.iam.gserviceaccount.com`,
      },
    });
    index.upsert({
      namespace,
      name: `pod-${i}`,
      uid: `uid-${i}`,
      serviceAccount: `sa-${i}`,
      hostNetwork: false,
      ips: [address(i + 2)],
    });
  }
  const resolver = new NodeIdentityResolver(
    {
      nodeName: 'node-a',
      audience: AUDIENCE,
      tokenUrl: 'https://sts.googleapis.com/v1/token',
      iamCredentialsUrl: 'https://iamcredentials.googleapis.com',
    },
    index,
    serviceAccounts,
    { token: async () => 'unused' },
  );
  const addresses = Array.from({ length: size }, (_, i) => address(i + 2));
  let best = Infinity;
  for (let round = 0; round < ROUNDS; round++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < LOOKUPS; i++) {
      const answer = await resolver.resolve({ remoteAddress: addresses[i % size]! });
      if (!answer.ok) throw new Error(answer.message);
    }
    best = Math.min(best, Number(process.hrtime.bigint() - start));
  }
  return {
    opsPerSecond: Math.round(LOOKUPS / (best / 1e9)),
    nsPerLookup: Math.round(best / LOOKUPS),
  };
}

const rows: string[] = [];
let first: number | undefined;
for (const size of SIZES) {
  const { opsPerSecond, nsPerLookup } = await measure(size);
  first ??= opsPerSecond;
  rows.push(
    `| ${size} | ${opsPerSecond.toLocaleString('en')} | ${nsPerLookup} | ${(opsPerSecond / first).toFixed(2)} |`,
  );
}
console.log(
  `Node mode lookup: NodeIdentityResolver.resolve(), ${LOOKUPS.toLocaleString('en')} lookups per size, best of ${ROUNDS}, Node ${process.version}\n`,
);
console.log('| pods on the node | resolve() per second | ns per lookup | relative to 10 pods |');
console.log('|---:|---:|---:|---:|');
for (const row of rows) console.log(row);
