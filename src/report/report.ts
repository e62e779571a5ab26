/**
 * The shape every diagnostic command reports in (doctor, whoami): a list of checks, each with a
 * verdict, what was found and, when something is wrong, the fix. Exit codes follow the worst
 * verdict so scripts can branch on them.
 */
export type Verdict = 'pass' | 'warn' | 'fail' | 'skip';

export interface Check {
  /** Stable identifier for machines (`--json`), e.g. `discovery.issuer`. */
  id: string;
  verdict: Verdict;
  /** One line: what was found. */
  summary: string;
  /** What to do about it; present on warn and fail. */
  fix?: string;
  /** Extra lines worth showing (values compared, headers seen). */
  details?: string[];
  /** Milliseconds the step took, for steps that do I/O. */
  ms?: number;
}

export type Outcome = 'pass' | 'warn' | 'fail';

/** Process exit codes shared by every command: 0 ok, 1 warnings, 2 failure or refusal. */
export const EXIT = { pass: 0, warn: 1, fail: 2 } as const;

export function outcome(checks: readonly Check[]): Outcome {
  if (checks.some((check) => check.verdict === 'fail')) return 'fail';
  if (checks.some((check) => check.verdict === 'warn')) return 'warn';
  return 'pass';
}

export function exitCode(checks: readonly Check[]): number {
  return EXIT[outcome(checks)];
}

export const pass = (id: string, summary: string, extra: Partial<Check> = {}): Check => ({
  id,
  verdict: 'pass',
  summary,
  ...extra,
});
export const warn = (
  id: string,
  summary: string,
  fix: string,
  extra: Partial<Check> = {},
): Check => ({ id, verdict: 'warn', summary, fix, ...extra });
export const fail = (
  id: string,
  summary: string,
  fix: string,
  extra: Partial<Check> = {},
): Check => ({ id, verdict: 'fail', summary, fix, ...extra });
export const skip = (id: string, summary: string): Check => ({ id, verdict: 'skip', summary });
