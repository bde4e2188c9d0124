// Scenarios made of short connections, each one operation: register
// (connect, header, register set, close) and login-plain / login-digest /
// login-0k (connect, header, auth get, auth set, close). `concurrency`
// workers loop until the timed window closes; an operation's latency runs
// from connect to the last reply. After the last reply the client sends
// </stream:stream> and the worker starts its next connection at once,
// while the old one closes in the background (as a real client would: it
// does not wait for the server's goodbye; ejabberd, for one, takes 100 ms
// to send it).
import { Meter, UnsupportedError, sleep, waitFor, type ScenarioName, type ScenarioResult } from './meter.js';
import { RawConn, STREAM_CLOSE, childText, isResult } from './raw-client.js';
import { passwordFor, probeAuth, registerUsers, type Endpoint } from './setup.js';
import { ZerokChain, authGet, authSet, digest, offeredMethods, registerSet, type Credential } from './stanzas.js';
import type { ScenarioOptions } from './options.js';

/** Produces the next request from the previous reply (undefined for the first). */
export type Step = (conn: RawConn, reply: string | undefined) => string;

export interface Op {
  conn: RawConn;
  t0: number;
  /** The result is known (success or failure); only the close is awaited. */
  settled: boolean;
  settledAt: number;
}

/** A connection still open this long after its operation ended is cut. */
const CLOSE_WAIT_MS = 5000;

/**
 * Runs one dialogue on a fresh connection; `onSettled(err, ms)` fires once
 * with the outcome. On success the stream is closed politely; on failure
 * the connection is cut.
 */
export function dialogue(ep: Endpoint, steps: Step[], onSettled: (err: string | undefined, ms: number) => void): Op {
  const conn = new RawConn(ep.port, ep.domain);
  const op: Op = { conn, t0: performance.now(), settled: false, settledAt: 0 };
  let step = 0;
  const settle = (err: string | undefined): void => {
    if (op.settled) return;
    op.settled = true;
    op.settledAt = performance.now();
    onSettled(err, op.settledAt - op.t0);
  };
  const fail = (c: RawConn, err: string): void => {
    c.destroy();
    settle(err);
  };
  conn.onHeader = (c) => {
    try {
      c.send(steps[0]!(c, undefined));
    } catch (err) {
      fail(c, (err as Error).message);
    }
  };
  conn.onStanza = (c, s) => {
    if (op.settled) return;
    if (s.startsWith('<iq')) {
      if (!isResult(s)) return fail(c, `error reply: ${s.slice(0, 200)}`);
      step++;
      if (step < steps.length) {
        try {
          c.send(steps[step]!(c, s));
        } catch (err) {
          fail(c, (err as Error).message);
        }
        return;
      }
      c.end(true);
      settle(undefined);
    } else if (s.startsWith('<stream:error') || s === STREAM_CLOSE) {
      fail(c, `stream ended: ${s.slice(0, 200)}`);
    }
    // Anything else (stream features from a server that sends them anyway) is not ours to answer.
  };
  conn.onClose = (c) => settle(`connection closed before the reply${c.failure ? `: ${c.failure}` : ''}`);
  return op;
}

/**
 * `concurrency` workers, each repeating `stepsFor(worker, n)` dialogues
 * until the window closes. Returns when the window has closed and every
 * worker's last dialogue has ended (bounded by the op timeout).
 */
async function loop(ep: Endpoint, meter: Meter, opts: ScenarioOptions, stepsFor: (worker: number, n: number) => Step[]): Promise<void> {
  const current: (Op | undefined)[] = new Array(opts.concurrency).fill(undefined);
  const closing = new Set<Op>();
  const counts = new Array<number>(opts.concurrency).fill(0);
  let started = 0;
  const run = (w: number): void => {
    const prev = current[w];
    if (prev && !prev.conn.closed) closing.add(prev);
    current[w] = undefined;
    if (meter.phase === 'done' || started >= opts.maxOps) return;
    started++;
    current[w] = dialogue(ep, stepsFor(w, counts[w]!++), (err, ms) => {
      if (err === undefined) meter.ok(ms);
      else meter.fail(err);
      // From a callback, not in it: no recursion builds up.
      setImmediate(() => run(w));
    });
  };
  meter.sweep(() => {
    const now = performance.now();
    for (const op of current) if (op && !op.settled && now - op.t0 > opts.opTimeoutMs) op.conn.destroy('timeout');
    for (const op of closing) {
      if (op.conn.closed) closing.delete(op);
      else if (now - op.settledAt > CLOSE_WAIT_MS) {
        op.conn.destroy();
        closing.delete(op);
      }
    }
  });
  for (let w = 0; w < opts.concurrency; w++) run(w);
  await meter.window(opts.warmupMs, opts.durationMs);
  // In-flight dialogues finish (or time out); nothing new starts.
  await waitFor(() => current.every((op) => op === undefined), opts.opTimeoutMs + 1000);
  for (const op of current) op?.conn.destroy('still running after the window');
  await waitFor(() => [...closing].every((op) => op.conn.closed), 2000);
  for (const op of closing) op.conn.destroy();
  await sleep(10);
}

