import type { ServerResponse } from 'node:http';
import { loadConfig } from '../../config/config.js';
import { IdbridgeError } from '../../errors.js';
import { unexpectedErrorFields } from '../../http/errors.js';
import { idbridgeAnswer } from '../../http/wire/idbridge.js';
import { composeHost, logBackgroundError, type HostApp } from '../../app/compose.js';
import type { RouteDescriptor } from '../../http/route.js';
import { createLogger, type Logger } from '../../log/logger.js';
import { openStore, parseStoreLocation } from '../../registry/open-store.js';
import { sendWebResponse, toWebRequest, type FrameworkRequest } from './web-request.js';

/** The function, and the route table of its app (built on first use), for refusals answered outside it. */
export type FunctionHandler = ((req: FrameworkRequest, res: ServerResponse) => Promise<void>) & {
  routes(): Promise<readonly RouteDescriptor[]>;
};

/**
 * The Cloud Functions host: configuration from the environment, the GCS store, the one hono app
 * (registration API, sync push, issuer routes and the STS broker, through the same composition
 * as `idbridge serve`). Built on the first request of an instance and reused.
 */
export function createFunctionHandler(
  env: Record<string, string | undefined>,
  write: (line: string) => void = (line) => process.stdout.write(line),
): FunctionHandler {
  let app: Promise<HostApp> | undefined;
  let logger: Logger = createLogger(cloudLogging(write));

  const build = async (): Promise<HostApp> => {
    if (!env.IDBRIDGE_PUBLIC_URL) {
      throw new IdbridgeError(
        'misconfigured',
        'IDBRIDGE_PUBLIC_URL is not set: set it to the public issuer URL (the edge) with gcloud functions deploy --set-env-vars',
      );
    }
    // Instances do not share the memory of issued tokens: a token issued by one may reach another, so any bearer is relayed unless set.
    const config = loadConfig(env, { IDBRIDGE_BROKER_RELAY: env.IDBRIDGE_BROKER_RELAY || 'any' });
    logger = createLogger(cloudLogging(write), { level: config.logLevel });
    if (parseStoreLocation(config.store).kind !== 'gcs') {
      logger.warn(
        'IDBRIDGE_STORE is not a gcs:// bucket: records live only as long as this instance',
        { store: config.store },
      );
    }
    const store = await openStore(config.store, {
      gcs: config.gcs,
      onBackgroundError: logBackgroundError(logger),
    });
    // Cloud Run already logs every request; the app logs only what it decides.
    return composeHost({
      config,
      store,
      ...(config.adminToken ? { adminToken: config.adminToken } : {}),
      logger,
      logRequests: false,
    });
  };

  const host = (): Promise<HostApp> =>
    (app ??= build().catch((err) => {
      app = undefined; // the next request tries again
      throw err;
    }));

  const handle = async (req: FrameworkRequest, res: ServerResponse): Promise<void> => {
    const ready = host();
    // Handled below; observed now so a failure is never an unhandled rejection (the framework kills the instance on those).
    ready.catch(() => {});
    try {
      const request = await toWebRequest(req);
      await sendWebResponse(res, await (await ready).app.fetch(request), request.method);
    } catch (err) {
      const known =
        err instanceof IdbridgeError
          ? err
          : new IdbridgeError('internal', 'internal error; the function log has the details');
      // idbridge's own refusals say what to fix; anything else may quote input, so only its class and frames.
      logger.error(
        'function request failed',
        err instanceof IdbridgeError
          ? { code: err.code, error: err.message.slice(0, 300) }
          : unexpectedErrorFields(err),
      );
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const answer = idbridgeAnswer(known);
      res.writeHead(answer.status, {
        ...answer.headers,
        'content-length': String(Buffer.byteLength(answer.body)),
      });
      res.end(answer.body);
    }
  };
  return Object.assign(handle, { routes: async () => (await host()).routes });
}

/** Cloud Logging reads `severity` from JSON lines on stdout; idbridge's logger writes `level`. */
function cloudLogging(write: (line: string) => void): (line: string) => void {
  return (line) => {
    const entry = JSON.parse(line) as { level?: string };
    write(`${JSON.stringify({ severity: entry.level?.toUpperCase(), ...entry })}\n`);
  };
}
