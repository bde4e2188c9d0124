// What a command-line tool does when its standard output fails.
import { errCode } from '../util/err-code.js';

/**
 * Standard output closed by its reader (`| head -1`, EPIPE): the rest of
 * what the tool had to say is dropped, and its work goes on, its exit
 * status the work's, as console.log already treated it. Without a
 * listener, that error ended the tool part-way through its work with a
 * stack trace and an exit status that means something else (reguser's 1:
 * a registration was refused). Any other failure (a full disk under
 * `> FILE`) is said once on stderr, and the tool exits `failCode` unless
 * its work failed already: what it wrote is incomplete.
 */
export function onStdoutFailure(tool: string, failCode: number): void {
  let said = false;
  process.stdout.on('error', (err: Error) => {
    if (errCode(err) === 'EPIPE' || said) return;
    said = true;
    process.stderr.write(`${tool}: cannot write to standard output: ${err.message}\n`);
    process.once('exit', () => {
      if (!process.exitCode) process.exitCode = failCode;
    });
  });
}
