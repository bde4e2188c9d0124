// <service id='c2s'> with <pthcsock xmlns='jabber:config:pth-csock'>: the
// client listeners and the per-connection protections.
import { isIPv4 } from 'node:net';
import type { Element } from '../xml/element.js';
import { canonicalAddress } from '../net/peer-address.js';
import { ConfigError, type AliasConfig, type C2sLimits, type KarmaConfig, type ListenAddress, type YakConfig } from './types.js';
import { INT_MAX, SECONDS_MAX, about, intChild, intValue, listenAddress, portAttr, prepareHost, tag, textOf } from './values.js';
import { heapShare } from '../util/heap-share.js';

export const PTHCSOCK_NS = 'jabber:config:pth-csock';

/**
 * The TLS key for a listener on `address` (undefined: every address), from
 * <io><ssl><key ip='...'> (kept under canonicalAddress, or '*' for a key
 * without ip, which serves any address), with how the config names it.
 * Compared canonically, so `0:0::1` is the key for a listener on `::1`.
 */
export function tlsKeyFor(keys: ReadonlyMap<string, string>, address: string | undefined): { pem: string; where: string } | undefined {
  // An empty listener takes every address, as one on `::` does: `<key ip='::'>` is its key too.
  const ip = address === undefined ? (keys.has('::') ? '::' : '*') : (canonicalAddress(address) ?? address);
  const pem = keys.get(ip);
  if (pem !== undefined) return { pem, where: ip === '*' ? '<key>' : `<key ip='${ip}'>` };
  const any = keys.get('*');
  return any === undefined ? undefined : { pem: any, where: '<key>' };
}

/** 1.4 let <io> carry <karma> and <rate> for every listener; c2s's own win. */
export interface IoDefaults {
  karma: Element | undefined;
  rate: Element | undefined;
}

export function readC2s(service: Element, hosts: string[], io: IoDefaults): YakConfig['c2s'] {
  const cfg = service.getChildByNs(PTHCSOCK_NS) ?? service.getChild('pthcsock');
  if (!cfg) throw new ConfigError(`${tag(service)}: no <pthcsock xmlns='${PTHCSOCK_NS}'> section`, service);

  const ips = cfg.getChildren('ip');
  const ssls = cfg.getChildren('ssl');
  const listen = ips.map((e) => listener(e, 5222));
  const ssl = ssls.map((e) => listener(e, 5223));
  checkOverlaps([...ips, ...ssls], [...listen, ...ssl]);
  // 1.4's pthsock listened on 5222, all addresses, when given neither.
  if (listen.length === 0 && ssl.length === 0) listen.push({ port: 5222, address: undefined });

  return {
    listen,
    ssl,
    aliases: readAliases(cfg, hosts),
    // Empty <authtime/> (the 1.4 default config) means no limit.
    authtime: intChild(cfg, 'authtime', 0, SECONDS_MAX, 0),
    karma: readKarma(cfg.getChild('karma') ?? io.karma),
    rate: readRate(cfg.getChild('rate') ?? io.rate),
    limits: readLimits(cfg.getChild('limits')),
  };
}

function listener(el: Element, defaultPort: number): ListenAddress {
  return { port: portAttr(el, defaultPort), address: listenAddress(el) };
}

/**
 * Two listeners, plain or TLS, on one address and port: the second could
 * only fail at the start, as "port in use" against Yak's own first one.
 * A listener on all addresses (empty, or '::', which Node binds for both
 * IPv4 and IPv6) takes the port on every address, '0.0.0.0' on every IPv4
 * one. Port 0 asks for a free port, a different one each time.
 */
function checkOverlaps(els: Element[], listeners: ListenAddress[]): void {
  for (let i = 1; i < listeners.length; i++) {
    for (let j = 0; j < i; j++) {
      const [a, b] = [listeners[j]!, listeners[i]!];
      if (a.port !== b.port || a.port === 0) continue;
      const clash = overlap({ address: a.address, name: els[j]!.name }, { address: b.address, name: els[i]!.name });
      if (clash === undefined) continue;
      throw new ConfigError(
        `${written(els[j]!)} and ${written(els[i]!)}: both listen on ${clash.on}, port ${a.port}${clash.note}; an address and port can have one listener`,
        els[i],
      );
    }
  }
}

/**
 * Where two listen addresses meet, in words (and why, when one is a
 * wildcard), or undefined when they do not. `name`: its element's.
 */
