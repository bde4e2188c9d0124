// Warnings, never errors, about the parts of jabber.xml Yak reads (c2s,
// jsm, xdb_file, log): an element it does not know there, which it would
// otherwise skip without a word (a typo such as <authtme> switches nothing
// on), and a second copy of an element of which only the first is read.
// What 1.4 itself had in those places and Yak does not implement passes
// quietly, and sections Yak does not provide are not looked into: a real
// 1.4 file gives no warnings.
import type { Element } from '../xml/element.js';
import { includedFrom } from './expand.js';
import { tag } from './values.js';
import { NOT_REGISTRATION_FIELDS } from './sessions.js';

/** What may stand below one element. */
export interface Place {
  /** Children Yak reads. */
  reads: readonly string[];
  /** Of those, the ones read once: the first wins. */
  once?: readonly string[];
  /** Children 1.4 had here that Yak does not read: no warning. */
  tolerated?: readonly string[];
  /** Other children are not warned about at all (a place shared with 1.4 features: <io>). */
  open?: boolean;
  /** Children that look like values here but are never read: name -> why (said in the warning). */
  leftOut?: ReadonlyMap<string, string>;
  /** `mod_*` children are the options of modules Yak may not provide: no warning (the jsm). */
  moduleOptions?: boolean;
  /** Attributes read on children, by child name: any other is warned about (`<ip prot='5222'>` switched nothing, and the listener went to every address's 5222). */
  attrs?: Readonly<Record<string, readonly string[]>>;
  /** Places further down, by child name. */
  below?: Readonly<Record<string, Place>>;
  /**
   * Of the children read, those whose value is their text: an element in
   * one is not read, and the text around it is joined (`<authtime>1<x/>20`
   * reads 120, `<authtime><seconds>30</seconds>` nothing, so no limit).
   */
  values?: readonly string[];
}

const KARMA_VALUES = ['init', 'max', 'inc', 'dec', 'penalty', 'restore'];
const KARMA: Place = { reads: KARMA_VALUES, once: KARMA_VALUES, tolerated: ['heartbeat'], values: KARMA_VALUES };

const LIMIT_VALUES = ['outbuffer', 'idle', 'keepalive', 'preauthstanza', 'preauthmemory', 'sessionmemory', 'sessions', 'stanza', 'depth'];
const LIMITS: Place = {
  reads: ['connections', 'queue', ...LIMIT_VALUES],
  once: ['connections', 'queue', ...LIMIT_VALUES],
  values: LIMIT_VALUES,
};

export const PTHCSOCK: Place = {
  reads: ['ip', 'ssl', 'alias', 'authtime', 'karma', 'rate', 'limits'],
  attrs: { ip: ['port'], ssl: ['port'] },
  once: ['authtime', 'karma', 'rate', 'limits'],
  tolerated: ['heartbeat'],
  below: { karma: KARMA, limits: LIMITS },
  values: ['ip', 'ssl', 'alias', 'authtime'],
};

const SUBJECT_BODY: Place = { reads: ['subject', 'body'], once: ['subject', 'body'], values: ['subject', 'body'] };

const JSM_READS = [
  'register', 'welcome', 'admin', 'vCard', 'browse', 'mod_auth_0k', 'mod_offline', 'filter',
  'nounregister', 'register_policy', 'login_throttle',
];

export const JSM: Place = {
  reads: JSM_READS,
  once: JSM_READS,
  // 1.4's own options for features Yak does not have (mod_update, the JUD link, disco, ...).
  tolerated: ['update', 'vcard2jud', 'disco', 'agents', 'presence', 'archive', 'groups'],
  moduleOptions: true,
  below: {
    welcome: SUBJECT_BODY,
    admin: { reads: ['read', 'write', 'reply'], once: ['reply'], below: { reply: SUBJECT_BODY }, values: ['read', 'write'] },
    mod_auth_0k: { reads: ['sequences'], once: ['sequences'], values: ['sequences'] },
    mod_offline: { reads: ['limit'], once: ['limit'], values: ['limit'] },
    filter: {
      reads: ['default', 'max_size', 'allow'],
      once: ['default', 'max_size', 'allow'],
      values: ['max_size'],
      below: { allow: { reads: ['conditions', 'actions'], once: ['conditions', 'actions'] } },
    },
    register_policy: { reads: ['rate', 'allow', 'reserved', 'minpassword'], once: ['rate', 'minpassword'], values: ['minpassword'] },
    login_throttle: { reads: ['exempt'] },
    // Every other child is a field of the form (name, email, ...).
    register: {
      reads: [],
      open: true,
      leftOut: NOT_REGISTRATION_FIELDS,
    },
  },
};

export const XDB_FILE: Place = {
  reads: ['spool', 'maxfilesize'],
  once: ['spool', 'maxfilesize'],
  tolerated: ['timeout', 'maxfiles'],
  values: ['spool', 'maxfilesize'],
};

export const LOG: Place = { reads: ['file', 'stderr'], tolerated: ['host', 'logtype', 'format', 'syslog'], values: ['file'] };

export const IO: Place = { reads: ['karma', 'rate', 'ssl'], once: ['karma', 'rate'], open: true, below: { karma: KARMA } };

/**
 * Edit distance, for "did you mean", with two letters swapped counting as
 * one slip (`<raet>` for `<rate>`), as typing makes them: names are short,
 * so the plain table is cheap.
 */
