// Scenarios on long-lived sessions: idle (hold many sessions, measure the
// server's memory per session), message (pairs sending to each other's
// full JID with a window of messages in flight) and mixed (a ring of
// mutually subscribed sessions doing logins, presence updates, roster gets
// and messages at once).
import { Meter, sleep, waitFor, type ScenarioResult } from './meter.js';
import { Latencies } from './stats.js';
import { rssKiB } from './proc.js';
import { RawConn, attr, isResult } from './raw-client.js';
import { dialogue, nonce, poolUsers } from './scenario-short.js';
import {
  closeSessions,
  fromOf,
  openSession,
  openSessions,
  parallel,
  parse,
  passwordFor,
  probeAuth,
  registerUsers,
  type Endpoint,
  type Session,
} from './setup.js';
import { authGet, authSet, chat, digest, presenceTo, rosterGet } from './stanzas.js';
import type { MixKind as Kind, ScenarioOptions } from './options.js';

// ---------------------------------------------------------------- idle

export async function runIdle(ep: Endpoint, opts: ScenarioOptions): Promise<ScenarioResult> {
  const meter = new Meter('idle', ep.pids);
  const users = poolUsers(`id${nonce()}x`, opts.sessions);
  await registerUsers(ep, users, opts.setupConcurrency, opts.opTimeoutMs);
  // Measured on a server started afresh with the accounts already there,
  // as an operator's server is. Read in the process that registered them,
  // the baseline held the room that registering left in the heap, which
  // the sessions then filled without growing the process: at 10,000
  // sessions, Yak's 17 KiB per session showed as 6.6.
  await ep.restart();
  await sleep(500);
  const rssBeforeKiB = rssKiB(ep.pids());
  const sessions: Session[] = [];
  meter.startMeasure();
  await parallel(users.length, opts.setupConcurrency, async (i) => {
    const t0 = performance.now();
    try {
      sessions.push(await openSession(ep, users[i]!, 'idle', opts.opTimeoutMs));
      meter.ok(performance.now() - t0);
    } catch (err) {
      meter.fail((err as Error).message);
    }
  });
  meter.stopMeasure();
  await sleep(opts.settleMs);
  const rssAfterKiB = rssKiB(ep.pids());
  const alive = sessions.filter((s) => !s.conn.closed);
  if (alive.length < sessions.length) {
    for (let i = alive.length; i < sessions.length; i++) meter.fail('session closed by the server while idle');
  }
  // One held session still answers (checked with the real parser).
  if (alive[0]) {
    const reply = await alive[0].inbox.request(rosterGet('idlecheck'), 'idlecheck', opts.opTimeoutMs);
    if (parse(reply).attrs.type !== 'result') meter.fail(`roster get on a held session: ${reply.slice(0, 200)}`);
  }
  await closeSessions(sessions);
  return meter.result({
    rssBeforeKiB,
    rssAfterKiB,
    rssKiBPerSession: alive.length > 0 ? (rssAfterKiB - rssBeforeKiB) / alive.length : NaN,
  });
}

// ---------------------------------------------------------------- message

/** One direction of a pair: sender -> receiver, with the send times of the messages in flight. */
interface Direction {
  sender: Session;
  msg: string;
  times: Float64Array;
  head: number;
  count: number;
  carry: string;
}

const MESSAGE_END = '</message>';

/** Checks one delivered message with the real parser: a chat from `from` with `body`. */
function checkMessage(stanza: string, from: string, body: string): string | undefined {
  const m = parse(stanza);
  if (m.name !== 'message') return `expected a message, got ${stanza.slice(0, 200)}`;
  if (m.attrs.type === 'error') return `error message: ${stanza.slice(0, 200)}`;
  if ((m.attrs.from ?? '').toLowerCase() !== from.toLowerCase()) return `message from '${m.attrs.from}', expected '${from}'`;
  if (m.getChildText('body') !== body) return `message body '${m.getChildText('body')}', expected '${body}'`;
  return undefined;
}

