import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';

describe('broker settings', () => {
  it('defaults to the documented limits', () => {
    expect(loadConfig({}).broker).toEqual({
      clockSkewSeconds: 60,
      upstreamTimeoutMs: 10_000,
      upstreamAttempts: 3,
      ratePerClusterPerMinute: 6_000,
      ratePerSubjectPerMinute: 600,
      cacheBytes: 32 * 1024 * 1024,
    });
  });

  it('reads them from the environment, 0 turning limits and the cache off', () => {
    const { broker } = loadConfig({
      IDBRIDGE_BROKER_RATE_PER_SUBJECT: '0',
      IDBRIDGE_BROKER_CACHE_MB: '0',
      IDBRIDGE_BROKER_CLOCK_SKEW_SECONDS: '5',
    });
    expect(broker).toMatchObject({
      ratePerSubjectPerMinute: 0,
      cacheBytes: 0,
      clockSkewSeconds: 5,
    });
  });

  it.each([
    ['IDBRIDGE_BROKER_UPSTREAM_ATTEMPTS', '9'],
    ['IDBRIDGE_BROKER_UPSTREAM_TIMEOUT_MS', '10'],
    ['IDBRIDGE_BROKER_CLOCK_SKEW_SECONDS', '-1'],
    ['IDBRIDGE_BROKER_RATE_PER_CLUSTER', 'lots'],
    ['IDBRIDGE_BROKER_CACHE_MB', '1.5'],
  ])('refuses %s=%s, naming the variable', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(
      new RegExp(`invalid configuration: ${name}`),
    );
  });
});
