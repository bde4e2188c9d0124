#!/usr/bin/env node
// reguser (book example 7-5, SPEC section 9): ask a Jabber server which
// registration fields it wants, or create accounts.
//
//   reguser yak:5222                       -> [Enquiry] Fields: username password email name
//   reguser yak username=joseph password=spinach 'name=Joseph Adams' email=joseph@yak
//                                          -> [Attempt] (joseph) Successful registration
//   reguser yak --file users.txt           -> one [Attempt] line per account, then [Summary]
//
// Exit status: 0 success, 1 a registration was refused (or a list line was
// skipped), 2 usage, connection or protocol trouble.
import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import tls from 'node:tls';
import { Command, CommanderError } from 'commander';
import { YAK_VERSION } from '../version.js';
import { ClientStream, ReplyTimeoutError, StreamClosedError, streamErrorText } from '../client/client-stream.js';
import { IqError } from '../client/iq.js';
import { register, registrationForm } from '../client/register.js';
import { FieldError, parseFieldPairs, parseUserList, UserListError, type UserListEntry } from '../client/user-list.js';
import { parseTarget, type Target } from './target.js';
import { notAFile } from '../util/not-a-file.js';
import { errCode } from '../util/err-code.js';
import { onStdoutFailure } from './stdout-failure.js';
import { lossyArgumentProblem } from './argument-text.js';
import { MAX_TIMER_MS, secondsOptionMs } from './seconds-option.js';

const EXIT_OK = 0;
const EXIT_REFUSED = 1;
const EXIT_TROUBLE = 2;
onStdoutFailure('reguser', EXIT_TROUBLE);

/** Registrations in flight on the connection during a --file run. */
const WINDOW = 16;
/** Longest a single timer may run (setTimeout's limit); see batch(). */
const NO_REQUEST_TIMEOUT = MAX_TIMER_MS;

interface Options {
  domain?: string;
  tls?: boolean;
  ca?: string;
  file?: string;
  timeout: string;
}

/** Trouble that ends the run with a message on stderr and exit status 2. */
class Trouble extends Error {}

const program = new Command('reguser')
  .description('Query a Jabber server for its registration fields, or register accounts (jabber:iq:register)')
  .usage('[options] host[:port] [field=value ...]')
  .argument('[server]', 'Jabber server, host[:port]; port 5222 by default (5223 with --tls)')
  .argument('[fields...]', "field=value pairs; without any, list the server's fields")
  .option('--domain <name>', 'Jabber host name for the stream header when it differs from the TCP host')
  .option('--tls', 'connect with TLS (the old port 5223 style); the certificate is not checked unless --ca is given')
  .option('--ca <file>', "with --tls: check the server's certificate against the CA certificate(s) in FILE (PEM), and its name against the Jabber host")
  .option('--file <file>', 'register every account listed in FILE over one connection (a new one when the server ends it for <authtime>)')
  .option('--timeout <seconds>', 'how long to wait for a silent server (longer than a karma pause)', '30')
  .addHelpText(
    'after',
    `
Examples:
  $ reguser yak:5222
  [Enquiry] Fields: username password email name
  $ reguser yak username=joseph password=spinach 'name=Joseph Adams' email=joseph@yak
  [Attempt] (joseph) Successful registration
  $ reguser yak --file users.txt

FILE holds one account per line, either as field=value words (quoted as in
a shell; blank lines and lines starting with # are ignored) or as CSV with a
header line naming the fields (username,password,name,email).`,
  )
  .version(`reguser (Yak) ${YAK_VERSION}`, '-v, --version', 'print the version')
  .exitOverride();

/** A TLS connection refused for the server's certificate (untrusted, expired, another name), not for the network. */
function isCertificateError(err: unknown): boolean {
  const code = errCode(err) ?? '';
  return /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/.test(code);
}

/**
 * When a server was reached but the connection failed as it does with TLS
 * on a plain port or the other way round: what to try. The book's line
 * ("Cannot reach ...") comes first all the same, for scripts that match it.
 */
function wrongModeHint(err: unknown, tls: boolean): string | undefined {
  const code = errCode(err) ?? '';
  if (tls && /WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG|RECORD_LAYER/.test(code)) {
    return 'it answered, but not in TLS: a plain port? (without --tls the port is 5222)';
  }
  if (!tls && ((err instanceof StreamClosedError && !err.streamError) || code === 'ECONNRESET')) {
    return 'it closed the connection without a stream header: a direct-TLS port? (try --tls)';
  }
  return undefined;
}