export async function runMessage(ep: Endpoint, opts: ScenarioOptions): Promise<ScenarioResult> {
  const meter = new Meter('message', ep.pids);
  const users = poolUsers(`ms${nonce()}x`, opts.pairs * 2);
  await registerUsers(ep, users, opts.setupConcurrency, opts.opTimeoutMs);
  const sessions = await openSessions(ep, users, 'msg', opts.setupConcurrency, opts.opTimeoutMs);
  try {
    // Untimed check of every pair in both directions, with the real parser.
    await parallel(opts.pairs, opts.pairs, async (p) => {
      for (const [a, b] of [
        [sessions[2 * p]!, sessions[2 * p + 1]!],
        [sessions[2 * p + 1]!, sessions[2 * p]!],
      ] as const) {
        const got = b.inbox.next((s) => s.startsWith('<message'), opts.opTimeoutMs);
        a.conn.send(chat(b.jid, `check ${a.user}`));
        const problem = checkMessage(await got, a.jid, `check ${a.user}`);
        if (problem) throw new Error(`message check failed: ${problem}`);
      }
    });
    await sleep(100);

    const W = opts.window;
    const inbound = new Map<RawConn, { into: Direction; out: Direction }>();
    const directions: Direction[] = [];
    for (let p = 0; p < opts.pairs; p++) {
      const a = sessions[2 * p]!;
      const b = sessions[2 * p + 1]!;
      const ab: Direction = { sender: a, msg: chat(b.jid, 'm'), times: new Float64Array(W), head: 0, count: 0, carry: '' };
      const ba: Direction = { sender: b, msg: chat(a.jid, 'm'), times: new Float64Array(W), head: 0, count: 0, carry: '' };
      directions.push(ab, ba);
      inbound.set(b.conn, { into: ab, out: ba });
      inbound.set(a.conn, { into: ba, out: ab });
    }
    const fill = (d: Direction, now: number): void => {
      if (meter.phase === 'done' || d.sender.conn.closed || meter.ops + meter.errors >= opts.maxOps) return;
      const n = W - d.count;
      if (n <= 0) return;
      for (let k = 0; k < n; k++) d.times[(d.head + d.count + k) % W] = now;
      d.count += n;
      d.sender.conn.send(n === 1 ? d.msg : d.msg.repeat(n));
    };
    // Refills wait for the end of the current I/O round, so that all the
    // deliveries read in one round cost one write per sender, not one each.
    const due = new Set<Direction>();
    let flushQueued = false;
    const flush = (): void => {
      flushQueued = false;
      const now = performance.now();
      for (const d of due) fill(d, now);
      due.clear();
    };
    const refill = (d: Direction, _now: number): void => {
      due.add(d);
      if (!flushQueued) {
        flushQueued = true;
        setImmediate(flush);
      }
    };
    const pop = (d: Direction, k: number, now: number, record: boolean): void => {
      for (let j = 0; j < k && d.count > 0; j++) {
        if (record) meter.ok(now - d.times[d.head]!);
        d.head = (d.head + 1) % W;
        d.count--;
      }
    };
    for (const s of sessions) {
      s.inbox.detach();
      s.conn.onChunk = (c, text) => {
        const io = inbound.get(c)!;
        const t = io.into.carry + text;
        let k = 0;
        for (let i = t.indexOf(MESSAGE_END); i >= 0; i = t.indexOf(MESSAGE_END, i + MESSAGE_END.length)) k++;
        io.into.carry = t.length > MESSAGE_END.length - 1 ? t.slice(-(MESSAGE_END.length - 1)) : t;
        const now = performance.now();
        if (text.indexOf('error') >= 0) {
          if (text.indexOf('<stream:error') >= 0) {
            meter.fail(`stream error: ${text.slice(0, 200)}`);
            return;
          }
          // Bounces of our own messages come back to the sender: they free its window.
          let e = 0;
          for (let i = text.indexOf('<error'); i >= 0; i = text.indexOf('<error', i + 6)) e++;
          for (let j = 0; j < e; j++) meter.fail(`message bounced: ${text.slice(0, 200)}`);
          k -= e;
          pop(io.out, e, now, false);
          refill(io.out, now);
        }
        pop(io.into, k, now, true);
        refill(io.into, now);
      };
    }
    meter.sweep(() => {
      const now = performance.now();
      for (const d of directions) {
        if (d.count > 0 && now - d.times[d.head]! > opts.opTimeoutMs) {
          for (let j = 0; j < d.count; j++) meter.fail('message not delivered in time');
          d.count = 0;
          refill(d, now);
        }
      }
    });
    const now = performance.now();
    meter.phase = 'warmup';
    for (const d of directions) fill(d, now);
    await meter.window(opts.warmupMs, opts.durationMs);
    // Let what is in flight arrive (bounded), then count what did not as lost.
    await waitFor(() => directions.every((d) => d.count === 0 || d.sender.conn.closed), opts.opTimeoutMs);
    for (const d of directions) for (let j = 0; j < d.count; j++) meter.fail('message not delivered by the end of the run');
    for (const s of sessions) {
      s.conn.onChunk = undefined;
      s.conn.onStanza = undefined;
    }
  } finally {
    await closeSessions(sessions);
  }
  return meter.result();
}

