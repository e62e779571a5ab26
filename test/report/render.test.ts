import { describe, expect, it } from 'vitest';
import { renderChecks, renderJson, wantsColour } from '../../src/report/render.js';
import { exitCode, fail, outcome, pass, skip, warn } from '../../src/report/report.js';

describe('reports', () => {
  const checks = [
    pass('a.one', 'fine', { ms: 12.4 }),
    warn('a.two', 'meh', 'do this'),
    skip('a.three', 'not run'),
    fail('a.four', 'broken', 'do that', { details: ['seen: x'] }),
  ];

  it('exit code follows the worst verdict: 0 pass, 1 warn, 2 fail; skips count as pass', () => {
    expect(exitCode([pass('x', 'y'), skip('z', 'w')])).toBe(0);
    expect(exitCode([pass('x', 'y'), warn('z', 'w', 'f')])).toBe(1);
    expect(exitCode(checks)).toBe(2);
    expect(outcome([])).toBe('pass');
  });

  it('renders one line per check with its fix and details, and a summary', () => {
    const text = renderChecks('title', checks, { colour: false });
    expect(text).toBe(
      [
        'title',
        '',
        'PASS  a.one: fine (12 ms)',
        'WARN  a.two: meh',
        '      fix: do this',
        'SKIP  a.three: not run',
        'FAIL  a.four: broken',
        '      seen: x',
        '      fix: do that',
        '',
        'FAIL  1 fail, 1 warn, 1 pass, 1 skip',
        '',
      ].join('\n'),
    );
    expect(text).not.toMatch(/\x1b\[/);
  });

  it('colours verdicts only when asked', () => {
    expect(renderChecks('t', checks, { colour: true })).toContain('\x1b[31mFAIL\x1b[0m');
  });

  it('wants colour on a TTY only, and never with NO_COLOR or TERM=dumb', () => {
    expect(wantsColour({ isTTY: true }, {})).toBe(true);
    expect(wantsColour({ isTTY: false }, {})).toBe(false);
    expect(wantsColour({}, {})).toBe(false);
    expect(wantsColour({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(wantsColour({ isTTY: true }, { TERM: 'dumb' })).toBe(false);
  });

  it('--json carries the outcome, the context and every check', () => {
    const parsed = JSON.parse(renderJson(checks, { issuer: 'https://x' }));
    expect(parsed).toMatchObject({ issuer: 'https://x', outcome: 'fail' });
    expect(
      parsed.checks.map((c: { id: string; verdict: string }) => `${c.id}=${c.verdict}`),
    ).toEqual(['a.one=pass', 'a.two=warn', 'a.three=skip', 'a.four=fail']);
  });
});
