import { outcome, type Check, type Verdict } from './report.js';

/** ANSI colours, used only when the output is a terminal (the CLI decides, see `wantsColour`). */
const COLOURS: Record<Verdict, string> = {
  pass: '\x1b[32m',
  warn: '\x1b[33m',
  fail: '\x1b[31m',
  skip: '\x1b[2m',
};
const RESET = '\x1b[0m';
const LABEL: Record<Verdict, string> = { pass: 'PASS', warn: 'WARN', fail: 'FAIL', skip: 'SKIP' };

export interface RenderOptions {
  colour: boolean;
}

/** Colour on a TTY only, and never when NO_COLOR is set (https://no-color.org). */
export function wantsColour(
  stream: { isTTY?: boolean },
  env: Record<string, string | undefined>,
): boolean {
  return stream.isTTY === true && !env.NO_COLOR && env.TERM !== 'dumb';
}

function paint(text: string, verdict: Verdict, colour: boolean): string {
  return colour ? `${COLOURS[verdict]}${text}${RESET}` : text;
}

/** Human-readable report: a title, one line per check, its fix indented under it, a summary. */
export function renderChecks(
  title: string,
  checks: readonly Check[],
  options: RenderOptions,
): string {
  const lines = [title, ''];
  for (const check of checks) {
    const took = check.ms !== undefined ? ` (${Math.round(check.ms)} ms)` : '';
    lines.push(
      `${paint(LABEL[check.verdict], check.verdict, options.colour)}  ${check.id}: ${check.summary}${took}`,
    );
    for (const detail of check.details ?? []) lines.push(`      ${detail}`);
    if (check.fix) lines.push(`      fix: ${check.fix}`);
  }
  const result = outcome(checks);
  const counts = (['fail', 'warn', 'pass', 'skip'] as const)
    .map(
      (verdict) => [verdict, checks.filter((check) => check.verdict === verdict).length] as const,
    )
    .filter(([, count]) => count > 0)
    .map(([verdict, count]) => `${count} ${verdict}`)
    .join(', ');
  lines.push('', `${paint(LABEL[result], result, options.colour)}  ${counts}`);
  return `${lines.join('\n')}\n`;
}

/** The `--json` form: stable ids and verdicts, the overall outcome, and any context. */
export function renderJson(
  checks: readonly Check[],
  context: Record<string, unknown> = {},
): string {
  return `${JSON.stringify({ ...context, outcome: outcome(checks), checks }, null, 2)}\n`;
}
