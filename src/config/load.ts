// jabber.xml -> YakConfig, in one validation pass. A real jabberd 1.4
// jabber.xml must load: what Yak provides is read and checked strictly,
// everything else (s2s, dnsrv, conference, other xdb backends, ...) is noted
// in `ignored` for one startup line, never an error.
import { resolve } from 'node:path';
import type { Element } from '../xml/element.js';
import { readC2s, PTHCSOCK_NS, tlsKeyFor, type IoDefaults } from './c2s.js';
import { canonicalAddress } from '../net/peer-address.js';
import { expandTree, includedFrom, parseConfigText, readConfigFile, type CmdlineValues } from './expand.js';
import { JSM_NS, readSessions, type SessionsConfig } from './sessions.js';
import { ConfigError, type YakConfig } from './types.js';
import { INT_MAX, about, intValue, resolvePath, tag, textOf } from './values.js';
import { DEFAULT_MAX_FILE_BYTES } from '../xdb/xdb.js';
import { at, IO, JSM, LOG, lintAuthModules, lintLoads, lintPlace, lintSections, PTHCSOCK, XDB_FILE } from './lint.js';

export { ConfigError } from './types.js';
export type { YakConfig } from './types.js';

/** Command-line values that replace <jabberd:cmdline flag='s'> / flag='h'. */
export interface ConfigOverrides {
  spool?: string;
  host?: string;
  /** A running server's SIGHUP: the file and its includes must be regular files, never pipes (see readConfigFile). */
  filesOnly?: boolean;
}

const XDB_FILE_NS = 'jabber:config:xdb_file';

export function loadConfig(file: string, overrides: ConfigOverrides = {}): YakConfig {
  const abs = resolve(file);
  return parseConfig(readConfigFile(abs, 'config file', overrides.filesOnly), abs, overrides);
}

/** Like loadConfig but with the text in hand (tests); includes are still read relative to `file`. */
export function parseConfig(text: string, file: string, overrides: ConfigOverrides = {}): YakConfig {
  const abs = resolve(file);
  const root = parseConfigText(text, abs);
  if (root.name !== 'jabber') throw new ConfigError(`${abs}: the root element must be <jabber>, not <${root.name}>`);
  const cmdline: CmdlineValues = { s: overrides.spool, h: overrides.host };
  const flags = expandTree(root, abs, cmdline, overrides.filesOnly);
  try {
    const config = readRoot(root, abs);
    // -s names the spool whatever the config says: a plain <spool>DIR</spool>
    // (no cmdline element) must not leave a tool on another spool than the
    // one it was told, without a word (jabberctl -s BACKUP deluser...).
    if (overrides.spool !== undefined && !flags.has('s')) config.spool = resolvePath(overrides.spool);
    // A host is named in many places; -h only ever filled in the cmdline one.
    if (overrides.host !== undefined && !flags.has('h')) {
      config.warnings.push(`-h ${overrides.host}: the config has no <jabberd:cmdline flag='h'>, so it changes nothing`);
    }
    return config;
  } catch (err) {
    // After expansion one tree holds every file: an element read from an
    // included one is no help to look for in the main file, so name it.
    const from = err instanceof ConfigError && err.element ? includedFrom(err.element) : undefined;
    if (from !== undefined) throw new ConfigError(`${from}: ${(err as ConfigError).message}`, (err as ConfigError).element);
    throw err;
  }
}

