import type { ErrorDetail } from '../errors.js';

/** What the formatter reads of a zod issue (a ZodError's `issues` fit). */
export interface SchemaIssue {
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

/** How the one formatter names the issues of one schema; every field is optional. */
export interface IssueFormat {
  /** Path of the value the schema judged, written before each issue's path (`request.object`). */
  prefix?: string;
  /** Path shown for an issue about the whole value, e.g. `(body)`; none by default. */
  root?: string;
  /** At most this many issues. */
  limit?: number;
  /** Names a path the way the user typed it (a flag for a variable); the default joins it with dots. */
  name?: (path: string, issue: SchemaIssue) => string;
}

/** Each issue of a zod refusal as `{path, message}`, the `details` of an idbridge error. */
export function zodDetails(
  error: { readonly issues: readonly SchemaIssue[] },
  format: IssueFormat = {},
): ErrorDetail[] {
  const issues = format.limit === undefined ? error.issues : error.issues.slice(0, format.limit);
  return issues.map((issue) => {
    const joined = [...(format.prefix ? [format.prefix] : []), ...issue.path.map(String)].join('.');
    const path = format.name ? format.name(joined, issue) : joined;
    return { path: path || (format.root ?? ''), message: issue.message };
  });
}

/** One problem as a message line: `path: message`, or the message alone when it has no path. */
export function describeIssue(detail: ErrorDetail, root = ''): string {
  const path = detail.path || root;
  return path ? `${path}: ${detail.message}` : detail.message;
}

/** All problems in one line for a refusal's message; `root` names a path-less one. */
export function describeIssues(details: readonly ErrorDetail[], root = ''): string {
  return details.map((detail) => describeIssue(detail, root)).join('; ');
}