// ---------------------------------------------------------------- mixed


interface MixSession extends Session {
  index: number;
  pending: Kind | undefined;
  t0: number;
  rosterId: string;
  iqCounter: number;
  msgToNext: string;
  dead: boolean;
}

/** Makes each session i and i+1 (mod n) subscribed to each other; returns the problems seen. */
async function ringSubscriptions(sessions: Session[], domain: string, timeoutMs: number): Promise<string[]> {
  const n = sessions.length;
  const bare = (i: number): string => `${sessions[i]!.user}@${domain}`;
  const next = (i: number): number => (i + 1) % n;
  const problems: string[] = [];
  // An approval shows as the 'subscribed' presence, or (Prosody) only as
  // the contact's available presence that follows it.
  const isPresence = (type: string, fromUser: string) => (s: string) => {
    if (!s.startsWith('<presence') || !(fromOf(s) ?? '').toLowerCase().startsWith(`${fromUser}@`)) return false;
    const t = attr(s, 'type');
    return t === type || (type === 'subscribed' && t === undefined);
  };
  const phase = async (what: string, sender: (i: number) => number, receiver: (i: number) => number, type: 'subscribe' | 'subscribed'): Promise<void> => {
    const arrivals = sessions.map((_, i) =>
      sessions[receiver(i)]!.inbox.next(isPresence(type, sessions[sender(i)]!.user), timeoutMs).then(
        () => true,
        () => false,
      ),
    );
    for (let i = 0; i < n; i++) sessions[sender(i)]!.conn.send(presenceTo(bare(receiver(i)), type));
    const missing = (await Promise.all(arrivals)).filter((ok) => !ok).length;
    if (missing > 0) problems.push(`${what}: ${missing} of ${n} presences did not arrive`);
  };
  await phase('subscribe to next', (i) => i, next, 'subscribe');
  await phase('next approves', next, (i) => i, 'subscribed');
  await phase('next subscribes back', next, (i) => i, 'subscribe');
  await phase('approve next', (i) => i, next, 'subscribed');
  return problems;
}