function readRoot(root: Element, file: string): YakConfig {
  const ignored: string[] = [];
  let sessionsEl: Element | undefined;
  let c2sEl: Element | undefined;
  let xdbEl: Element | undefined;
  let ioEl: Element | undefined;
  const pidfiles: Element[] = [];
  const logs: Element[] = [];

  // First sort the sections; c2s needs the hosts and the <io> defaults, so
  // the readers run afterwards whatever the order in the file.
  for (const el of root.elements) {
    switch (el.name) {
      case 'service': {
        const kind = serviceKind(el);
        if (kind === 'sessions') sessionsEl = once(sessionsEl, el, 'a second session manager service');
        else if (kind === 'c2s') c2sEl = once(c2sEl, el, 'a second c2s service');
        else ignored.push(describe('service', el));
        break;
      }
      case 'xdb':
        if (isXdbFile(el)) xdbEl = once(xdbEl, el, 'a second xdb_file section (Yak keeps one spool)');
        else ignored.push(describe('xdb', el));
        break;
      case 'log':
        logs.push(el);
        break;
      case 'io':
        ioEl = once(ioEl, el, 'a second <io> section');
        break;
      case 'pidfile':
        pidfiles.push(el);
        break;
      default:
        ignored.push(`<${el.name}>`);
    }
  }

  if (!sessionsEl) {
    throw new ConfigError(`${file}: no session manager (<service id='sessions'> with <jsm xmlns='${JSM_NS}'> and <load main='jsm'>)`);
  }
  // Without c2s nobody can connect; refusing is clearer than a silent server.
  if (!c2sEl) throw new ConfigError(`${file}: no c2s service (<service id='c2s'> with <pthcsock xmlns='${PTHCSOCK_NS}'>)`);
  if (!xdbEl) throw new ConfigError(`${file}: no xdb_file section (<xdb id='xdb'> with <xdb_file xmlns='${XDB_FILE_NS}'><spool>)`);

  // Each reader's errors are tied to its section at least (about()), so
  // every message can name the file it came from.
  const warnings = lint(sessionsEl, c2sEl, xdbEl, ioEl, logs, pidfiles);
  const sessions: SessionsConfig = about(sessionsEl, () => readSessions(sessionsEl));
  lintAuthModules(sessions.jsm.modules, warnings);
  const io = ioEl ? about(ioEl, () => readIo(ioEl, ignored)) : readIo(undefined, ignored);
  const c2s = about(c2sEl, () => readC2s(c2sEl, sessions.hosts, io.defaults));
  checkTlsKeys(c2sEl, c2s.ssl, io.tlsKeys);

  return {
    file,
    hosts: sessions.hosts,
    jsm: sessions.jsm,
    c2s,
    spool: about(xdbEl, () => readSpool(xdbEl)),
    maxFileBytes: about(xdbEl, () => readMaxFileBytes(xdbEl)),
    tlsKeys: io.tlsKeys,
    // The first, as 1.4 read it (lint() warns about the others).
    pidfile: textOf(pidfiles[0]) === '' ? undefined : resolvePath(textOf(pidfiles[0])),
    log: readLogs(logs, ignored),
    ignored,
    warnings,
  };
}

/** Warnings about what Yak reads: unknown elements there, second copies of single ones (see lint.ts). */
function lint(sessions: Element, c2s: Element, xdb: Element, io: Element | undefined, logs: Element[], pidfiles: Element[]): string[] {
  const warnings: string[] = [];
  for (const [section, ns, name, place] of [
    [sessions, JSM_NS, 'jsm', JSM],
    [c2s, PTHCSOCK_NS, 'pthcsock', PTHCSOCK],
    [xdb, XDB_FILE_NS, 'xdb_file', XDB_FILE],
  ] as const) {
    // The readers take the first child in the namespace, else the first by name.
    const byNs = section.elements.filter((e) => e.attrs.xmlns === ns);
    const copies = byNs.length > 0 ? byNs : section.getChildren(name);
    lintSections(copies, `${tag(section)}<${name}>`, warnings);
    if (copies[0]) lintPlace(copies[0], place, warnings);
  }
  // What belongs inside <pthcsock> written beside it: never read, so a
  // listener meant for the loopback address silently went to every one.
  for (const stray of c2s.elements.filter((e) => e.attrs.xmlns !== PTHCSOCK_NS && PTHCSOCK.reads.includes(e.name))) {
    warnings.push(at(stray, `${tag(c2s)}<${stray.name}>`) + ': outside <pthcsock>, where it is not read; ignored (move it inside <pthcsock>)');
  }
  lintLoads(sessions, warnings);
  if (io) lintPlace(io, IO, warnings);
  for (const l of logs) lintPlace(l, LOG, warnings);
  lintSections(pidfiles, '<pidfile>', warnings);
  return warnings;
}

function once(current: Element | undefined, el: Element, what: string): Element {
  if (current) throw new ConfigError(`${tag(el)}: ${what}; the first is ${tag(current)}`, el);
  return el;
}

/**
 * A service is recognised by what it loads, as jabberd did, with the
 * conventional ids as a fallback so that a half-written section gets a
 * precise error instead of being silently ignored.
 */
function serviceKind(el: Element): 'sessions' | 'c2s' | 'other' {
  const loads = el.getChildren('load');
  if (loads.some((l) => l.attr('main') === 'jsm') || el.getChildByNs(JSM_NS)) return 'sessions';
  if (loads.some((l) => l.getChild('pthsock_client')) || el.getChildByNs(PTHCSOCK_NS)) return 'c2s';
  if (el.attr('id') === 'sessions') return 'sessions';
  if (el.attr('id') === 'c2s') return 'c2s';
  return 'other';
}

function isXdbFile(el: Element): boolean {
  return el.getChildren('load').some((l) => l.getChild('xdb_file')) || el.getChildByNs(XDB_FILE_NS) !== undefined;
}

/** "service s2s (dialback)": the id plus what it would have loaded or connected to. */
function describe(kind: string, el: Element): string {
  const what = el.getChildren('load').flatMap((l) => l.elements.map((m) => m.name));
  for (const n of ['accept', 'connect', 'exec']) if (el.getChild(n)) what.push(n);
  const id = el.attr('id') ?? '(no id)';
  return what.length > 0 ? `${kind} ${id} (${what.join(', ')})` : `${kind} ${id}`;
}

