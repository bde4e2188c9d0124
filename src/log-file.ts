// The log file: batches of lines (log-batch.ts) appended with synchronous
// writes, which cost a few microseconds against tens for a thread-pool
// trip. It never takes the server down, nor keeps it from exiting: a
// write that fails (a full or broken disk) is said once on stderr, the
// lines wait in memory up to a bound, and every later write or flush
// tries once more. Written here rather than through sonic-boom, whose
// synchronous flush retries a failing write for ever: a server stopped on
// a full log disk never exited.
import { closeSync, constants, openSync, statSync, writeSync } from 'node:fs';
import { makeFolderSync } from './util/make-folder.js';
import { errCode } from './util/err-code.js';
import { dirname } from 'node:path';
import type { LineSink } from './log-batch.js';

/** A new log file's mode: the owner writes, a log-reading group (adm) may read, nobody else. */
const LOG_FILE_MODE = 0o640;
/** A log folder Yak makes: the same, plus search. */
const LOG_FOLDER_MODE = 0o750;

/**
 * Lines that wait while the file cannot be written are kept up to this
 * much (UTF-16 code units, about bytes for log lines), then dropped until
 * a write succeeds again: the server's memory is not the log's overflow.
 */
const LOG_BACKLOG_CHARS = 1024 * 1024;

/**
 * Makes the log file's folder, when missing, owner and group only: a log
 * names users and their addresses, and a plain mkdir would leave the
 * folders it makes open to everyone (0755). An existing folder is the
 * admin's and left as it is.
 */
function makeLogFolder(path: string): void {
  makeFolderSync(dirname(path), LOG_FOLDER_MODE);
}

/**
 * Opens the file for appending, made (folder too) when missing; an existing
 * one keeps its mode. Without waiting: a pipe nobody reads in its place
 * would hold the server up (at startup, or at a SIGHUP's reopen) until
 * someone did.
 */
function openLogFile(path: string): number {
  makeLogFolder(path);
  try {
    return openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NONBLOCK, LOG_FILE_MODE);
  } catch (err) {
    if (errCode(err) === 'ENXIO' && statSync(path, { throwIfNoEntry: false })?.isFIFO()) throw new Error('a pipe no process reads');
    throw err;
  }
}

export class LogFile implements LineSink {
  private fd: number;
  /**
   * Text not written yet: what a failing disk held back, oldest first (the
   * rest of a batch cut short stays bytes: the cut may split a character).
   */
  private waiting: (string | Buffer)[] = [];
  private waitingChars = 0;
  /** Characters of lines dropped since the file last took a write. */
  private dropped = 0;
  /** The error code said on stderr, until a write succeeds again. */
  private failing: string | undefined;

  /** Throws when the file cannot be opened (the daemon says so and exits). */
  constructor(private readonly path: string) {
    this.fd = openLogFile(path);
  }

  write(text: string): void {
    // What waits goes first, and may find room now: only what is left of
    // it counts against the bound.
    if (this.waiting.length > 0) this.flush();
    // Still failing: the line waits for the next try, not a second failed write now.
    const stuck = this.waiting.length > 0;
    if (this.waitingChars + text.length > LOG_BACKLOG_CHARS) {
      this.dropped += text.length;
      return;
    }
    this.waiting.push(text);
    this.waitingChars += text.length;
    if (!stuck) this.flush();
  }

  /** Writes what waits, once: on an error it waits for the next write or flush. */
  flush(): void {
    while (this.waiting.length > 0) {
      const chunk = this.waiting[0]!;
      let written: number;
      try {
        // Two calls: writeSync's overloads take a string or a Buffer, not a union of them.
        written = typeof chunk === 'string' ? writeSync(this.fd, chunk) : writeSync(this.fd, chunk);
      } catch (err) {
        this.failed(err as NodeJS.ErrnoException);
        return;
      }
      if (written === Buffer.byteLength(chunk)) {
        this.waiting.shift();
        this.waitingChars -= chunk.length;
      } else {
        // Part of it went (the disk filled up in the middle): the rest waits.
        const rest = (typeof chunk === 'string' ? Buffer.from(chunk) : chunk).subarray(written);
        this.waiting[0] = rest;
        this.waitingChars += rest.length - chunk.length;
      }
    }
    this.recovered();
  }

  /** At exit: one more try, never a wait (what the disk does not take is lost). */
  flushSync(): void {
    this.flush();
  }

  /**
   * Opens the file again under its name (after logrotate moved it; a
   * folder it removed is made again, 0750). Throws when the new one cannot
   * be opened: lines go on to the file already open.
   */
  reopen(): void {
    const fd = openLogFile(this.path);
    const old = this.fd;
    this.fd = fd;
    try {
      closeSync(old);
    } catch {
      // Already unusable: nothing to give back.
    }
  }

  private failed(err: NodeJS.ErrnoException): void {
    const code = err.code ?? err.message;
    if (this.failing === code) return;
    this.failing = code;
    process.stderr.write(`jabberd: log file ${this.path}: ${err.message}; lines wait in memory (up to 1 MiB) until it can be written\n`);
  }

  private recovered(): void {
    if (this.failing === undefined) return;
    this.failing = undefined;
    if (this.dropped > 0) {
      process.stderr.write(`jabberd: log file ${this.path}: written again; ${this.dropped} characters of lines were dropped meanwhile\n`);
      this.dropped = 0;
    }
  }
}