/**
 * The enquiry line lists username and password first (the fields every
 * server requires), then the others in alphabetical order. The book's
 * script read the fields into a Perl hash, so its order was whatever the
 * hash gave; sorting makes our line stable whichever order a server lists
 * its fields in, and for the book's <register><name/><email/></register>
 * it prints the book's line exactly: "username password email name".
 */
function enquiryOrder(fields: readonly string[]): string[] {
  const first = ['username', 'password'].filter((f) => fields.includes(f));
  const rest = fields.filter((f) => !first.includes(f)).sort();
  return [...first, ...rest];
}

function attemptLine(user: string, err?: IqError): string {
  return `[Attempt] (${user}) ${err ? `Error: ${err.display}` : 'Successful registration'}`;
}

function say(line: string): void {
  process.stdout.write(line + '\n');
}

/** Stream-level failures become Trouble with a message naming the server. */
function troubleFrom(err: unknown, target: Target, timeoutMs: number): unknown {
  if (err instanceof StreamClosedError) {
    return new Trouble(
      err.streamError
        ? `Jabber server at ${target.display} ended the stream: ${streamErrorText(err.streamError)}`
        : `connection to Jabber server at ${target.display} lost`,
    );
  }
  if (err instanceof ReplyTimeoutError) {
    return new Trouble(`no reply from Jabber server at ${target.display} within ${timeoutMs / 1000} s`);
  }
  return err;
}

async function enquiry(stream: ClientStream, timeout: number): Promise<number> {
  try {
    const form = await registrationForm(stream, { timeout });
    say(`[Enquiry] Fields: ${enquiryOrder(form.fields).join(' ')}`);
    return EXIT_OK;
  } catch (err) {
    if (!(err instanceof IqError)) throw err;
    say(`[Enquiry] Error: ${err.display}`);
    return EXIT_REFUSED;
  }
}

async function attempt(stream: ClientStream, fields: [string, string][], timeout: number): Promise<number> {
  const user = fields.find(([n]) => n === 'username')![1];
  try {
    await register(stream, fields, { timeout });
    say(attemptLine(user));
    return EXIT_OK;
  } catch (err) {
    if (!(err instanceof IqError)) throw err;
    say(attemptLine(user, err));
    return EXIT_REFUSED;
  }
}

type Outcome = { kind: 'ok' | 'refused' | 'skipped'; line: string; taken?: string } | { kind: 'trouble'; err: unknown };

/** The outcomes of a list so far, over every connection it took. */
type Counts = { ok: number; refused: number; skipped: number };

/**
 * Sends `entries` over `stream`, WINDOW at a time, printing each outcome in
 * the order of the list. Returns how many were settled (answered, or
 * skipped) before any trouble, how many were sent, and the trouble; the
 * ones after the settled were not answered. (The server answers
 * registrations in the order it reads them.) `doubtful` names users whose
 * registration a closed connection had in hand: a 409 for one of them may
 * be that registration's own doing, and is said so.
 */
async function batchOver(
  stream: ClientStream,
  entries: UserListEntry[],
  counts: Counts,
  timeout: number,
  doubtful: ReadonlySet<string>,
): Promise<{ settled: number; sent: number; trouble?: unknown }> {
  const inFlight: Promise<Outcome>[] = [];
  let settled = 0;
  let sent = 0;
  let trouble: unknown;
  let silence: NodeJS.Timeout | undefined;
  const watch = (): void => {
    clearTimeout(silence);
    silence = setTimeout(() => {
      trouble ??= new ReplyTimeoutError(`silent for ${timeout} ms`);
      stream.socket.destroy();
    }, timeout);
  };
  stream.on('stanza', watch);
  watch();
  const settle = async (): Promise<void> => {
    const out = await inFlight.shift()!;
    if (out.kind === 'trouble') {
      trouble ??= out.err;
      return;
    }
    if (trouble !== undefined) return;
    counts[out.kind]++;
    settled++;
    say(out.line);
    if (out.taken !== undefined && doubtful.has(out.taken)) {
      process.stderr.write(
        `reguser: ${out.taken} was being registered when the server closed the connection, and may have been then (try logging in)\n`,
      );
    }
  };
  try {
    for (const entry of entries) {
      if (trouble !== undefined) break;
      sent++;
      if (entry.kind === 'broken') {
        inFlight.push(Promise.resolve({ kind: 'skipped', line: `[Skipped] (line ${entry.line}) ${entry.reason}` }));
      } else {
        inFlight.push(
          // The silence watchdog above is the real limit; this one only has to be longer.
          register(stream, entry.fields, { timeout: NO_REQUEST_TIMEOUT }).then(
            (): Outcome => ({ kind: 'ok', line: attemptLine(entry.username) }),
            (err: unknown): Outcome =>
              err instanceof IqError
                ? { kind: 'refused', line: attemptLine(entry.username, err), taken: err.code === 409 ? entry.username : undefined }
                : { kind: 'trouble', err },
          ),
        );
      }
      while (inFlight.length >= WINDOW) await settle();
    }
    while (inFlight.length > 0) await settle();
  } finally {
    clearTimeout(silence);
    stream.off('stanza', watch);
  }
  return { settled, sent, trouble };
}

