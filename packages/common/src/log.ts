/**
 * The root pino logger of a vxnet process. Made once at the entry point and passed
 * down; components take `log.child({ component })`. Messages are constant; data goes
 * in the object, errors under `err`.
 */
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * JSON logs to `file` (appended, synchronous so nothing is lost on exit) or to stderr.
 * Level from `level`, else VXNET_LOG_LEVEL, else info.
 */
export function createLogger(opts: { name: string; file?: string; level?: string }): Logger {
  const level = opts.level ?? process.env.VXNET_LOG_LEVEL ?? 'info';
  const dest = opts.file ? pino.destination({ dest: opts.file, sync: true, mkdir: true }) : pino.destination(2);
  return pino({ name: opts.name, level }, dest);
}

/** A logger that drops everything: for library use without a caller-supplied logger. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