export async function runRegister(ep: Endpoint, opts: ScenarioOptions): Promise<ScenarioResult> {
  const meter = new Meter('register', ep.pids);
  const tag = nonce();
  // One registration up front: a server that refuses registration is reported, not hammered.
  await registerUsers(ep, [`r${tag}probe`], 1, opts.opTimeoutMs);
  await loop(ep, meter, opts, (w, n) => {
    const user = `r${tag}w${w}n${n}`;
    return [() => registerSet(user, passwordFor(user))];
  });
  return meter.result();
}

export type LoginMethod = 'plain' | 'digest' | '0k';

/** A short random tag, so that pools of several runs on one server never collide. */
export function nonce(): string {
  return Math.random().toString(36).slice(2, 7).padEnd(5, '0');
}

/** `count` user names: PREFIX + i. */
export function poolUsers(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${i}`);
}

export async function runLogin(ep: Endpoint, method: LoginMethod, opts: ScenarioOptions): Promise<ScenarioResult> {
  const scenario = `login-${method}` as ScenarioName;
  const meter = new Meter(scenario, ep.pids);
  // Each worker owns its own slice of the pool, so no two logins of one
  // user overlap (0k spends a link of the user's chain per login).
  const perWorker = Math.max(1, Math.ceil(opts.pool / opts.concurrency));
  const users = poolUsers(`lp${nonce()}x`, perWorker * opts.concurrency);
  await registerUsers(ep, users, opts.setupConcurrency, opts.opTimeoutMs);
  const offer = await probeAuth(ep, users[0]!, opts.opTimeoutMs);
  const offered = method === 'plain' ? offer.plain : method === 'digest' ? offer.digest : offer.zerok;
  if (!offered) {
    const has = (['plain', 'digest', '0k'] as const).filter((m) => (m === 'plain' ? offer.plain : m === 'digest' ? offer.digest : offer.zerok));
    throw new UnsupportedError(`its jabber:iq:auth offers ${has.join(', ') || 'no method'}, not ${method}`);
  }
  const chains = new Map<string, ZerokChain>();
  if (method === '0k') {
    // The chains are computed here, untimed, from each user's token (an auth get per user).
    for (const u of users) chains.set(u, new ZerokChain(passwordFor(u)));
    const token = childText(offer.reply, 'token')!;
    const seq = Number(childText(offer.reply, 'sequence'));
    chains.get(users[0]!)!.hashFor(token, seq);
    for (const u of users.slice(1)) {
      const o = await probeAuth(ep, u, opts.opTimeoutMs);
      chains.get(u)!.hashFor(childText(o.reply, 'token') ?? '', Number(childText(o.reply, 'sequence')));
    }
  }
  const credential = (user: string, conn: RawConn, reply: string): Credential => {
    const password = passwordFor(user);
    if (method === 'plain') return { password };
    if (method === 'digest') return { digest: digest(conn.streamId, password) };
    const token = childText(reply, 'token');
    const seq = Number(childText(reply, 'sequence'));
    // A spent chain (no 0k offered): one login with the password, at which
    // Yak makes a new chain (README: the 0k chain at a plain login). Once
    // in <sequences> logins of a user, so a long run does not turn into
    // errors once every chain of the pool is spent.
    if (token === undefined || !Number.isInteger(seq) || seq < 0) {
      if (offeredMethods(reply).plain) return { password };
      throw new Error(`0k not offered any more: ${reply.slice(0, 200)}`);
    }
    return { hash: chains.get(user)!.hashFor(token, seq) };
  };
  await loop(ep, meter, opts, (w, n) => {
    const user = users[w * perWorker + (n % perWorker)]!;
    return [() => authGet(user), (conn, reply) => authSet(user, credential(user, conn, reply!), 'bench')];
  });
  return meter.result();
}