/**
 * Whether the server ended the stream for <authtime>: a connection that
 * never logs in may stay only so long (120 s in the bundled config), and
 * under karma a long list takes longer (about 3 registrations a second).
 * The server answers what it read before closing, so what was not answered
 * goes again over a new connection: most likely it was not done (a
 * registration still running past the server's grace may have been; see
 * `doubtful` in batch()).
 */
function authTimeUp(err: unknown): boolean {
  return err instanceof StreamClosedError && err.streamError?.getChild('connection-timeout', 'urn:ietf:params:xml:ns:xmpp-streams') !== undefined;
}

/**
 * Registers every account of the list, keeping a few requests in flight
 * (the server answers them in order) and printing the outcomes in list
 * order, over `first` and, each time the server ends the stream for
 * <authtime> (see authTimeUp), over a new connection from `open` from the
 * first unanswered line. A server with karma pauses reading for a while
 * once a connection has sent too much (1.4's classic values: about 12 s),
 * so the timeout here is for silence: a connection's batch gives up only
 * when requests are waiting and nothing at all arrived for `timeout` ms.
 */
async function batch(open: () => Promise<ClientStream>, first: ClientStream, entries: UserListEntry[], timeout: number): Promise<number> {
  const counts: Counts = { ok: 0, refused: 0, skipped: 0 };
  let done = 0;
  let stream = first;
  let trouble: unknown;
  let doubtful = new Set<string>();
  for (;;) {
    const run = await batchOver(stream, entries.slice(done), counts, timeout, doubtful);
    // Sent and not answered: in hand when the server closed, most likely
    // not read at all. One still running past the server's grace can end
    // up made all the same, and its name comes back 409 when sent again.
    doubtful = new Set(entries.slice(done + run.settled, done + run.sent).flatMap((e) => (e.kind === 'broken' ? [] : [e.username])));
    done += run.settled;
    trouble = run.trouble;
    // A connection that got nothing done is not tried again: the limit is shorter than one registration.
    if (!authTimeUp(trouble) || run.settled === 0 || done === entries.length) break;
    const why = streamErrorText((trouble as StreamClosedError).streamError!);
    process.stderr.write(`reguser: the server ended the stream after ${done} of ${entries.length} lines: ${why}; going on over a new connection\n`);
    if (stream !== first) await stream.close();
    try {
      stream = await open();
    } catch (err) {
      trouble = err;
      break;
    }
  }
  if (stream !== first) await stream.close();
  say(`[Summary] ${counts.ok} registered, ${counts.refused} failed, ${counts.skipped} skipped`);
  if (trouble !== undefined) {
    if (trouble instanceof StreamClosedError || trouble instanceof ReplyTimeoutError || trouble instanceof Trouble) {
      process.stderr.write(`reguser: stopped after ${done} of ${entries.length} lines\n`);
    }
    throw trouble;
  }
  return counts.refused + counts.skipped > 0 ? EXIT_REFUSED : EXIT_OK;
}

function readList(file: string): UserListEntry[] {
  let text: string;
  try {
    // A device never ends (/dev/zero): read whole, it would fill memory. A
    // pipe (--file <(make-list)) does end, and is read.
    const problem = notAFile(statSync(file));
    if (problem !== undefined) throw new Trouble(`cannot read ${file}: ${problem}`);
    // Refused, not turned into U+FFFD: a Latin-1 list would register
    // passwords nobody can type.
    text = new TextDecoder('utf-8', { fatal: true }).decode(readFileSync(file));
  } catch (err) {
    if (err instanceof Trouble) throw err;
    if (err instanceof TypeError && errCode(err) === 'ERR_ENCODING_INVALID_ENCODED_DATA') throw new Trouble(`${file}: not UTF-8 text`);
    throw new Trouble(`cannot read ${file}: ${errCode(err) ?? (err as Error).message}`);
  }
  try {
    return parseUserList(text).entries;
  } catch (err) {
    if (err instanceof UserListError) throw new Trouble(`${file}: ${err.message}`);
    throw err;
  }
}

