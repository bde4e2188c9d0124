// Reads a password without echo from a terminal, or one line from a pipe.
import { createInterface } from 'node:readline';

export function readSecret(prompt: string): Promise<string> {
  const input = process.stdin;
  if (!input.isTTY) {
    // A pipe (`echo pw | jabberctl adduser ...`): the first line.
    return new Promise((resolve) => {
      const rl = createInterface({ input });
      let done = false;
      rl.once('line', (line) => {
        done = true;
        rl.close();
        resolve(line);
      });
      rl.once('close', () => {
        if (!done) resolve('');
      });
    });
  }
  return new Promise((resolve) => {
    // Echo off before the prompt shows: a key typed the moment it appears
    // must not reach the screen.
    input.setRawMode(true);
    process.stderr.write(prompt);
    input.resume();
    input.setEncoding('utf8');
    let secret = '';
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') {
          input.setRawMode(false);
          input.pause();
          input.off('data', onData);
          process.stderr.write('\n');
          return resolve(secret);
        }
        if (ch === '\u0003') {
          input.setRawMode(false);
          process.stderr.write('\n');
          process.exit(130);
        }
        if (ch === '\u007f' || ch === '\b') secret = secret.slice(0, -1);
        else secret += ch;
      }
    };
    input.on('data', onData);
  });
}
