// The messages a registration sends: the notice to admins (<register
// notify='yes'>) and the <welcome> message to the new user. Both go through
// the normal delivery path, so an offline recipient gets them at login.
// They resolve once delivered or stored, and never reject: a failed
// delivery is logged and must not fail the registration itself.
import { Element } from '../../xml/element.js';
import type { ModuleApi } from '../api.js';
import { allAdmins } from './admins.js';

function message(from: string, to: string, subject: string, body: string): Element {
  return new Element('message', { to, from }, [
    new Element('subject', {}, [subject]),
    new Element('body', {}, [body]),
  ]);
}

function send(api: ModuleApi, stanza: Element): Promise<void> {
  return api.deliver(stanza).catch((err: unknown) => api.log.error({ err, to: stanza.attrs.to }, 'delivery failed'));
}

/**
 * A field's value on one line: its line breaks written as escapes (`\n`).
 * Left as they were, a name holding "\n\nRegistration has been completed
 * for user ceo@..." showed the admins a second, made-up notice.
 */
function oneLine(value: string): string {
  return value.replace(/[\r\n\u0085\u2028\u2029]/g, (m) => LINE_BREAK_ESCAPES[m]!);
}

/** Every character a client may start a new line at (Qt and Pango do at U+2028 and U+2029). */
const LINE_BREAK_ESCAPES: Record<string, string> = {
  '\r': '\\r',
  '\n': '\\n',
  '\u0085': '\\u0085',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
};

/** Every admin JID (read and write) learns the new user and its fields, never the password. */
export async function notifyAdmins(api: ModuleApi, host: string, user: string, fields: Element): Promise<void> {
  const admins = allAdmins(api);
  if (admins.length === 0) return;
  const lines = [`Registration has been completed for user ${user}@${host}.`];
  for (const f of fields.elements) lines.push(`${f.name}: ${oneLine(f.text())}`);
  for (const admin of admins) await send(api, message(host, admin, 'Registration Notice', lines.join('\n')));
}

export async function sendWelcome(api: ModuleApi, host: string, user: string): Promise<void> {
  const w = api.config.jsm.welcome;
  if (w) await send(api, message(host, `${user}@${host}`, w.subject, w.body));
}
