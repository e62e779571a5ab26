/** Structured logging: one JSON object per line. Callers never pass tokens or secrets. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, string | number | boolean | null | undefined | string[]>;

export interface Logger {
  log(level: LogLevel, msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** A logger that renders lines and hands them to `write` (stdout, a buffer in tests, …). */
export function createLogger(
  write: (line: string) => void,
  options: { level?: LogLevel; now?: () => Date } = {},
): Logger {
  const threshold = LEVELS[options.level ?? 'info'];
  const time = options.now ? () => options.now!().toISOString() : millisecondClock();
  const log = (level: LogLevel, msg: string, fields?: LogFields): void => {
    if (LEVELS[level] < threshold) return;
    // Built by hand around one JSON.stringify: this runs once per request on the hot path.
    const rest = fields ? JSON.stringify(fields) : '{}';
    write(
      `{"time":"${time()}","level":"${level}","msg":${JSON.stringify(msg)}${rest.length > 2 ? `,${rest.slice(1)}` : '}'}\n`,
    );
  };
  return {
    log,
    info: (msg, fields) => log('info', msg, fields),
    warn: (msg, fields) => log('warn', msg, fields),
    error: (msg, fields) => log('error', msg, fields),
  };
}

/** ISO timestamps, formatted at most once per millisecond. */
function millisecondClock(): () => string {
  let last = -1;
  let text = '';
  return () => {
    const ms = Date.now();
    if (ms !== last) {
      last = ms;
      text = new Date(ms).toISOString();
    }
    return text;
  };
}

export const silentLogger: Logger = createLogger(() => {});
