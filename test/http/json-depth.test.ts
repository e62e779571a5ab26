import { describe, expect, it } from 'vitest';
import { jsonTooDeep, MAX_JSON_DEPTH } from '../../src/http/json-depth.js';

describe('jsonTooDeep', () => {
  const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

  it('allows nesting up to the limit and refuses one level more', () => {
    expect(jsonTooDeep(nested(MAX_JSON_DEPTH))).toBe(false);
    expect(jsonTooDeep(nested(MAX_JSON_DEPTH + 1))).toBe(true);
    expect(
      jsonTooDeep(`{"a":${'{"b":'.repeat(MAX_JSON_DEPTH)}1${'}'.repeat(MAX_JSON_DEPTH)}}`),
    ).toBe(true);
  });

  it('does not count brackets inside strings, escaped quotes included', () => {
    expect(jsonTooDeep(JSON.stringify({ s: '['.repeat(1000) }))).toBe(false);
    expect(jsonTooDeep(JSON.stringify({ s: `\\"${'{'.repeat(1000)}` }))).toBe(false);
    expect(jsonTooDeep(`["\\\\", ${nested(MAX_JSON_DEPTH)}]`)).toBe(true);
  });

  it('judges documents it cannot parse by their brackets alone', () => {
    expect(jsonTooDeep('['.repeat(100_000))).toBe(true);
    expect(jsonTooDeep(']]]]{')).toBe(false);
    expect(jsonTooDeep('')).toBe(false);
  });
});
