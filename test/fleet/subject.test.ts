import { describe, expect, it } from 'vitest';
import { fleetSubject, GOOGLE_SUBJECT_MAX_BYTES } from '../../src/fleet/subject.js';

const label = (c: string, n = 63) => `${c}${'a'.repeat(n - 2)}${c}`;
const subdomain = (c: string) => `${c}${'b'.repeat(251)}${c}`;

describe('the fleet subject', () => {
  it('is cluster:namespace:serviceaccount when that fits 127 bytes', () => {
    expect(fleetSubject('c1', 'apps', 'web')).toBe('c1:apps:web');
    const fits = fleetSubject(label('x', 40), label('y', 40), label('z', 45));
    expect(fits).toBe(`${label('x', 40)}:${label('y', 40)}:${label('z', 45)}`);
    expect(fits.length).toBe(GOOGLE_SUBJECT_MAX_BYTES);
  });

  it('fits 127 bytes for names of the maximum legal length, with a readable prefix and a hash', () => {
    const sub = fleetSubject(label('c'), label('n'), subdomain('s'));
    expect(Buffer.byteLength(sub)).toBe(GOOGLE_SUBJECT_MAX_BYTES);
    expect(sub.startsWith(`${label('c')}:`)).toBe(true);
    expect(sub).toMatch(/~[A-Za-z0-9_-]{43}$/);
  });

  it('differs for names that differ only past the readable prefix, and never equals a full one', () => {
    const a = fleetSubject(label('c'), label('n'), subdomain('s'));
    const b = fleetSubject(label('c'), label('n'), subdomain('t'));
    expect(a).not.toBe(b);
    expect(a.slice(0, 83)).toBe(b.slice(0, 83));
    // `~` is in no Kubernetes name: a shortened subject is never a full one.
    expect(fleetSubject('c', 'n', 's')).not.toContain('~');
  });
});
