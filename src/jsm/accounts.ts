// What a new account stores, whoever creates it (mod_register over the
// wire, jabberctl adduser from the shell): the auth modules' password
// records, the registration record stamped with jabber:x:delay, and
// jabber:iq:last 'Registered'.
import { Element } from '../xml/element.js';
import { NS_LAST, NS_REGISTER } from '../xdb/xdb.js';
import { unixTime } from '../util/time.js';
import { delayStamp } from './delay-stamp.js';
import type { PasswordEvent } from './api.js';
import { NOT_REGISTRATION_FIELDS } from '../config/sessions.js';

/**
 * The registration record without what an older Yak kept in it when
 * <register> listed <password/> (see NOT_REGISTRATION_FIELDS): a plaintext
 * password, maybe an old one. Undefined when the record holds none of it.
 * `record` is the caller's own copy; it is changed.
 */
export function withoutKeptPassword(record: Element | undefined): Element | undefined {
  if (!record?.elements.some((e) => NOT_REGISTRATION_FIELDS.has(e.name))) return undefined;
  for (const name of NOT_REGISTRATION_FIELDS.keys()) record.removeChildren(name);
  return record;
}

export function newAccountRecords(
  passwordRecords: (ev: PasswordEvent) => Record<string, Element | null>,
  host: string,
  user: string,
  password: string,
  fields: Element = new Element('query', { xmlns: NS_REGISTER }),
): Record<string, Element> {
  const registration = fields.clone();
  registration.children.push(delayStamp(undefined, 'registered'));
  const records: Record<string, Element> = {
    [NS_REGISTER]: registration,
    [NS_LAST]: new Element('query', { xmlns: NS_LAST, last: String(unixTime()) }, ['Registered']),
  };
  for (const [ns, rec] of Object.entries(passwordRecords({ host, user, password }))) if (rec) records[ns] = rec;
  return records;
}
