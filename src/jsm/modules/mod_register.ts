// jabber:iq:register (SPEC sections 3 and 4): account creation before a
// session; field updates, password change and removal inside one.
import { randomBytes } from 'node:crypto';
import { nodeprep } from '../../jid.js';
import { Element } from '../../xml/element.js';
import { NS_REGISTER, type Changes } from '../../xdb/xdb.js';
import { newAccountRecords, withoutKeptPassword } from '../accounts.js';
import type { JsmModule, ModuleApi, RegisterRequest } from '../api.js';
import { iqResult } from '../iq.js';
import { stanzaError } from '../stanza-errors.js';
import { notifyAdmins, sendWelcome } from './registration-messages.js';
import { trimXmlSpace } from '../../xml/chars.js';

/** The fields a client may fill in: the <register> children other than <instructions>. */
function fieldNames(api: ModuleApi): string[] {
  return (api.config.jsm.register?.fields ?? []).map((f) => f.name).filter((n) => n !== 'instructions');
}

/** The registration record: only the configured fields the client sent, never username/password. */
function registrationRecord(api: ModuleApi, query: Element): Element {
  const record = new Element('query', { xmlns: NS_REGISTER });
  for (const name of fieldNames(api)) {
    const field = query.getChild(name);
    if (field) record.children.push(new Element(name, {}, [field.text()]));
  }
  return record;
}

function requiredText(query: Element, name: string): string {
  const text = query.getChildText(name);
  if (text === undefined || text === '') throw stanzaError('not-acceptable');
  return text;
}

/**
 * What a request to create an account must hold (SPEC section 3), checked
 * before anything else looks at it (the register policies too: a reserved
 * name sent without a password is a 406, as for any name): the prepared
 * username (spaces around it trimmed, as at login) and the password; with
 * <register require='all'>, every listed field, and a field of only white
 * space is as good as missing. Throws 406 otherwise.
 */
export function newAccountRequest(api: ModuleApi, query: Element): { user: string; password: string } {
  const user = nodeprep(trimXmlSpace(requiredText(query, 'username')));
  if (!user) throw stanzaError('not-acceptable');
  const password = requiredText(query, 'password');
  if (api.config.jsm.register?.requireAll) {
    for (const name of fieldNames(api)) if (!query.getChildText(name)?.trim()) throw stanzaError('not-acceptable');
  }
  return { user, password };
}

async function createAccount(api: ModuleApi, req: RegisterRequest): Promise<Element> {
  const { query, host } = req;
  if (query.getChild('remove')) throw stanzaError('not-allowed');
  const { user, password } = newAccountRequest(api, query);
  const config = api.config.jsm.register!;
  const fields = registrationRecord(api, query);
  const records = newAccountRecords((ev) => api.passwordRecords(ev), host, user, password, fields);
  if (!(await api.xdb.create(host, user, records))) throw stanzaError('conflict', 'Username Not Available');
  api.log.info({ user, host, address: req.client.address }, 'registered');
  await api.notify('user-created', { host, user, fields, address: req.client.address });
  // Delivered (or stored) before the reply: a client that logs in right
  // after registering finds its welcome waiting, not still on its way.
  if (config.notify) await notifyAdmins(api, host, user, fields);
  await sendWelcome(api, host, user);
  return new Element('iq', { type: 'result', id: req.iq.attrs.id });
}

function preSessionForm(api: ModuleApi, req: RegisterRequest): Element {
  const query = new Element('query', { xmlns: NS_REGISTER });
  for (const f of api.config.jsm.register!.fields) query.children.push(f.clone());
  query.children.push(new Element('username'), new Element('password'));
  return new Element('iq', { type: 'result', id: req.iq.attrs.id }, [query]);
}

async function ownForm(api: ModuleApi, req: RegisterRequest): Promise<Element> {
  const s = req.session!;
  // The form as configured when the request came: a SIGHUP during the read
  // below may take <register> away (it answered 500 then).
  const { fields } = api.config.jsm.register!;
  const current = await api.xdb.get(s.host, s.user, NS_REGISTER);
  const query = new Element('query', { xmlns: NS_REGISTER }, [new Element('password')]);
  for (const f of fields) {
    const value = f.name === 'instructions' ? undefined : current?.getChildText(f.name);
    query.children.push(value === undefined ? f.clone() : new Element(f.name, {}, [value]));
  }
  query.children.push(new Element('key', {}, [randomBytes(20).toString('hex')]), new Element('registered'));
  return iqResult(req.iq, query);
}

async function updateAccount(api: ModuleApi, req: RegisterRequest): Promise<Element | 'handled'> {
  const { query, iq } = req;
  const s = req.session!;
  const username = trimXmlSpace(query.getChildText('username') ?? '');
  // A session only ever changes its own account.
  if (username && nodeprep(username) !== s.user) throw stanzaError('not-allowed');
  if (query.getChild('remove')) {
    if (api.config.jsm.nounregister) throw stanzaError('not-allowed');
    // The result goes out once the removal is durable (removeUser sends it).
    await api.removeUser(s.host, s.user, { asked: { session: s, iq } });
    api.log.info({ user: s.user, host: s.host, address: s.transport.address }, 'unregistered');
    return 'handled';
  }
  const changes: Changes = {};
  const password = query.getChildText('password');
  if (password !== undefined) {
    if (password === '') throw stanzaError('not-acceptable');
    Object.assign(changes, api.passwordRecords({ host: s.host, user: s.user, password }));
  }
  const fields = registrationRecord(api, query);
  if (fields.elements.length > 0 || Object.keys(changes).length > 0) {
    // The fields merge into the record as it is when written, under the
    // user's lock: two resources changing different fields at once keep both.
    await api.xdb.set(s.host, s.user, (current) => {
      // What an older Yak kept here with a <register> listing <password/>: gone at the next change.
      const scrubbed = withoutKeptPassword(current(NS_REGISTER));
      if (fields.elements.length === 0) return scrubbed ? { ...changes, [NS_REGISTER]: scrubbed } : changes;
      const record = scrubbed ?? current(NS_REGISTER) ?? new Element('query', { xmlns: NS_REGISTER });
      for (const f of fields.elements) {
        record.removeChildren(f.name);
        record.children.push(f.clone());
      }
      return { ...changes, [NS_REGISTER]: record };
    });
  }
  if (password !== undefined) api.log.info({ user: s.user, host: s.host, address: s.transport.address }, 'password changed');
  return iqResult(iq);
}

export const modRegister: JsmModule = {
  name: 'mod_register',
  setup(api) {
    api.on('register', async (req) => {
      const type = req.iq.attrs.type;
      if (type !== 'get' && type !== 'set') throw stanzaError('bad-request');
      if (!req.session) return type === 'get' ? preSessionForm(api, req) : createAccount(api, req);
      return type === 'get' ? ownForm(api, req) : updateAccount(api, req);
    });
  },
};
