import type { WireAnswer } from './answer.js';

/** Token answers and refusals must not be stored by anything in between (RFC 6749 §5.1). */
export const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' } as const;

/** A JSON answer as Google's APIs send it (answers and refusals alike). */
export function jsonAnswer(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): WireAnswer {
  return {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...NO_STORE, ...headers },
    body: JSON.stringify(body),
  };
}
