import { writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log/logger.js';
import { ApiTarget } from '../../src/sync/api-target.js';
import type { ServedDocuments } from '../../src/sync/documents.js';
import { parseDuration } from '../../src/sync/duration.js';
import { SyncFailure } from '../../src/sync/failure.js';
import { KubeIssuerSource, loadKubeConfig } from '../../src/sync/kube-source.js';
import { backoffDelay, withRetries } from '../../src/sync/retry.js';
import { runSync, type SyncDeps, type SyncSchedule } from '../../src/sync/run.js';
import type { PublishOutcome, SyncTarget } from '../../src/sync/target.js';
import { generateClusterKey, jwksOf } from '../support/keys.js';
import { startSyncWorld } from '../support/sync.js';

const key = generateClusterKey('ES256');
const issuer = 'https://issuer.example/c1';
const served = (keys = [key]): ServedDocuments => ({
  discovery: {
    issuer,
    jwks_uri: `${issuer}/openid/v1/jwks`,
    response_types_supported: ['id_token'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['ES256'],
  },
  jwks: jwksOf(...keys),
});

const schedule = (overrides: Partial<SyncSchedule> = {}): SyncSchedule => ({
  once: false,
  intervalMs: 60_000,
  jitter: 0.1,
  repushAfterMs: 3_600_000,
  retry: { attempts: 3, initialMs: 1_000, maxMs: 60_000 },
  ...overrides,
});

/** A scripted world for the loop: the source serves `docs()`, the clock moves with each sleep. */
function harness(options: {
  docs: () => ServedDocuments | Promise<ServedDocuments>;
  publish?: (n: number) => PublishOutcome | Promise<PublishOutcome>;
  cycles: number;
}) {
  const abort = new AbortController();
  const waits: number[] = [];
  let now = 0;
  let publishes = 0;
  const lines: string[] = [];
  const target: SyncTarget = {
    description: 'test-target',
    publish: async () => {
      publishes++;
      return options.publish
        ? options.publish(publishes)
        : { changed: true, added: [], removed: [], warnings: [] };
    },
  };
  let cycles = 0;
  const deps: SyncDeps = {
    source: { read: async () => options.docs() },
    target,
    logger: createLogger((line) => lines.push(line)),
    sleep: async (ms) => {
      waits.push(ms);
      now += ms;
      if (++cycles >= options.cycles) abort.abort();
    },
    random: () => 0.5,
    now: () => now,
    signal: abort.signal,
  };
  return { deps, waits, lines, publishes: () => publishes };
}

describe('sync loop', () => {
  it('in interval mode pushes only when the documents change, and again after repushAfterMs to prove the credentials', async () => {
    let keys = [key];
    const h = harness({ docs: () => served(keys), cycles: 6 });
    const other = generateClusterKey('ES256');
    let cycle = 0;
    const deps = {
      ...h.deps,
      source: {
        read: async () => {
          cycle++;
          if (cycle === 3) keys = [key, other];
          return served(keys);
        },
      },
    };
    const code = await runSync(schedule({ repushAfterMs: 3 * 60_000 }), deps, () => {});
    expect(code).toBe(0);
    // Cycle 1 pushes, 2 skips, 3 pushes (changed), 4 and 5 skip, 6 pushes: 3 minutes since the last push.
    expect(h.publishes()).toBe(2 + 1);
    expect(h.lines.filter((l) => l.includes('nothing pushed'))).toHaveLength(3);
  });

  it('in interval mode a publish with more to write (pending) publishes again the next cycle', async () => {
    // The wif-provider target defers a key removal to the next write: the loop must not wait for a change.
    const h = harness({
      docs: () => served(),
      cycles: 3,
      publish: (n) => ({ changed: true, added: [], removed: [], warnings: [], pending: n === 1 }),
    });
    expect(await runSync(schedule(), h.deps, () => {})).toBe(0);
    // Cycle 1 publishes with more pending, 2 publishes again, 3 skips (unchanged, nothing pending).
    expect(h.publishes()).toBe(2);
  });

  it('waits the interval with jitter between cycles', async () => {
    const randoms = [0, 1, 0.5];
    const h = harness({ docs: () => served(), cycles: 3 });
    await runSync(schedule(), { ...h.deps, random: () => randoms.shift() ?? 0.5 }, () => {});
    expect(h.waits).toEqual([54_000, 66_000, 60_000]);
  });

  it('keeps going after a failed cycle in interval mode, but exits on a configuration failure', async () => {
    let calls = 0;
    const h = harness({
      docs: () => served(),
      publish: () => {
        calls++;
        throw new SyncFailure('refused', 'the API answered 401');
      },
      cycles: 3,
    });
    expect(await runSync(schedule(), h.deps, () => {})).toBe(0);
    expect(calls).toBe(3);
    const lines: string[] = [];
    const config = harness({
      docs: () => served(),
      publish: () => {
        throw new SyncFailure('config', 'cannot read the token file');
      },
      cycles: 5,
    });
    expect(await runSync(schedule(), config.deps, (line) => lines.push(line))).toBe(2);
    expect(lines).toEqual(['idbridge sync: cannot read the token file']);
  });

  it("in once mode exits with the failure's code after its retries, printing one line", async () => {
    const lines: string[] = [];
    const h = harness({
      docs: () => {
        throw new SyncFailure('unavailable', 'cannot reach the kube-apiserver (ECONNREFUSED)');
      },
      cycles: 99,
    });
    const code = await runSync(
      schedule({ once: true, retry: { attempts: 4, initialMs: 100, maxMs: 1_000 } }),
      h.deps,
      (line) => lines.push(line),
    );
    expect(code).toBe(5);
    expect(lines).toEqual(['idbridge sync: cannot reach the kube-apiserver (ECONNREFUSED)']);
    expect(h.waits).toHaveLength(3);
    expect(h.publishes()).toBe(0);
  });
});

describe('retries', () => {
  it('backs off exponentially with full jitter, capped', () => {
    const policy = { attempts: 10, initialMs: 1_000, maxMs: 30_000 };
    expect([0, 1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, policy, () => 0.999999))).toEqual([
      999, 1999, 3999, 7999, 15999, 29999, 29999,
    ]);
    expect(backoffDelay(3, policy, () => 0)).toBe(0);
  });

  it('does not retry what will not fix itself', async () => {
    let calls = 0;
    await expect(
      withRetries(
        async () => {
          calls++;
          throw new SyncFailure('refused', 'no');
        },
        { attempts: 5, initialMs: 1, maxMs: 1 },
        { sleep: async () => {} },
      ),
    ).rejects.toThrow('no');
    expect(calls).toBe(1);
  });

  it('parses durations', () => {
    expect(
      ['500ms', '30s', '5m', '1h30m', '1h', 'abc', '5', '-1s', '1d'].map(parseDuration),
    ).toEqual([500, 30_000, 300_000, 5_400_000, 3_600_000, null, null, null, null]);
  });
});

describe('sync loop against the fake kube-apiserver and idbridge serve', () => {
  it('re-reads the token file for every push, as kubelet rotates it', async () => {
    const world = await startSyncWorld('memory');
    try {
      await world.register();
      const lines: string[] = [];
      const abort = new AbortController();
      let cycle = 0;
      const source = new KubeIssuerSource(
        loadKubeConfig({ kubeconfig: world.kubeconfig, inCluster: false }),
      );
      const target = new ApiTarget({
        apiUrl: world.serve.url,
        cluster: world.cluster,
        tokenFile: world.tokenFile,
      });
      const code = await runSync(
        schedule({ repushAfterMs: 0, retry: { attempts: 1, initialMs: 1, maxMs: 1 } }),
        {
          source,
          target,
          logger: createLogger((line) => lines.push(line)),
          random: () => 0.5,
          now: () => cycle * 60_000,
          signal: abort.signal,
          // Between cycles kubelet replaces the token: first with one the API must refuse, then a good one.
          sleep: async () => {
            cycle++;
            if (cycle === 1)
              await writeFile(
                world.tokenFile,
                await world.pushToken({ audience: 'https://somewhere.else' }),
              );
            if (cycle === 2) await writeFile(world.tokenFile, await world.pushToken());
            if (cycle === 3) abort.abort();
          },
        },
        () => {},
      );
      expect(code).toBe(0);
      const outcomes = lines
        .map((l) => JSON.parse(l) as { level: string; msg: string; error?: string })
        .filter((l) => l.msg.startsWith('sync') && l.msg !== 'sync starting');
      expect(outcomes.map((o) => o.level)).toEqual(['info', 'error', 'info']);
      expect(outcomes[1]!.error).toMatch(
        /audience \["https:\/\/somewhere.else"\] is not one accepted here/,
      );
    } finally {
      await world.close();
    }
  });
});
