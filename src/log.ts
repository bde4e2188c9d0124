// Structured logs (pino). One line per event that matters; never a password or hash.
import { pino, type Logger as PinoLogger } from 'pino';
import { LineBatch, SINK_OPTIONS } from './log-batch.js';
import { LogFile } from './log-file.js';
import { noop } from './util/noop.js';
import { monotonicMs } from './util/time.js';

export type Logger = PinoLogger;

export interface LogOptions {
  debug?: boolean;
  /** A file to append to; stderr when undefined. */
  file?: string;
  /** With `file`: stderr gets every line too (1.4's <log> with both <file> and <stderr/>). */
  stderr?: boolean;
  /** Tests pass 'silent'. */
  level?: string;
}

export interface LogHandle {
  log: Logger;
  /** Reopens the log file (after logrotate moved it); a no-op on stderr. */
  reopen(): void;
  /**
   * The server has stopped: stderr gets a last few seconds to take what
   * waits for it, then it is let go, so that a stderr nobody reads cannot
   * keep the process from exiting.
   */
  closing(): void;
}

/** What stderr may hold unread before lines are dropped (see createLogger). */
const STDERR_BACKLOG_BYTES = 1024 * 1024;
/** How long a stopped server still waits for a stderr that takes nothing (see closing()). */
const STDERR_LAST_WAIT_MS = 2000;

export function createLogger(opts: LogOptions = {}): LogHandle {
  const level = opts.level ?? (opts.debug ? 'debug' : 'info');
  // Lines are gathered into 4 KiB writes (log-batch.ts) and flushed at
  // least every 200 ms. A file gets them as synchronous writes (log-file.ts).
  // stderr stays asynchronous: it may be a pipe whose reader is slow, and
  // the server must not wait for it. Nor may it hold every line while
  // nobody reads (a stalled journald or container log driver, a terminal
  // paused with Ctrl-S): as the file's backlog, 1 MiB waits, the rest is
  // dropped and counted, and a warning says how much once stderr takes
  // lines again.
  let droppedChars = 0;
  // sonic-boom retries a write stderr refuses (EAGAIN) for ever, with a
  // timer that keeps the process alive, and at exit in a loop: until
  // closing(), then only until this.
  let retryUntil = Infinity;
  const toStderr = (): ReturnType<typeof pino.destination> => {
    const sink = pino.destination({
      fd: 2,
      sync: false,
      ...SINK_OPTIONS,
      maxLength: STDERR_BACKLOG_BYTES,
      retryEAGAIN: () => monotonicMs() < retryUntil,
    });
    sink.on('drop', (text: string) => (droppedChars += text.length));
    // A write given up after closing() (or stderr failing otherwise): what
    // waits is lost, as nobody reads it, and nothing more is tried, at exit
    // either (pino's own exit handler flushes too), as pino does for EPIPE.
    sink.on('error', () => {
      sink.write = () => true;
      sink.flush = noop;
      sink.flushSync = noop;
    });
    sink.on('drain', () => {
      if (droppedChars === 0) return;
      // Zeroed first: the warning's own write can drain again at once.
      const characters = droppedChars;
      droppedChars = 0;
      log.warn({ characters }, 'log lines dropped: stderr was not read');
    });
    return sink;
  };
  const file = opts.file ? new LogFile(opts.file) : undefined;
  const out = new LineBatch(file ? (opts.stderr ? [file, toStderr()] : [file]) : [toStderr()]);
  setInterval(() => out.flush(), 200).unref();
  // pino writes out what is gathered at exit only for asynchronous
  // destinations it made, and knows nothing of the batch: its last lines
  // are written here, whatever ends the process.
  process.once('exit', () => out.flushSync());
  const log = pino({ base: { name: 'yak' }, level, redact: ['password', 'digest', 'hash'] }, out);
  return {
    log,
    reopen: () => file?.reopen(),
    closing: () => {
      retryUntil = monotonicMs() + STDERR_LAST_WAIT_MS;
    },
  };
}

/** A logger that drops everything (unit tests, library use). */
export const silentLogger: Logger = pino({ level: 'silent' });
