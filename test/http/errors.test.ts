import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { unexpectedErrorFields } from '../../src/http/errors.js';

describe('unexpectedErrorFields', () => {
  it('logs the class and the stack frames, never message lines (which may quote input)', () => {
    const secret = 'eyJhbGciOiJSUzI1NiJ9.secret-payload.sig';
    // A multi-line message spills into err.stack before the frames, as a ZodError's does.
    const parsed = z.object({ token: z.number() }).safeParse({ token: secret });
    const zodError = parsed.success ? new Error('unreachable') : parsed.error;
    expect(zodError.stack).toContain('"token"');
    const plain = new TypeError(`bad value ${secret}\nsecond line ${secret}`);
    for (const err of [zodError, plain]) {
      const fields = unexpectedErrorFields(err);
      expect(fields.error).toBe(err.name);
      for (const frame of fields.frames?.split(' | ') ?? []) expect(frame).toMatch(/^at /);
      expect(JSON.stringify(fields)).not.toContain(secret);
      expect(JSON.stringify(fields)).not.toContain('"token"');
    }
    expect(unexpectedErrorFields(plain).frames).toMatch(/^at /);
    expect(unexpectedErrorFields(zodError).frames).toBeUndefined(); // its "stack" is its issue list
    expect(unexpectedErrorFields('a string')).toEqual({ error: 'string' });
  });
});
