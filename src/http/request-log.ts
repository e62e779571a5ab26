import type { MiddlewareHandler } from 'hono';
import type { Logger } from '../log/logger.js';
import { truncate } from './errors.js';

export interface RequestLogFields {
  method: string;
  path: string;
  status: number;
  ms: number;
}

/** The one access-log line. Only method, path (no query: it may carry secrets), status, time. */
export function logRequest(logger: Logger, fields: RequestLogFields): void {
  logger.info('request', {
    method: fields.method,
    path: truncate(fields.path, 200),
    status: fields.status,
    ms: Math.round(fields.ms * 100) / 100,
  });
}

export function requestLog(logger: Logger): MiddlewareHandler {
  return async (c, next) => {
    const start = performance.now();
    await next();
    logRequest(logger, {
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      ms: performance.now() - start,
    });
  };
}
