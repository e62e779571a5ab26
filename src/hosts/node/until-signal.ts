import type { Logger } from '../../log/logger.js';

/**
 * Runs until SIGINT or SIGTERM, then closes `running` (which drains requests in flight), flushes
 * the log and resolves to exit code 0. The long-running commands (serve, webhook) end this way.
 */
export function untilSignal(
  running: { close(): Promise<void> },
  logger: Logger,
  flush: () => void,
): Promise<number> {
  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      logger.info('shutting down', { signal });
      void running.close().then(() => {
        logger.info('stopped');
        flush();
        resolve(0);
      });
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}