function overlap(a: { address: string | undefined; name: string }, b: typeof a): { on: string; note: string } | undefined {
  const [x, y] = [a, b].map(({ address }) => (address === undefined ? ANY : canonicalAddress(address)));
  if (x === undefined || y === undefined) return undefined;
  if (x === y) return { on: x === ANY ? 'all addresses' : x, note: '' };
  for (const [wild, other, side] of [[x, y, a], [y, x, b]] as const) {
    const shown = side.address ?? `an empty <${side.name}/>`;
    if (wild === ANY) return { on: other, note: ` (${shown} is all addresses)` };
    if (wild === ANY_IPV4 && isIPv4(other)) return { on: other, note: ` (${shown} is all IPv4 addresses)` };
  }
  return undefined;
}

const ANY = '::';
const ANY_IPV4 = '0.0.0.0';

/** A listener element as the admin wrote it: `<ip port='5222'>127.0.0.1</ip>`, `<ip port='5222'/>`. */
function written(el: Element): string {
  const text = textOf(el);
  return text === '' ? tag(el).replace(/>$/, '/>') : `${tag(el)}${text}</${el.name}>`;
}

/** The deepest nesting `<limits><depth>` may allow (the stream counting 1). */
const MAX_STANZA_DEPTH = 1000;

function readAliases(cfg: Element, hosts: string[]): AliasConfig[] {
  const aliases: AliasConfig[] = [];
  for (const a of cfg.getChildren('alias')) {
    aliases.push(about(a, () => readAlias(a, hosts, aliases)));
  }
  return aliases;
}

function readAlias(a: Element, hosts: string[], aliases: AliasConfig[]): AliasConfig {
  const where = tag(a);
  const toRaw = a.attr('to');
  if (toRaw === undefined) throw new ConfigError(`${where}: missing to attribute (the host to map to)`);
  const to = prepareHost(toRaw, where);
  // An alias to a host nobody serves would only fail later, per connection.
  if (!hosts.includes(to)) throw new ConfigError(`${where}: '${to}' is not a <host> of the sessions service`);
  const fromText = textOf(a);
  const from = fromText === '' ? undefined : prepareHost(fromText, where);
  if (aliases.some((x) => x.from === from)) {
    throw new ConfigError(`${where}: ${from === undefined ? 'a second default alias' : `'${from}' is aliased twice`}`);
  }
  return { to, from };
}

/**
 * Missing children take the 1.4 defaults. dec 0 means "never recover
 * karma", which 1.4 treated as karma switched off; we do the same by
 * returning undefined.
 */
function readKarma(k: Element | undefined): KarmaConfig | undefined {
  if (!k) return undefined;
  const karma: KarmaConfig = {
    init: intChild(k, 'init', 0, INT_MAX, 10),
    max: intChild(k, 'max', 0, INT_MAX, 10),
    inc: intChild(k, 'inc', 0, INT_MAX, 1),
    dec: intChild(k, 'dec', 0, INT_MAX, 1),
    // The penalty is what karma drops to when the budget is overrun: negative by design.
    penalty: intChild(k, 'penalty', -INT_MAX, INT_MAX, -5),
    restore: intChild(k, 'restore', 0, INT_MAX, 10),
  };
  if (karma.dec === 0) return undefined;
  // A zero budget would block every read forever: surely a typo.
  if (karma.max === 0) throw new ConfigError(`${tag(k)}<max>: max must be at least 1 while karma is on (dec > 0)`, k.getChild('max') ?? k);
  // Nothing would bring a penalised connection back: paused for good.
  if (karma.inc === 0) throw new ConfigError(`${tag(k)}<inc>: inc must be at least 1 while karma is on (dec > 0)`, k.getChild('inc') ?? k);
  return karma;
}

/** <rate points='5' time='25'/>: missing attributes take the 1.4 values; 0 switches it off. */
function readRate(r: Element | undefined): { points: number; time: number } | undefined {
  if (!r) return undefined;
  const points = about(r, () => intValue(r.attr('points'), tag(r), 'points', 0, INT_MAX, 5));
  const time = about(r, () => intValue(r.attr('time'), tag(r), 'time', 0, SECONDS_MAX, 25));
  return points === 0 || time === 0 ? undefined : { points, time };
}

/** The smallest <preauthmemory> that is not 0: 1 MiB, a few logins' worth of the largest kind. */
const PRE_AUTH_MEMORY_MIN = 1 << 20;
/**
 * The smallest <sessionmemory> that is not 0: 16 MiB, what one session can
 * hold at the worst (its stanzas in hand, one being read, the output buffer)
 * about twice over.
 */
