// Structured logs (pino). One line per event that matters; never a password or hash.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { pino, type Logger as PinoLogger } from 'pino';
import { LineBatch, SINK_OPTIONS } from './log-batch.js';

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
}

export function createLogger(opts: LogOptions = {}): LogHandle {
  const level = opts.level ?? (opts.debug ? 'debug' : 'info');
  // Lines are gathered into 4 KiB writes (log-batch.ts) and flushed at
  // least every 200 ms. A file gets them as synchronous writes, like the
  // spool's page-cache writes: a 4 KiB write cost 5-7 us of CPU here that
  // way, against 47-55 us as a thread-pool trip. stderr stays
  // asynchronous: it may be a pipe whose reader is slow, and the server
  // must not wait for it.
  const toStderr = (): ReturnType<typeof pino.destination> => pino.destination({ fd: 2, sync: false, ...SINK_OPTIONS });
  const file = opts.file ? fileDestination(opts.file) : undefined;
  const out = new LineBatch(file ? (opts.stderr ? [file, toStderr()] : [file]) : [toStderr()]);
  setInterval(() => out.flush(), 200).unref();
  // pino writes out what is gathered at exit only for asynchronous
  // destinations it made, and knows nothing of the batch: its last lines
  // are written here, whatever ends the process.
  process.once('exit', () => out.flushSync());
  const log = pino({ base: { name: 'yak' }, level, redact: ['password', 'digest', 'hash'] }, out);
  return {
    log,
    reopen: () => {
      if (!file || !opts.file) return;
      // A folder logrotate removed comes back 0750 too, not as pino would make it.
      makeLogFolder(opts.file);
      file.reopen();
    },
  };
}

/** A new log file's mode: the owner writes, a log-reading group (adm) may read, nobody else. */
const LOG_FILE_MODE = 0o640;
/** A log folder Yak makes: the same, plus search. */
const LOG_FOLDER_MODE = 0o750;

/**
 * Makes the log file's folder, when missing, owner and group only: a log
 * names users and their addresses, and pino's mkdir would leave the
 * folders it makes open to everyone (0755). An existing folder is the
 * admin's and left as it is.
 */
function makeLogFolder(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: LOG_FOLDER_MODE });
}

/**
 * Lines that wait while the log file cannot be written (a full disk) are
 * kept up to this much, then dropped until a write succeeds again: the
 * server's memory is not the log's overflow.
 */
const LOG_BACKLOG_BYTES = 1024 * 1024;

/**
 * The log file, which never takes the server down: a write that fails (a
 * full or broken disk) or a reopen that fails (SIGHUP after logrotate) is
 * said once on stderr, and logging goes on as soon as the file can take it.
 * (pino re-throws a destination's errors as an unhandled 'error' event.)
 */
function fileDestination(path: string): ReturnType<typeof pino.destination> {
  makeLogFolder(path);
  // `mode` is used whenever the file is made, at a reopen too; a file that
  // is there keeps its own (logrotate's `create` sets one, for instance).
  const dest = pino.destination({ dest: path, append: true, sync: true, ...SINK_OPTIONS, maxLength: LOG_BACKLOG_BYTES, mode: LOG_FILE_MODE });
  let failing: string | undefined;
  dest.on('error', (err: NodeJS.ErrnoException) => {
    const code = err.code ?? err.message;
    if (failing === code) return;
    failing = code;
    const waiting = err.syscall === 'write' ? '; lines wait in memory (up to 1 MiB) until it can be written' : '';
    process.stderr.write(`jabberd: log file ${path}: ${err.message}${waiting}\n`);
  });
  dest.on('write', () => (failing = undefined));
  return dest;
}

/** A logger that drops everything (unit tests, library use). */
export const silentLogger: Logger = pino({ level: 'silent' });
