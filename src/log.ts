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

export interface LogHandle {
  log: Logger;
  /** Reopens the log file (after logrotate moved it); a no-op on stderr. */
  reopen(): void;
}

export function createLogger(opts: LogOptions = {}): LogHandle {
  const level = opts.level ?? (opts.debug ? 'debug' : 'info');
  // Lines are gathered into 4 KiB writes (one write per log line costs a
  // thread-pool trip each) and flushed at least every 200 ms.
  const dest = opts.file
    ? pino.destination({ dest: opts.file, append: true, mkdir: true, sync: false, minLength: 4096 })
    : pino.destination({ fd: 2, sync: false, minLength: 4096 });
  setInterval(() => {
    try {
      dest.flush();
    } catch {
      // Not open yet, or a write in flight: the next tick flushes.
    }
  }, 200).unref();
  const log = pino({ base: { name: 'yak' }, level, redact: ['password', 'digest', 'hash'] }, dest as DestinationStream);
  return { log, reopen: () => (opts.file ? dest.reopen() : undefined) };
}

/** A logger that drops everything (unit tests, library use). */
export const silentLogger: Logger = pino({ level: 'silent' });
