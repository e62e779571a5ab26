import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { describeIssue, describeIssues, zodDetails } from '../../src/errors/zod.js';

const schema = z.object({
  a: z.string(),
  b: z.object({ c: z.number() }),
  d: z.boolean(),
  e: z.string(),
  f: z.string(),
  g: z.string(),
});
const error = schema.safeParse({ b: { c: 'x' } }).error!;
const whole = schema.safeParse([]).error!;

describe('the one zod-issue formatter', () => {
  it('joins paths with dots, under an optional prefix, at most `limit` issues', () => {
    expect(zodDetails(error).map((d) => d.path)).toEqual(['a', 'b.c', 'd', 'e', 'f', 'g']);
    expect(zodDetails(error, { prefix: 'request', limit: 2 })).toEqual([
      { path: 'request.a', message: 'Invalid input: expected string, received undefined' },
      { path: 'request.b.c', message: 'Invalid input: expected number, received string' },
    ]);
  });

  it('names an issue about the whole value by `root`, in the details or only in the message', () => {
    expect(zodDetails(whole)).toEqual([
      { path: '', message: 'Invalid input: expected object, received array' },
    ]);
    expect(zodDetails(whole, { root: '(body)' })[0]!.path).toBe('(body)');
    expect(describeIssues(zodDetails(whole), 'jwks')).toBe(
      'jwks: Invalid input: expected object, received array',
    );
    expect(describeIssues(zodDetails(whole))).toBe(
      'Invalid input: expected object, received array',
    );
  });

  it('lets a caller name paths as the user typed them, and shows a nameless issue by its message', () => {
    const flag = (path: string) => (path === 'a' ? '--a (A)' : '');
    expect(zodDetails(error, { name: flag, limit: 2 }).map((d) => describeIssue(d))).toEqual([
      '--a (A): Invalid input: expected string, received undefined',
      'Invalid input: expected number, received string',
    ]);
    expect(describeIssues(zodDetails(error, { limit: 2 }))).toBe(
      'a: Invalid input: expected string, received undefined; b.c: Invalid input: expected number, received string',
    );
  });
});
