#!/usr/bin/env node
// jabber-0k -p PASSWORD -t TOKEN -s SEQUENCE: the zero-knowledge hash a
// client sends when the server announces TOKEN and SEQUENCE (book example
// 7-4, SPEC section 5). `-p -` reads the password from the first line of
// standard input, so it need not appear in the process list; from a
// terminal, at a prompt that does not echo it.
import { Command, CommanderError } from 'commander';
import { YAK_VERSION } from '../version.js';
import { zerokHash } from '../util/hash.js';
import { NotUtf8Error, readSecret, TooLongError, UnreadableInputError } from './read-secret.js';
import { onStdoutFailure } from './stdout-failure.js';
import { lossyArgumentProblem } from './argument-text.js';

const USAGE_EXIT = 2;
onStdoutFailure('jabber-0k', USAGE_EXIT);

/**
 * The longest password `-p -` reads: as many characters as the largest
 * stanza Yak takes by default (262144 bytes) could carry, so the password
 * of any account fits; reading stops there, as standard input may never end.
 */
const MAX_PASSWORD = 262_144;

const program = new Command('jabber-0k')
  .description('Print the jabber:iq:auth zero-knowledge hash for a password, token and sequence')
  .requiredOption('-p, --password <password>', "the user's password ('-' reads it from standard input)")
  .requiredOption('-t, --token <token>', 'the token the server announced')
  .requiredOption('-s, --sequence <n>', 'the sequence the server announced')
  .addHelpText('after', '\nExample:\n  $ jabber-0k -p secret -t ABCDE -s 400\n  01945b9b2c3207c4cce5dc99e50605779f570077')
  .version(`jabber-0k (Yak) ${YAK_VERSION}`, '-v, --version', 'print the version')
  .showHelpAfterError()
  .exitOverride();

function fail(message: string): number {
  process.stderr.write(`jabber-0k: ${message}\n`);
  return USAGE_EXIT;
}

async function main(argv: string[]): Promise<number> {
  try {
    program.parse(argv);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : USAGE_EXIT;
    throw err;
  }
  const opts = program.opts<{ password: string; token: string; sequence: string }>();
  if (!/^\d+$/.test(opts.sequence.trim())) return fail(`sequence must be a whole number, not '${opts.sequence}'`);
  const sequence = Number(opts.sequence.trim());
  // 1.4 chains are a few hundred links; a huge number would just spin.
  if (sequence > 1_000_000) return fail('sequence must be at most 1000000');
  const token = opts.token.trim();
  if (token === '') return fail('token must not be empty');
  let password = opts.password;
  if (password === '-') {
    // Typed (not shown on the screen either), or the first line of a pipe or file.
    try {
      password = await readSecret('Password: ', MAX_PASSWORD);
    } catch (err) {
      // Not UTF-8, too long, or a directory (`< /tmp`): one line like every other mistake here, not a stack trace.
      if (err instanceof NotUtf8Error || err instanceof TooLongError || err instanceof UnreadableInputError) return fail(err.message);
      throw err;
    }
  }
  // No account has one (registration refuses it); a hash of it is a mistake.
  if (password === '') return fail('the password must not be empty');
  const lossy = lossyArgumentProblem('the password', password);
  if (lossy) return fail(lossy);
  process.stdout.write(zerokHash(password, token, sequence) + '\n');
  return 0;
}

process.exitCode = await main(process.argv);
