import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../../src/broker/rate-limit.js';
import { Coalescer, ResponseCache } from '../../src/broker/response-cache.js';

describe('ResponseCache', () => {
  it('forgets entries at their expiry', () => {
    let now = 1_000;
    const cache = new ResponseCache<string>({ maxBytes: 10_000, now: () => now });
    cache.set('k', 'v', 2_000, 10);
    expect(cache.get('k')).toBe('v');
    now = 2_000;
    expect(cache.get('k')).toBeUndefined();
    expect(cache.size).toBe(0);
    expect(cache.bytes).toBe(0);
  });

  it('stays within its memory bound, dropping the least recently used first', () => {
    const cache = new ResponseCache<number>({ maxBytes: 1_000, now: () => 0 });
    for (let i = 0; i < 10; i++) cache.set(`key-${i}`, i, 1e12, 100);
    expect(cache.bytes).toBeLessThanOrEqual(1_000);
    expect(cache.get('key-0')).toBeUndefined();
    expect(cache.get('key-9')).toBe(9);
    cache.get('key-8');
    cache.set('key-10', 10, 1e12, 100);
    expect(cache.get('key-8')).toBe(8);
    // Larger than the whole budget: not kept at all.
    cache.set('huge', -1, 1e12, 5_000);
    expect(cache.get('huge')).toBeUndefined();
  });
});

describe('Coalescer', () => {
  it('runs one call per key at a time and shares its outcome, failures included', async () => {
    const coalescer = new Coalescer<number>();
    let calls = 0;
    let release!: (value: number) => void;
    const first = coalescer.run('k', () => {
      calls++;
      return new Promise<number>((resolve) => {
        release = resolve;
      });
    });
    const second = coalescer.run('k', async () => {
      calls++;
      return 0;
    });
    expect([first.shared, second.shared]).toEqual([false, true]);
    release(42);
    expect(await Promise.all([first.result, second.result])).toEqual([42, 42]);
    expect(calls).toBe(1);
    const failing = coalescer.run('k', async () => {
      throw new Error('down');
    });
    await expect(failing.result).rejects.toThrow('down');
    expect(coalescer.size).toBe(0);
  });
});

describe('RateLimiter', () => {
  it("allows a minute's budget at once, then one call per refill interval, and says how long to wait", () => {
    let now = 0;
    const limiter = new RateLimiter({ perMinute: 6, now: () => now });
    for (let i = 0; i < 6; i++) {
      expect(limiter.wait('a')).toBe(0);
      limiter.take('a');
    }
    expect(limiter.wait('a')).toBe(10);
    expect(limiter.wait('b')).toBe(0);
    now = 10_000;
    expect(limiter.wait('a')).toBe(0);
  });

  it('is off at 0', () => {
    const limiter = new RateLimiter({ perMinute: 0 });
    for (let i = 0; i < 100; i++) limiter.take('a');
    expect(limiter.wait('a')).toBe(0);
  });

  it('bounds its memory by forgetting the oldest keys, which only makes it more lenient', () => {
    const limiter = new RateLimiter({ perMinute: 1, maxKeys: 2, now: () => 0 });
    for (const key of ['a', 'b', 'c']) limiter.take(key);
    expect(limiter.wait('a')).toBe(0);
    expect(limiter.wait('c')).toBeGreaterThan(0);
  });
});