function distance(a: string, b: string): number {
  let before: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j]!, before[j - 2]! + 1);
    }
    before = prev;
    prev = row;
  }
  return prev[b.length]!;
}

/** The name Yak reads that `name` is most likely a slip for, if any is close. */
function likelyMeant(name: string, reads: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const r of reads) {
    const d = distance(lower, r.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [r, d];
  }
  return bestDistance <= (name.length >= 5 ? 2 : 1) ? best : undefined;
}

/** "<authtime>120</authtime>" shown short: its text when it has no children, else nothing. */
function shown(el: Element): string {
  if (el.elements.length > 0) return '';
  const text = el.text().trim();
  return text.length > 0 && text.length <= 60 ? ` (${text})` : '';
}

/** Where a message about `el` points: the included file it came from, if any, then the path. */
export function at(el: Element, path: string): string {
  const from = includedFrom(el);
  return from === undefined ? path : `${from}: ${path}`;
}

/** Warnings about the children of `el`, a place of the given kind, and below. */
export function lintPlace(el: Element, place: Place, warnings: string[], path = tag(el)): void {
  const seen = new Map<string, Element[]>();
  for (const child of el.elements) {
    const list = seen.get(child.name);
    if (list) list.push(child);
    else seen.set(child.name, [child]);
  }
  for (const [name, copies] of seen) {
    const first = copies[0]!;
    const leftOutBecause = place.leftOut?.get(name);
    if (leftOutBecause !== undefined) {
      warnings.push(at(first, `${path}<${name}>`) + `: ${leftOutBecause}; ignored`);
      continue;
    }
    if (place.reads.includes(name)) {
      if (copies.length > 1 && place.once?.includes(name)) {
        warnings.push(
          at(copies[1]!, `${path}<${name}>`) +
            `: given ${copies.length} times; only the first${shown(first)} is read, the others are ignored`,
        );
      }
      const below = place.below?.[name];
      if (below) lintPlace(first, below, warnings, `${path}<${name}>`);
      const attrs = place.attrs?.[name];
      for (const copy of attrs ? copies : []) {
        for (const attr of Object.keys(copy.attrs).filter((a) => a !== 'xmlns' && !a.startsWith('xmlns:') && !attrs!.includes(a))) {
          const meant = likelyMeant(attr, attrs!);
          warnings.push(at(copy, `${path}<${name}>`) + `: attribute ${attr}='${copy.attrs[attr]}' is not read here; ignored` + (meant ? ` (did you mean ${meant}?)` : ''));
        }
      }
      // Each copy read: the first of one read once, every one of the others (<ip>, <read>).
      const read = place.once?.includes(name) ? [first] : copies;
      for (const copy of place.values?.includes(name) ? read : []) {
        const inside = copy.elements[0];
        if (!inside) continue;
        const text = copy.text().trim();
        warnings.push(
          at(copy, `${path}<${name}>`) +
            `: holds an element, <${inside.name}>, which is not read: the value is the text around it` +
            (text === '' ? ', none here, so the default' : ` (${text.length <= 60 ? text : `${text.slice(0, 60)}...`})`),
        );
      }
      continue;
    }
    const meant = likelyMeant(name, place.reads);
    if (meant !== undefined) {
      warnings.push(at(first, `${path}<${name}>`) + `: not an element Yak reads here; ignored (did you mean <${meant}>?)`);
    } else if (!place.open && !place.tolerated?.includes(name) && !(place.moduleOptions && name.startsWith('mod_'))) {
      warnings.push(at(first, `${path}<${name}>`) + ': not an element Yak reads here; ignored');
    }
  }
}

/** A second copy of a section of which only the first is read (two <jsm> in one service, two <pidfile>). */
export function lintSections(copies: Element[], what: string, warnings: string[]): void {
  if (copies.length < 2) return;
  warnings.push(at(copies[1]!, what) + `: given ${copies.length} times; only the first${shown(copies[0]!)} is read, the others are ignored`);
}

/**
 * mod_auth_digest checks against the plaintext only mod_auth_plain stores:
 * loaded without it, it offers and takes nothing (a plaintext kept from
 * before must not go on logging in by digest).
 */
export function lintAuthModules(modules: readonly string[], warnings: string[]): void {
  if (modules.includes('mod_auth_digest') && !modules.includes('mod_auth_plain')) {
    warnings.push('<load>: mod_auth_digest without mod_auth_plain does nothing: digest needs the plaintext password, which only mod_auth_plain stores');
  }
}

/**
 * A second <load main='...'> in the sessions service. 1.4 ran each <load>
 * on its own (its loader calls the main function once per <load>): a second
 * one started a second session manager with its own modules, never more
 * modules for the first. Yak runs one session manager, with the modules of
 * the first, and names those only the others list.
 */
export function lintLoads(service: Element, warnings: string[]): void {
  // The ones readModules() takes the first of.
  const loads = service.getChildren('load').filter((l) => l.attr('main') !== undefined);
  if (loads.length < 2) return;
  const modules = (l: Element): string[] => l.elements.filter((m) => m.name !== l.attr('main')).map((m) => m.name);
  const read = new Set(modules(loads[0]!));
  const dropped = [...new Set(loads.slice(1).flatMap(modules))].filter((m) => !read.has(m));
  warnings.push(
    at(loads[1]!, `${tag(service)}${tag(loads[1]!)}`) +
      `: given ${loads.length} times; only the first is read, the others are ignored` +
      (dropped.length > 0 ? ` (not loaded: ${dropped.join(', ')})` : ''),
  );
}
