// <service id='sessions'>: the virtual hosts, the <jsm> options and the
// <load main='jsm'> module list.
import { Element } from '../xml/element.js';
import { ConfigError, type RegisterConfig, type WelcomeConfig, type YakConfig } from './types.js';
import { readLoginThrottle, readRegisterPolicy } from './policy.js';
import { readFilter } from './filter.js';
import { INT_MAX, about, intChild, messageTextOf, prepareBareJid, prepareHost, tag, yesNo } from './values.js';

const DEFAULT_OFFLINE_LIMIT = 1000;

export const JSM_NS = 'jabber:config:jsm';

/**
 * Names in <register> that are never fields of the form's own, and why:
 * username and password are in every form and stored apart (the password
 * only by the auth modules, never in the registration record an admin's
 * notice and jabberctl show print); key, registered and remove are words
 * of the protocol. Listed in the config they are left out (lint.ts warns).
 */
const ASKED_ANYWAY = 'asked for in every registration form already, and never kept with the fields';
const PROTOCOL = 'a word of the registration protocol, not a field';
export const NOT_REGISTRATION_FIELDS: ReadonlyMap<string, string> = new Map([
  ['username', ASKED_ANYWAY],
  ['password', ASKED_ANYWAY],
  ['key', PROTOCOL],
  ['registered', PROTOCOL],
  ['remove', PROTOCOL],
]);

export interface SessionsConfig {
  hosts: string[];
  jsm: YakConfig['jsm'];
}

/**
 * SPEC section 3: registration is offered iff the jsm config has
 * <register> and mod_register is in <load>. The server decides by it, and
 * --check reports it.
 */
export function registrationOffered(jsm: Pick<YakConfig['jsm'], 'register' | 'modules'>): boolean {
  return jsm.register !== undefined && jsm.modules.includes('mod_register');
}

export function readSessions(service: Element): SessionsConfig {
  const where = tag(service);
  const hosts: string[] = [];
  for (const h of service.getChildren('host')) {
    const host = about(h, () => prepareHost(h.text(), `${where}<host>`));
    // Duplicates are harmless (e.g. <host><jabberd:cmdline flag='h'>localhost</...></host>
    // next to <host>localhost</host> when -h is not given): keep one.
    if (!hosts.includes(host)) hosts.push(host);
  }
  if (hosts.length === 0) throw new ConfigError(`${where}: no <host> (the virtual host names to serve)`, service);

  // 1.4 found its options by namespace, whatever the element was called.
  const raw = service.getChildByNs(JSM_NS) ?? service.getChild('jsm') ?? new Element('jsm', { xmlns: JSM_NS });
  return {
    hosts,
    jsm: {
      modules: readModules(service),
      register: readRegister(raw.getChild('register')),
      welcome: readWelcome(raw.getChild('welcome')),
      admin: readAdmin(raw.getChild('admin')),
      vcard: raw.getChild('vCard'),
      browse: raw.getChild('browse')?.elements ?? [],
      zerokSequences: readSequences(raw.getChild('mod_auth_0k')),
      offlineLimit: readOfflineLimit(raw.getChild('mod_offline')),
      filter: readFilter(raw.getChild('filter')),
      nounregister: raw.getChild('nounregister') !== undefined,
      registerPolicy: readRegisterPolicy(raw.getChild('register_policy')),
      loginThrottle: readLoginThrottle(raw.getChild('login_throttle')),
      raw,
    },
  };
}

/**
 * Module names in <load main='jsm'> order. The element named by `main`
 * (<jsm>./jsm/jsm.so</jsm>) is the session manager itself, not a module;
 * the .so paths are meaningless to Yak and ignored. Unknown names are kept:
 * the module registry decides whether it can run them.
 */
function readModules(service: Element): string[] {
  const load = service.getChildren('load').find((l) => l.attr('main') !== undefined);
  if (!load) throw new ConfigError(`${tag(service)}: no <load main='jsm'> (the list of session manager modules)`, service);
  const main = load.attr('main');
  const modules: string[] = [];
  for (const m of load.elements) {
    if (m.name === main) continue;
    if (modules.includes(m.name)) throw new ConfigError(`${tag(load)}: module <${m.name}> is listed twice`, m);
    modules.push(m.name);
  }
  return modules;
}

function readRegister(reg: Element | undefined): RegisterConfig | undefined {
  if (!reg) return undefined;
  const require = reg.attr('require');
  if (require !== undefined && require !== 'all') {
    throw new ConfigError(`${tag(reg)}: require must be 'all' (or absent), got '${require}'`, reg);
  }
  const fields = reg.elements.filter((f) => !NOT_REGISTRATION_FIELDS.has(f.name));
  return { notify: yesNo(reg, 'notify'), requireAll: require === 'all', fields };
}

function readWelcome(w: Element | undefined): WelcomeConfig | undefined {
  if (!w) return undefined;
  // Keep inner spacing of the body as written; only trim the ends.
  return { subject: messageTextOf(w.getChild('subject')), body: messageTextOf(w.getChild('body')) };
}

function readAdmin(admin: Element | undefined): YakConfig['jsm']['admin'] {
  const read: string[] = [];
  const write: string[] = [];
  if (!admin) return { read, write };
  const reply = admin.getChild('reply');
  const add = (list: string[], jid: string): void => {
    if (!list.includes(jid)) list.push(jid);
  };
  for (const e of admin.elements) {
    if (e.name !== 'read' && e.name !== 'write') continue;
    const jid = about(e, () => prepareBareJid(e.text(), `<admin><${e.name}>`));
    // Write access implies read access, as in 1.4's mod_admin.
    add(read, jid);
    if (e.name === 'write') add(write, jid);
  }
  if (!reply) return { read, write };
  return { read, write, reply: { subject: messageTextOf(reply.getChild('subject')), body: messageTextOf(reply.getChild('body')) } };
}

/** <mod_offline><limit>N</limit></mod_offline> (Yak): messages kept per user. */
function readOfflineLimit(offline: Element | undefined): number {
  return offline ? intChild(offline, 'limit', 1, INT_MAX, DEFAULT_OFFLINE_LIMIT) : DEFAULT_OFFLINE_LIMIT;
}

function readSequences(zerok: Element | undefined): number {
  if (!zerok) return 500;
  return intChild(zerok, 'sequences', 1, 100000, 500);
}
