// SIGHUP: what a running server takes from a re-read jabber.xml. Only
// settings that are read at the moment of use can change safely (and the
// TLS keys, which the server itself re-reads: YakServer.reload); hosts,
// listeners, the spool (and its file size cap), the module list and the module-specific
// options read at startup (0k sequences, offline limit, filter rules) need a
// restart.
import { canonicalAddress } from '../net/peer-address.js';
import type { ListenAddress, YakConfig } from './types.js';

export interface ReloadResult {
  /** Sections taken from the new file. */
  applied: string[];
  /** Sections that differ but need a restart; the old values stay. */
  needsRestart: string[];
}

const same = (a: unknown, b: unknown): boolean =>
  JSON.stringify(a, (_k, v: unknown) => (v instanceof Map ? [...v] : v)) ===
  JSON.stringify(b, (_k, v: unknown) => (v instanceof Map ? [...v] : v));

/** <register> as comparable data (its fields are elements). */
function registerView(r: YakConfig['jsm']['register']): unknown {
  return r && { notify: r.notify, requireAll: r.requireAll, fields: r.fields.map(String) };
}

/** Listeners as comparable data: by address (canonical: `0::1` is `::1`) and port, in any order. */
function listenersView(l: readonly ListenAddress[]): string[] {
  return l.map(({ address, port }) => `${address === undefined ? '*' : (canonicalAddress(address) ?? address)} ${port}`).sort();
}

/** Copies the reloadable parts of `fresh` into `live` (the object every part of the server reads). */
export function applyReload(live: YakConfig, fresh: YakConfig): ReloadResult {
  const needsRestart: string[] = [];
  const fixed: [string, unknown, unknown][] = [
    ['hosts', live.hosts, fresh.hosts],
    ['listeners (<ip>)', listenersView(live.c2s.listen), listenersView(fresh.c2s.listen)],
    ['TLS listeners (<ssl>)', listenersView(live.c2s.ssl), listenersView(fresh.c2s.ssl)],
    ['spool', live.spool, fresh.spool],
    ['<maxfilesize>', live.maxFileBytes, fresh.maxFileBytes],
    ['modules (<load>)', live.jsm.modules, fresh.jsm.modules],
    ['<mod_auth_0k>', live.jsm.zerokSequences, fresh.jsm.zerokSequences],
    ['<mod_offline>', live.jsm.offlineLimit, fresh.jsm.offlineLimit],
    // Raw XML: the typed form holds Sets, which the comparison cannot see into.
    ['<filter>', live.jsm.raw.getChild('filter')?.toString(), fresh.jsm.raw.getChild('filter')?.toString()],
    ['pidfile', live.pidfile, fresh.pidfile],
    // The log file is opened once; SIGHUP reopens the same name (logrotate).
    ['<log>', live.log, fresh.log],
  ];
  for (const [name, a, b] of fixed) if (!same(a, b)) needsRestart.push(name);

  const applied: string[] = [];
  const take = <T>(name: string, a: T, b: T, set: (v: T) => void): void => {
    if (same(a, b)) return;
    set(b);
    applied.push(name);
  };
  const c = live.c2s;
  const j = live.jsm;
  // An alias names one of the file's hosts, and hosts wait for a restart:
  // an alias to a host added in the same file would hand its clients (all
  // of them, for a default alias) a host this server does not serve, and
  // the users of the hosts it does could no longer log in.
  if (fresh.c2s.aliases.every((a) => live.hosts.includes(a.to))) take('<alias>', c.aliases, fresh.c2s.aliases, (v) => (c.aliases = v));
  else needsRestart.push('<alias> (to a host not served until a restart)');
  take('<authtime>', c.authtime, fresh.c2s.authtime, (v) => (c.authtime = v));
  take('<karma>', c.karma, fresh.c2s.karma, (v) => (c.karma = v));
  take('<rate>', c.rate, fresh.c2s.rate, (v) => (c.rate = v));
  take('<limits>', c.limits, fresh.c2s.limits, (v) => (c.limits = v));
  take('<register>', registerView(j.register), registerView(fresh.jsm.register), () => (j.register = fresh.jsm.register));
  take('<welcome>', j.welcome, fresh.jsm.welcome, (v) => (j.welcome = v));
  take('<admin>', j.admin, fresh.jsm.admin, (v) => (j.admin = v));
  take('<vCard>', j.vcard?.toString(), fresh.jsm.vcard?.toString(), () => (j.vcard = fresh.jsm.vcard));
  take('<browse>', j.browse.map(String), fresh.jsm.browse.map(String), () => (j.browse = fresh.jsm.browse));
  take('<nounregister>', j.nounregister, fresh.jsm.nounregister, (v) => (j.nounregister = v));
  take('<register_policy>', j.registerPolicy, fresh.jsm.registerPolicy, (v) => (j.registerPolicy = v));
  take('<login_throttle>', j.loginThrottle, fresh.jsm.loginThrottle, (v) => (j.loginThrottle = v));
  return { applied, needsRestart };
}