function readSpool(xdb: Element): string {
  const cfg = xdb.getChildByNs(XDB_FILE_NS) ?? xdb.getChild('xdb_file');
  const spool = textOf(cfg?.getChild('spool'));
  if (spool === '') {
    throw new ConfigError(`${tag(xdb)}: no <xdb_file xmlns='${XDB_FILE_NS}'><spool>DIR</spool> (where user data lives)`, cfg?.getChild('spool') ?? cfg ?? xdb);
  }
  return resolvePath(spool);
}

/**
 * The smallest cap accepted besides 0: a registration brings up to a
 * pre-login stanza (65,536 characters by default) of fields, and a cap
 * below that could refuse accounts the server otherwise accepts.
 */
const MAX_FILE_BYTES_MIN = 65536;

/** <xdb_file><maxfilesize>BYTES</maxfilesize> (Yak): the cap on one user's file; 0 = none. */
function readMaxFileBytes(xdb: Element): number {
  const cfg = xdb.getChildByNs(XDB_FILE_NS) ?? xdb.getChild('xdb_file');
  const el = cfg?.getChild('maxfilesize');
  if (!cfg || !el) return DEFAULT_MAX_FILE_BYTES;
  const where = `${tag(cfg)}<maxfilesize>`;
  const n = about(el, () => intValue(el.text(), where, 'maxfilesize', 0, INT_MAX, DEFAULT_MAX_FILE_BYTES));
  if (n !== 0 && n < MAX_FILE_BYTES_MIN) {
    throw new ConfigError(`${where}: maxfilesize must be 0 (no cap) or at least ${MAX_FILE_BYTES_MIN} bytes, got '${n}'`, el);
  }
  return n;
}

function readIo(io: Element | undefined, ignored: string[]): { defaults: IoDefaults; tlsKeys: Map<string, string> } {
  const tlsKeys = new Map<string, string>();
  if (!io) return { defaults: { karma: undefined, rate: undefined }, tlsKeys };
  for (const el of io.elements) {
    if (el.name === 'ssl') {
      for (const key of el.getChildren('key')) {
        // A key without ip (or ip='*') serves any address, as in later 1.4.x.
        const written = key.attr('ip')?.trim() || '*';
        const ip = written === '*' ? written : canonicalAddress(written);
        if (ip === undefined) throw new ConfigError(`${tag(key)}: '${written}' is not an IP address`, key);
        const pem = textOf(key);
        if (pem === '') throw new ConfigError(`${tag(key)}: empty file name (a PEM file with key and certificate)`, key);
        if (tlsKeys.has(ip)) throw new ConfigError(`${tag(key)}: a second key for ${ip}`, key);
        tlsKeys.set(ip, resolvePath(pem));
      }
    } else if (el.name === 'allow' || el.name === 'deny') {
      ignored.push(`io <${el.name}> (IP access lists are not supported; use a firewall)`);
    } else if (el.name !== 'karma' && el.name !== 'rate') {
      ignored.push(`io <${el.name}>`);
    }
  }
  return { defaults: { karma: io.getChild('karma'), rate: io.getChild('rate') }, tlsKeys };
}

/** A direct-TLS listener without a key could only fail at bind time; say so now. */
function checkTlsKeys(c2s: Element, ssl: YakConfig['c2s']['ssl'], keys: Map<string, string>): void {
  for (const l of ssl) {
    if (tlsKeyFor(keys, l.address)) continue;
    const listener = l.address === undefined ? `<ssl port='${l.port}'/>` : `<ssl port='${l.port}'>${l.address}</ssl>`;
    throw new ConfigError(
      `${tag(c2s)}${listener}: no <io><ssl><key ip='${l.address ?? '*'}'>file.pem</key></ssl></io> for this address`,
      c2s,
    );
  }
}

/**
 * Yak has one log (pino): the first <file> found is its file, any <stderr/>
 * also sends it to stderr. Formats, log types and further files are 1.4
 * specifics we note and skip.
 */
function readLogs(logs: Element[], ignored: string[]): YakConfig['log'] {
  const log: YakConfig['log'] = { file: undefined, stderr: false };
  for (const l of logs) {
    const id = l.attr('id') ?? '(no id)';
    for (const f of l.getChildren('file')) {
      const name = textOf(f);
      if (name === '') continue;
      if (log.file === undefined) log.file = resolvePath(name);
      else ignored.push(`log ${id} file ${name} (only the first <file> is used)`);
    }
    if (l.getChild('stderr')) log.stderr = true;
    if (l.getChild('syslog')) ignored.push(`log ${id} <syslog>`);
  }
  return log;
}
