import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fromBase64, installFromBase64 } from '../../src/verify/from-base64.js';

const bytes = (u8: Uint8Array) => [...u8];

describe('Uint8Array.fromBase64 for runtimes without it', () => {
  it('decodes what Buffer encodes, in both alphabets, padded or not, with whitespace anywhere', () => {
    for (let length = 0; length < 70; length++) {
      const data = randomBytes(length);
      const base64 = data.toString('base64');
      const url = data.toString('base64url');
      expect(bytes(fromBase64(base64))).toEqual(bytes(data));
      expect(bytes(fromBase64(base64.replace(/=+$/, '')))).toEqual(bytes(data));
      expect(bytes(fromBase64(url, { alphabet: 'base64url' }))).toEqual(bytes(data));
      expect(bytes(fromBase64(` ${base64.split('').join('\n')}\t`))).toEqual(bytes(data));
      expect(bytes(fromBase64(base64, { lastChunkHandling: 'strict' }))).toEqual(bytes(data));
    }
  });

  it('returns a Uint8Array with a buffer of its own', () => {
    const decoded = fromBase64('AQID');
    expect(decoded).toBeInstanceOf(Uint8Array);
    expect(decoded.byteOffset).toBe(0);
    expect(decoded.buffer.byteLength).toBe(3);
  });

  it.each([
    ['a lone last character', 'AAAAA', {}],
    ['padding after one character', 'A===', {}],
    ['padding at the start', '=AAA', {}],
    ['one "=" where two are needed', 'AA=', {}],
    ['data after padding', 'AA==AA', {}],
    ['three "="', 'AA===', {}],
    ['a base64url character in base64', 'AA-_', {}],
    ['a base64 character in base64url', 'AA+/', { alphabet: 'base64url' as const }],
    ['a non-ASCII character', 'AAé=', {}],
    ['missing padding in strict mode', 'AA', { lastChunkHandling: 'strict' as const }],
    ['non-zero extra bits in strict mode', 'AB==', { lastChunkHandling: 'strict' as const }],
  ])('throws SyntaxError on %s', (_name, input, options) => {
    expect(() => fromBase64(input, options)).toThrow(SyntaxError);
  });

  it('follows the three lastChunkHandling modes', () => {
    expect(bytes(fromBase64('AB', { lastChunkHandling: 'loose' }))).toEqual([0]);
    expect(bytes(fromBase64('AAAAAB', { lastChunkHandling: 'stop-before-partial' }))).toEqual([
      0, 0, 0,
    ]);
    expect(bytes(fromBase64('AAAAAA=', { lastChunkHandling: 'stop-before-partial' }))).toEqual([
      0, 0, 0,
    ]);
    expect(bytes(fromBase64('AAAAAA==', { lastChunkHandling: 'stop-before-partial' }))).toEqual([
      0, 0, 0, 0,
    ]);
    expect(bytes(fromBase64('AA==', { lastChunkHandling: 'strict' }))).toEqual([0]);
  });

  it('refuses what is not a string and options it does not know, with TypeError', () => {
    expect(() => fromBase64(42)).toThrow(TypeError);
    expect(() => fromBase64('AA', { alphabet: 'hex' as never })).toThrow(TypeError);
    expect(() => fromBase64('AA', { lastChunkHandling: 'lenient' as never })).toThrow(TypeError);
  });

  it('installs itself only where the runtime has no fromBase64', () => {
    const holder = Uint8Array as unknown as { fromBase64?: unknown };
    const native = Object.getOwnPropertyDescriptor(Uint8Array, 'fromBase64');
    try {
      delete holder.fromBase64;
      expect(installFromBase64()).toBe(true);
      expect(holder.fromBase64).toBe(fromBase64);
      expect(installFromBase64()).toBe(false);
    } finally {
      delete holder.fromBase64;
      if (native) Object.defineProperty(Uint8Array, 'fromBase64', native);
    }
  });
});
