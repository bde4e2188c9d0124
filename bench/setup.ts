// The untimed parts of a scenario: registering user pools, opening
// long-lived sessions, probing which login methods a server offers, and
// checking replies with the real XML parser.
import { parseXml } from '../src/xml/parse.js';
import type { Element } from '../src/xml/element.js';
import { UnsupportedError } from './meter.js';
import { Inbox, RawConn, attr, isResult, whenHeader } from './raw-client.js';
import { PRESENCE, authGet, authSet, offeredMethods, registerSet } from './stanzas.js';

/** Where a scenario sends its load (always 127.0.0.1). */
export interface Endpoint {
  /** Server name for messages ('yak', 'prosody', ...). */
  name: string;
  port: number;
  /** The Jabber host (stream header 'to', JID domain). */
  domain: string;
  /** The server's process ids (CPU and memory are read from them). */
  pids(): number[];
  /** Ends the server and starts it again on the same data (see runIdle). */
  restart(): Promise<void>;
}

export function passwordFor(user: string): string {
  return `pw-${user}-Secret`;
}

/** Runs task(0..count-1), at most `concurrency` at a time; the first failure rejects (after the running ones end). */
export async function parallel(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: unknown;
  const lane = async (): Promise<void> => {
    while (failure === undefined && next < count) {
      const i = next++;
      try {
        await task(i);
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, count)) }, lane));
  if (failure !== undefined) throw failure;
}

/** Opens a connection and waits for the server's header. */
export async function open(ep: Endpoint, timeoutMs: number): Promise<{ conn: RawConn; inbox: Inbox }> {
  const conn = new RawConn(ep.port, ep.domain);
  const inbox = new Inbox(conn);
  await whenHeader(conn, timeoutMs);
  return { conn, inbox };
}

/** Sends </stream:stream> and waits (bounded) for the server to close. */
export async function closeGracefully(conn: RawConn, timeoutMs = 5000): Promise<void> {
  if (conn.closed) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      conn.destroy();
      resolve();
    }, timeoutMs);
    const prev = conn.onClose;
    conn.onClose = (c) => {
      clearTimeout(timer);
      prev?.(c);
      resolve();
    };
    conn.end();
  });
}

/** Parses a stanza cut out by the scanner with the real XML parser. */
export function parse(stanza: string): Element {
  return parseXml(stanza);
}

function iqFailure(what: string, reply: string): Error {
  const code = /<error[^>]*code=['"](\d+)['"]/.exec(reply)?.[1];
  const cond = /<([a-z-]+) xmlns=['"]urn:ietf:params:xml:ns:xmpp-stanzas['"]/.exec(reply)?.[1];
  return new Error(`${what} failed: ${[code, cond].filter(Boolean).join(' ') || reply.slice(0, 300)}`);
}

/**
 * Registers every user (one connection each, `concurrency` at a time).
 * A server that refuses in-band registration outright is UnsupportedError.
 */
export async function registerUsers(ep: Endpoint, users: string[], concurrency: number, timeoutMs: number): Promise<void> {
  await parallel(users.length, concurrency, async (i) => {
    const user = users[i]!;
    const { conn, inbox } = await open(ep, timeoutMs);
    try {
      const reply = await inbox.request(registerSet(user, passwordFor(user), 'reg'), 'reg', timeoutMs);
      if (!isResult(reply)) {
        if (/code=['"](501|405)['"]|feature-not-implemented|not-allowed/.test(reply)) {
          throw new UnsupportedError(`${ep.name} refuses in-band registration: ${reply.slice(0, 200)}`);
        }
        throw iqFailure(`registering ${user}`, reply);
      }
    } finally {
      await closeGracefully(conn);
    }
  });
}

/** What the server's auth get offers for `user` (checked with the real parser too). */
export async function probeAuth(ep: Endpoint, user: string, timeoutMs: number): Promise<ReturnType<typeof offeredMethods> & { reply: string }> {
  const { conn, inbox } = await open(ep, timeoutMs);
  try {
    const reply = await inbox.request(authGet(user, 'probe'), 'probe', timeoutMs);
    if (!isResult(reply)) throw iqFailure(`auth get for ${user}`, reply);
    const query = parse(reply).getChild('query');
    if (!query || query.attrs.xmlns !== 'jabber:iq:auth' || !query.getChild('username')) {
      throw new Error(`auth get reply without a jabber:iq:auth query: ${reply.slice(0, 300)}`);
    }
    return { ...offeredMethods(reply), reply };
  } finally {
    await closeGracefully(conn);
  }
}

export interface Session {
  user: string;
  jid: string;
  conn: RawConn;
  inbox: Inbox;
}

/** Logs `user` in with a plain password (every peer supports it) and sends initial presence. */
export async function openSession(ep: Endpoint, user: string, resource: string, timeoutMs: number, presence = true): Promise<Session> {
  const { conn, inbox } = await open(ep, timeoutMs);
  try {
    const reply = await inbox.request(authSet(user, { password: passwordFor(user) }, resource, 'login'), 'login', timeoutMs);
    if (!isResult(reply)) throw iqFailure(`login of ${user}`, reply);
  } catch (err) {
    conn.destroy();
    throw err;
  }
  if (presence) conn.send(PRESENCE);
  return { user, jid: `${user}@${ep.domain}/${resource}`, conn, inbox };
}

/** Opens sessions for all users, `concurrency` logins at a time. */
export async function openSessions(ep: Endpoint, users: string[], resource: string, concurrency: number, timeoutMs: number): Promise<Session[]> {
  const sessions: Session[] = new Array(users.length);
  try {
    await parallel(users.length, concurrency, async (i) => {
      sessions[i] = await openSession(ep, users[i]!, resource, timeoutMs);
    });
  } catch (err) {
    for (const s of sessions) s?.conn.destroy();
    throw err;
  }
  return sessions;
}

/** Closes sessions gracefully (bounded), destroying what does not close in time. */
export async function closeSessions(sessions: Session[], timeoutMs = 10_000): Promise<void> {
  const live = sessions.filter((s) => s && !s.conn.closed);
  await Promise.all(live.map((s) => closeGracefully(s.conn, timeoutMs)));
}

/** The `from` of a stanza as the scanner sees it. */
export function fromOf(stanza: string): string | undefined {
  return attr(stanza, 'from');
}
