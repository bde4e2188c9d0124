// Log lines gathered into batches of about 4 KiB before they reach their
// destinations (sonic-boom). sonic-boom can gather lines itself (its
// minLength), but it measures the UTF-8 length of the string it gathers
// at every line, which makes V8 flatten that string: about 2 KiB copied
// and allocated per line, a sixth of all a login allocated. Here the
// lines are kept apart and joined once per batch (bench/FINDINGS.md).

/** A destination: what a batch needs of sonic-boom. */
export interface LineSink {
  write(text: string): unknown;
  flush(): void;
  flushSync(): void;
}

const BATCH_CHARS = 4096;

/**
 * sonic-boom options for a sink behind a batch: it writes each batch at
 * once (minLength 1, not its default 0, under which its flush() does
 * nothing: the periodic flush must still retry what a full disk held back).
 */
export const SINK_OPTIONS = { minLength: 1 } as const;

/** pino's destination: every batch goes to each sink, in order. */
export class LineBatch {
  private lines: string[] = [];
  private chars = 0;

  constructor(
    private readonly sinks: readonly LineSink[],
    private readonly batchChars = BATCH_CHARS,
  ) {}

  /** One line from pino (it ends in a newline). */
  write(line: string): void {
    this.lines.push(line);
    this.chars += line.length;
    if (this.chars >= this.batchChars) this.pass();
  }

  /** Hands the lines gathered so far to the sinks, in one string. */
  pass(): void {
    if (this.lines.length === 0) return;
    const text = this.lines.length === 1 ? this.lines[0]! : this.lines.join('');
    this.lines = [];
    this.chars = 0;
    for (const sink of this.sinks) sink.write(text);
  }

  /** Writes out everything gathered (pino's `logger.flush()`, the periodic flush). */
  flush(done?: (err?: Error) => void): void {
    this.pass();
    this.each((sink) => sink.flush());
    done?.();
  }

  /** The same, synchronously: at exit, when the event loop will not run again. */
  flushSync(): void {
    this.pass();
    this.each((sink) => sink.flushSync());
  }

  private each(fn: (sink: LineSink) => void): void {
    for (const sink of this.sinks) {
      try {
        fn(sink);
      } catch {
        // Not open yet, a write in flight, or a failing disk (said once by the
        // sink's error handler): the next flush tries again, and one sink's
        // trouble must not keep the lines from the other.
      }
    }
  }
}