/**
 * --ca: the certificate must chain to CA and name the Jabber host. An IP
 * address is not sent as the TLS server name (SNI): Node printed a
 * DeprecationWarning (DEP0123) on stderr for it, around reguser's own line.
 * The name is checked all the same, against the certificate's IP entries.
 */
function checkedTls(ca: Buffer, name: string): tls.ConnectionOptions {
  if (isIP(name) === 0) return { ca, rejectUnauthorized: true, servername: name };
  return { ca, rejectUnauthorized: true, checkServerIdentity: (_host, cert) => tls.checkServerIdentity(name, cert) };
}

async function main(argv: string[]): Promise<number> {
  if (argv.length <= 2) {
    program.outputHelp({ error: true });
    return EXIT_TROUBLE;
  }
  try {
    program.parse(argv);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT_OK : EXIT_TROUBLE;
    throw err;
  }
  const opts = program.opts<Options>();
  const [server, words = []] = program.processedArgs as [string | undefined, string[] | undefined];
  const usage = (message: string): number => {
    process.stderr.write(`reguser: ${message}\n(reguser --help for usage)\n`);
    return EXIT_TROUBLE;
  };
  if (server === undefined) return usage('no server given');
  const timeout = secondsOptionMs(opts.timeout);
  if (timeout === undefined) return usage(`--timeout must be a number of seconds (such as 30 or 0.5), at least 0.001 and at most 2147483, not "${opts.timeout}"`);
  const target = parseTarget(server, !!opts.tls);
  if (!target) return usage(`"${server}" is not host[:port]`);
  if (opts.file !== undefined && words.length > 0) return usage('give either field=value pairs or --file, not both');
  if (opts.ca !== undefined && !opts.tls) return usage('--ca checks a TLS certificate: give --tls too');
  let ca: Buffer | undefined;
  if (opts.ca !== undefined) {
    try {
      ca = readFileSync(opts.ca);
    } catch (err) {
      return usage(`cannot read ${opts.ca}: ${(err as Error).message}`);
    }
  }
  let fields: [string, string][] | undefined;
  if (words.length > 0) {
    try {
      fields = parseFieldPairs(words);
    } catch (err) {
      if (err instanceof FieldError) return usage(err.message);
      throw err;
    }
    // (A --file list is decoded strictly instead.)
    for (const [name, value] of fields) {
      const lossy = lossyArgumentProblem(name, value);
      if (lossy) return usage(lossy);
    }
  }

  try {
    const entries = opts.file === undefined ? undefined : readList(opts.file);
    const connect = (): Promise<ClientStream> =>
      ClientStream.connect({
        host: target.host,
        port: target.port,
        domain: opts.domain ?? target.host,
        // Without --ca, as 1.4 clients did: any certificate (self-signed ones are the rule).
        tls: ca ? checkedTls(ca, opts.domain ?? target.host) : !!opts.tls,
        timeout,
      });
    let stream: ClientStream;
    try {
      stream = await connect();
    } catch (err) {
      if (ca && isCertificateError(err)) {
        process.stderr.write(`reguser: the certificate of ${target.display} is not trusted (--ca ${opts.ca}): ${(err as Error).message}\n`);
      } else {
        process.stderr.write(`Cannot reach Jabber server at ${target.display}\n`);
        const hint = wrongModeHint(err, !!opts.tls || !!ca);
        if (hint) process.stderr.write(`reguser: ${hint}\n`);
      }
      return EXIT_TROUBLE;
    }
    try {
      if (entries) {
        const again = (): Promise<ClientStream> =>
          connect().catch((err: unknown) => {
            throw new Trouble(`cannot reach Jabber server at ${target.display} again: ${errCode(err) ?? (err as Error).message}`);
          });
        return await batch(again, stream, entries, timeout);
      }
      if (fields) return await attempt(stream, fields, timeout);
      return await enquiry(stream, timeout);
    } catch (err) {
      throw troubleFrom(err, target, timeout);
    } finally {
      await stream.close();
    }
  } catch (err) {
    if (!(err instanceof Trouble)) throw err;
    process.stderr.write(`reguser: ${err.message}\n`);
    return EXIT_TROUBLE;
  }
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`reguser: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = EXIT_TROUBLE;
  },
);
