import { IdbridgeError } from '../../errors.js';
import { toResponse } from '../../http/wire/answer.js';
import { idbridgeAnswer } from '../../http/wire/idbridge.js';
import { createLogger } from '../../log/logger.js';
import { createEdgeApp } from '../../edge/app.js';
import { issuerRoute } from '../../issuer/routes.js';
import { workersFastPath } from './fast-path.js';
import { loadEdgeConfig } from '../../edge/config.js';
import { EdgeDocuments } from '../../edge/edge-documents.js';
import type { Fetcher } from '../../edge/origin-fetch.js';
import { cacheApiStates, type EdgeCache } from '../../edge/shared-state.js';

/** What the Workers runtime provides, handed over by the entry in worker/. */
export interface EdgePlatform {
  fetch: Fetcher;
  /** `caches.default`; read per request because the runtime offers it only inside one. */
  cache(): EdgeCache;
  /** Where log lines go (console.log on Workers: Workers Logs / `wrangler tail`). */
  log(line: string): void;
}

export interface EdgeWorker {
  fetch(request: Request, env: Record<string, unknown>): Response | Promise<Response>;
}

/**
 * The Worker: configuration is parsed from its variables on the first request of an isolate
 * and the app built once. A configuration error answers every request with a 500 that names
 * the variable to fix (and is logged), rather than serving anything half-configured.
 */
export function edgeWorker(platform: EdgePlatform): EdgeWorker {
  let app: ((request: Request) => Response | Promise<Response>) | undefined;
  let broken: IdbridgeError | undefined;
  return {
    fetch(request, env) {
      if (!app && !broken) {
        try {
          app = build(platform, env);
        } catch (err) {
          broken =
            err instanceof IdbridgeError
              ? err
              : new IdbridgeError('internal', 'the Worker failed to start; see its log');
          platform.log(
            JSON.stringify({
              time: new Date().toISOString(),
              level: 'error',
              msg: 'invalid configuration',
              error: broken.message,
            }),
          );
        }
      }
      if (app) return app(request);
      return toResponse(idbridgeAnswer(broken!, { 'cache-control': 'no-store' }));
    },
  };
}

function build(
  platform: EdgePlatform,
  env: Record<string, unknown>,
): (request: Request) => Response | Promise<Response> {
  const config = loadEdgeConfig(env);
  const logger = createLogger((line) => platform.log(line.trimEnd()), { level: config.logLevel });
  const shared = cacheApiStates(platform.cache, config.publicUrl);
  const documents = new EdgeDocuments({
    origin: config.origin,
    publicUrl: config.publicUrl,
    policy: config.policy,
    fetch: platform.fetch,
    shared,
    logger,
  });
  const issuer = issuerRoute(documents, logger);
  const app = createEdgeApp({
    documents,
    logger,
    statusClusters: config.statusClusters,
    originKind: config.origin.kind,
    issuer,
  });
  return workersFastPath([issuer], (request) => app.fetch(request));
}
