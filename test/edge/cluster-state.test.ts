import { describe, expect, it } from 'vitest';
import { applyOutcome, isDue, verdict, type OriginCopy } from '../../src/edge/cluster-state.js';
import type { FreshnessPolicy } from '../../src/edge/config.js';
import { generateClusterKey } from '../support/keys.js';

const policy: FreshnessPolicy = { freshMs: 60_000, maxStaleMs: 3_600_000, originTimeoutMs: 5000 };
const key = generateClusterKey('ES256').jwk;
const copy = (changedAt: number): OriginCopy => ({
  keys: [key],
  originIssuer: 'https://edge.example/c1',
  etags: { discovery: '"d"', jwks: '"j"' },
  changedAt: { discovery: changedAt, jwks: changedAt },
});

describe('edge freshness decisions', () => {
  const t0 = 1_700_000_000_000;
  const good = applyOutcome(undefined, 'c1', { kind: 'ok', copy: copy(t0) }, t0);

  it('serves a confirmed copy without asking the origin until the fresh TTL has passed', () => {
    expect(verdict(good, t0, policy)).toEqual({ kind: 'serve', copy: good.copy, stale: false });
    expect(isDue(good, t0 + 59_999, policy)).toBe(false);
    expect(isDue(good, t0 + 60_000, policy)).toBe(true);
    expect(isDue(good, t0, { ...policy, freshMs: 0 })).toBe(true);
  });

  it('keeps the last good copy through a failure and serves it stale up to the limit, then answers 502', () => {
    const failed = applyOutcome(
      good,
      'c1',
      { kind: 'fault', reason: 'the origin answered HTTP 500' },
      t0 + 120_000,
    );
    expect(failed.copy).toBe(good.copy);
    expect(failed.confirmedAt).toBe(t0);
    expect(failed.checkedAt).toBe(t0 + 120_000);
    expect(isDue(failed, t0 + 150_000, policy)).toBe(false);
    expect(verdict(failed, t0 + 120_000, policy)).toMatchObject({ kind: 'serve', stale: true });
    expect(verdict(failed, t0 + policy.maxStaleMs, policy)).toMatchObject({
      kind: 'serve',
      stale: true,
    });
    expect(verdict(failed, t0 + policy.maxStaleMs + 1, policy)).toEqual({
      kind: 'unavailable',
      reason: 'the origin answered HTTP 500',
    });
  });

  it('treats a 404 for a cluster it has a copy of like a failure, then answers 404 after the limit', () => {
    const gone = applyOutcome(
      good,
      'c1',
      { kind: 'missing', reason: 'the origin has no such cluster (HTTP 404)' },
      t0 + 1000,
    );
    expect(verdict(gone, t0 + 1000, policy)).toMatchObject({ kind: 'serve', stale: true });
    expect(verdict(gone, t0 + policy.maxStaleMs + 1, policy)).toEqual({ kind: 'not-found' });
  });

  it('answers 404 for a cluster the origin never had, and 502 when the origin fails before it ever answered', () => {
    const unknown = applyOutcome(
      undefined,
      'c2',
      { kind: 'missing', reason: 'no such cluster' },
      t0,
    );
    expect(unknown.fault).toBeNull();
    expect(verdict(unknown, t0, policy)).toEqual({ kind: 'not-found' });
    const down = applyOutcome(undefined, 'c3', { kind: 'fault', reason: 'timeout' }, t0);
    expect(verdict(down, t0, policy)).toEqual({ kind: 'unavailable', reason: 'timeout' });
  });

  it('a good answer after a failure clears it and restarts the clock', () => {
    const failed = applyOutcome(good, 'c1', { kind: 'fault', reason: 'x' }, t0 + 10);
    const recovered = applyOutcome(failed, 'c1', { kind: 'ok', copy: copy(t0 + 20) }, t0 + 20);
    expect(recovered).toMatchObject({ fault: null, confirmedAt: t0 + 20, checkedAt: t0 + 20 });
    expect(verdict(recovered, t0 + 20 + policy.maxStaleMs + 1, policy)).toMatchObject({
      kind: 'serve',
      stale: false,
    });
  });
});