const SESSION_MEMORY_MIN = 16 << 20;

/** The shares of the heap connections not logged in, and sessions, may hold by default, when less than 32 and 256 MiB. */
const PRE_AUTH_HEAP_SHARE = 1 / 64;
const SESSION_HEAP_SHARE = 1 / 16;

/** The longest TCP keepalive idle time Linux takes (MAX_TCP_KEEPIDLE). */
const KEEPALIVE_SECONDS_MAX = 32767;

/** Yak extension: parser and pre-auth queue bounds (SPEC sections 1 and 2). */
function readLimits(l: Element | undefined): C2sLimits {
  const limits: C2sLimits = {
    preAuthStanzaBytes: 65536,
    stanzaBytes: 262144,
    depth: 32,
    queueStanzas: 32,
    queueBytes: 65536,
    connectionsPerAddress: 1000,
    connectionsTotal: undefined,
    outputBytes: 1 << 20,
    idleSeconds: 0,
    keepaliveSeconds: 120,
    // Less on a small heap (see heap-share.ts), never below what may be configured.
    preAuthMemory: Math.max(PRE_AUTH_MEMORY_MIN, heapShare(32 * 1024 * 1024, PRE_AUTH_HEAP_SHARE)),
    sessionMemory: Math.max(SESSION_MEMORY_MIN, heapShare(256 * 1024 * 1024, SESSION_HEAP_SHARE)),
    sessionsPerUser: 100,
  };
  if (!l) return limits;
  const c = l.getChild('connections');
  if (c) {
    about(c, () => {
      limits.connectionsPerAddress = intValue(c.attr('perip'), tag(c), 'perip', 0, INT_MAX, limits.connectionsPerAddress);
      // Absent: a cap from the descriptor limit (net/descriptor-limit.ts); 0: none.
      const total = c.attr('total');
      if (total !== undefined) limits.connectionsTotal = intValue(total, tag(c), 'total', 0, INT_MAX, 0);
    });
  }
  limits.outputBytes = intChild(l, 'outbuffer', 1024, INT_MAX, limits.outputBytes);
  limits.idleSeconds = intChild(l, 'idle', 0, SECONDS_MAX, limits.idleSeconds);
  limits.keepaliveSeconds = intChild(l, 'keepalive', 0, KEEPALIVE_SECONDS_MAX, limits.keepaliveSeconds);
  limits.preAuthStanzaBytes = intChild(l, 'preauthstanza', 1, INT_MAX, limits.preAuthStanzaBytes);
  limits.preAuthMemory = intChild(l, 'preauthmemory', 0, INT_MAX, limits.preAuthMemory);
  // Below this, a login or registration alone could go over it: nobody could log in.
  const pm = l.getChild('preauthmemory');
  if (pm && limits.preAuthMemory > 0 && limits.preAuthMemory < PRE_AUTH_MEMORY_MIN) {
    throw new ConfigError(`${tag(l)}<preauthmemory>: must be 0 (no bound) or at least ${PRE_AUTH_MEMORY_MIN}`, pm);
  }
  limits.sessionMemory = intChild(l, 'sessionmemory', 0, INT_MAX, limits.sessionMemory);
  const sm = l.getChild('sessionmemory');
  if (sm && limits.sessionMemory > 0 && limits.sessionMemory < SESSION_MEMORY_MIN) {
    throw new ConfigError(`${tag(l)}<sessionmemory>: must be 0 (no bound) or at least ${SESSION_MEMORY_MIN}`, sm);
  }
  limits.sessionsPerUser = intChild(l, 'sessions', 0, INT_MAX, limits.sessionsPerUser);
  limits.stanzaBytes = intChild(l, 'stanza', 1, INT_MAX, limits.stanzaBytes);
  // Depth 1 is the stream itself, so a stanza needs at least 2.
  // At most 1,000: every reader of a stanza (serializing, copying, the
  // filter rules) recurses once per level, and a few thousand levels
  // overflowed the stack.
  limits.depth = intChild(l, 'depth', 2, MAX_STANZA_DEPTH, limits.depth);
  const q = l.getChild('queue');
  if (q) {
    about(q, () => {
      limits.queueStanzas = intValue(q.attr('stanzas'), tag(q), 'stanzas', 0, INT_MAX, limits.queueStanzas);
      limits.queueBytes = intValue(q.attr('bytes'), tag(q), 'bytes', 0, INT_MAX, limits.queueBytes);
    });
  }
  return limits;
}