export async function runMixed(ep: Endpoint, opts: ScenarioOptions): Promise<ScenarioResult> {
  const meter = new Meter('mixed', ep.pids);
  const n = Math.max(3, opts.mixedSessions);
  const prefix = `mx${nonce()}x`;
  const users = poolUsers(prefix, n);
  await registerUsers(ep, users, opts.setupConcurrency, opts.opTimeoutMs);
  const offer = await probeAuth(ep, users[0]!, opts.opTimeoutMs);
  const opened = await openSessions(ep, users, 'mix', opts.setupConcurrency, opts.opTimeoutMs);
  const sessions: MixSession[] = opened.map((s, i) => ({
    ...s,
    index: i,
    pending: undefined,
    t0: 0,
    rosterId: '',
    iqCounter: 0,
    msgToNext: '',
    dead: false,
  }));
  try {
    for (const s of sessions) s.msgToNext = chat(`${sessions[(s.index + 1) % n]!.user}@${ep.domain}/mix`, 'mixed');
    // Like a real client, each session asks for its roster first (servers push roster changes only to those that did).
    await parallel(n, opts.setupConcurrency, async (i) => {
      const reply = await sessions[i]!.inbox.request(rosterGet('first'), 'first', opts.opTimeoutMs);
      if (!isResult(reply)) throw new Error(`roster get failed: ${reply.slice(0, 200)}`);
    });
    const problems = await ringSubscriptions(sessions, ep.domain, opts.opTimeoutMs);
    for (const p of problems) meter.notes.push(`ring setup: ${p}`);
    await sleep(300);
    // Untimed check with the real parser: session 0 has both neighbours, subscription both.
    const rosterReply = await sessions[0]!.inbox.request(rosterGet('ringcheck'), 'ringcheck', opts.opTimeoutMs);
    const items = parse(rosterReply).getChild('query')?.getChildren('item') ?? [];
    const both = items.filter((it) => it.attrs.subscription === 'both').length;
    if (both < 2) meter.notes.push(`ring setup: first roster has ${both} of 2 contacts with subscription both (presence operations will time out)`);

    const useDigest = offer.digest;
    const byKind = new Map<Kind, Latencies>(opts.mix.map(([k]) => [k, new Latencies(200_000)]));
    const prev = (i: number): number => (i - 1 + n) % n;
    const complete = (s: MixSession, kind: Kind, err: string | undefined): void => {
      if (s.pending !== kind) return;
      s.pending = undefined;
      if (err === undefined) {
        const ms = performance.now() - s.t0;
        if (meter.phase === 'measure') byKind.get(kind)!.add(ms);
        meter.ok(ms);
      } else meter.fail(`${kind}: ${err}`);
      start(s);
    };
    const start = (s: MixSession): void => {
      if (meter.phase === 'done' || s.dead || meter.ops + meter.errors >= opts.maxOps) return;
      let r = Math.random();
      // The last kind also takes what rounding leaves of the weights' sum.
      let kind: Kind = opts.mix[opts.mix.length - 1]![0];
      for (const [k, w] of opts.mix) {
        if (r < w) {
          kind = k;
          break;
        }
        r -= w;
      }
      s.pending = kind;
      s.t0 = performance.now();
      switch (kind) {
        case 'message':
          s.conn.send(s.msgToNext);
          break;
        case 'presence':
          s.conn.send('<presence><status>busy</status></presence>');
          break;
        case 'roster':
          s.rosterId = `r${s.iqCounter++}`;
          s.conn.send(rosterGet(s.rosterId));
          break;
        case 'login': {
          const user = s.user;
          dialogue(
            ep,
            [
              () => authGet(user),
              (c) => authSet(user, useDigest ? { digest: digest(c.streamId, passwordFor(user)) } : { password: passwordFor(user) }, `ml${s.iqCounter++}`),
            ],
            (err) => complete(s, 'login', err),
          );
          break;
        }
      }
    };
    const onStanza = (s: MixSession, st: string): void => {
      const c = st.charCodeAt(1);
      if (c === 109 /* m */) {
        if (attr(st, 'type') === 'error') {
          complete(s, 'message', `bounced: ${st.slice(0, 200)}`);
          return;
        }
        const from = senderIndex(st);
        if (from === prev(s.index)) complete(sessions[from]!, 'message', undefined);
      } else if (c === 112 /* p */) {
        const type = attr(st, 'type');
        if (type === 'error') {
          complete(s, 'presence', `error: ${st.slice(0, 200)}`);
          return;
        }
        if (type !== undefined) return;
        const from = senderIndex(st);
        if (from === prev(s.index)) complete(sessions[from]!, 'presence', undefined);
      } else if (c === 105 /* i */) {
        if (attr(st, 'id') === s.rosterId && s.pending === 'roster') {
          complete(s, 'roster', isResult(st) ? undefined : `error reply: ${st.slice(0, 200)}`);
        }
      } else if (st.startsWith('<stream:error') || st.startsWith('</stream:stream')) {
        s.dead = true;
        if (s.pending) complete(s, s.pending, `stream ended: ${st.slice(0, 200)}`);
      }
    };
    const senderIndex = (st: string): number => {
      const from = fromOf(st) ?? '';
      if (!from.startsWith(prefix)) return -1;
      const at = from.indexOf('@');
      const i = at > prefix.length ? Number(from.slice(prefix.length, at)) : -1;
      return Number.isInteger(i) && i >= 0 && i < n ? i : -1;
    };
    for (const s of sessions) {
      s.inbox.detach();
      s.conn.onStanza = (_c, st) => onStanza(s, st);
      const prevClose = s.conn.onClose;
      s.conn.onClose = (c) => {
        prevClose?.(c);
        s.dead = true;
        if (s.pending) complete(s, s.pending, 'connection closed');
      };
    }
    meter.sweep(() => {
      const now = performance.now();
      for (const s of sessions) {
        if (s.pending && now - s.t0 > opts.opTimeoutMs) complete(s, s.pending, 'timeout');
      }
    });
    meter.phase = 'warmup';
    for (const s of sessions) start(s);
    await meter.window(opts.warmupMs, opts.durationMs);
    await waitFor(() => sessions.every((s) => s.pending === undefined || s.dead), opts.opTimeoutMs + 1000);
    for (const s of sessions) s.conn.onStanza = undefined;
    const breakdown: NonNullable<ScenarioResult['byKind']> = {};
    for (const [k, lat] of byKind) {
      const [p50, p99] = lat.percentiles([50, 99]);
      breakdown[k] = { ops: lat.count, p50Ms: p50!, p99Ms: p99! };
    }
    return meter.result({ byKind: breakdown });
  } finally {
    await closeSessions(sessions);
  }
}
