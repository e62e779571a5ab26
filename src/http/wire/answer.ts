import type { IdbridgeError } from '../../errors.js';

/**
 * An HTTP answer as plain values, before any host turns it into its own response type (a Web
 * Response, a Node ServerResponse). Each wire module beside this one (idbridge.ts, google-sts.ts,
 * google-iam.ts) maps a domain error to one of these; hosts and fast paths answer only through them.
 * Next to come, as two more modules: aws-sts.ts (AWS STS XML `<ErrorResponse>`) and entra-id.ts.
 */
export interface WireAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export function toResponse(answer: WireAnswer): Response {
  return new Response(answer.body, { status: answer.status, headers: answer.headers });
}

/** Whole seconds a client should wait, when the error knows (at least 1); else undefined. */
export function retryAfterOf(err: unknown): number | undefined {
  const seconds = (err as { retryAfter?: unknown } | null)?.retryAfter;
  return typeof seconds === 'number' && Number.isFinite(seconds) && seconds > 0
    ? Math.ceil(seconds)
    : undefined;
}

/** The Retry-After header of an error that carries `retryAfter`, on every wire alike. */
export function retryAfterHeader(err: IdbridgeError): Record<string, string> {
  const seconds = retryAfterOf(err);
  return seconds === undefined ? {} : { 'retry-after': String(seconds) };
}
