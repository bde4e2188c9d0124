// Structured logs (pino). One line per event that matters; never a password or hash.
import { pino, type Logger as PinoLogger, type DestinationStream } from 'pino';

export type Logger = PinoLogger;

export interface LogOptions {
  debug?: boolean;
  /** A file to append to; stderr when undefined. */
  file?: string;
  /** Tests pass 'silent'. */
  level?: string;
}

export function createLogger(opts: LogOptions = {}): Logger {
  const level = opts.level ?? (opts.debug ? 'debug' : 'info');
  const dest: DestinationStream = opts.file
    ? pino.destination({ dest: opts.file, append: true, mkdir: true, sync: false })
    : pino.destination({ fd: 2, sync: false });
  return pino({ base: { name: 'yak' }, level, redact: ['password', 'digest', 'hash'] }, dest);
}

/** A logger that drops everything (unit tests, library use). */
export const silentLogger: Logger = pino({ level: 'silent' });
