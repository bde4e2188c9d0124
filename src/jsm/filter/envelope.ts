// The stanzas mod_filter's <reply> and <forward> send, and the
// jabber:x:envelope entries that let the next filter on the way see where a
// stanza has been (1.4's only loop guard, kept so that 1.4 clients and
// servers on the path read the same trail).
import { parseJid, type Jid } from '../../jid.js';
import { Element } from '../../xml/element.js';
import { clientChild } from '../client-children.js';

const NS_ENVELOPE = 'jabber:x:envelope';

/**
 * Filters a message may pass through on forwards and replies. With at most
 * MAX_FORWARD_TARGETS (rules.ts) per user, one message makes at most
 * 5 + 25 + 125 copies however many users forward to each other.
 */
export const MAX_FORWARD_HOPS = 3;

function forwarders(stanza: Element): Element[] {
  return stanza.getChild('x', NS_ENVELOPE)?.getChildren('forwardedby') ?? [];
}

/** True when the stanza already passed this user's filter: a <forwardedby> names them. */
export function cameBack(stanza: Element, user: Jid): boolean {
  return forwarders(stanza).some((f) => parseJid(f.attrs.jid ?? '')?.bare === user.bare);
}

/** Whether `user`'s filter may forward or answer the stanza: it has not been round already, nor too far. */
export function mayPassOn(stanza: Element, user: Jid): boolean {
  return forwarders(stanza).length < MAX_FORWARD_HOPS && !cameBack(stanza, user);
}

/** The stanza's envelope entries (copies), then `added`. */
function envelopeWith(stanza: Element, added: Element[]): Element {
  const old = stanza.getChild('x', NS_ENVELOPE);
  return new Element('x', { xmlns: NS_ENVELOPE }, [...(old?.elements.map((e) => e.clone()) ?? []), ...added]);
}

const entry = (name: string, jid: Jid): Element => new Element(name, { jid: jid.toString() });

/**
 * The automatic answer to `message`, addressed to `recipient` and sent by
 * `sender`: same type, its subject and thread, `text` as the body (none
 * when empty).
 */
export function autoReply(message: Element, text: string, recipient: Jid, sender: Jid): Element {
  const children: Element[] = [];
  for (const name of ['subject', 'thread']) {
    const c = clientChild(message, name);
    if (c) children.push(c.clone());
  }
  if (text !== '') children.push(new Element('body', {}, [text]));
  children.push(envelopeWith(message, [entry('forwardedby', recipient), entry('from', recipient), entry('to', sender)]));
  return new Element('message', { to: sender.toString(), from: recipient.toString(), type: message.attrs.type, id: message.attrs.id }, children);
}

/** A copy of `message` for each target, from the user it was addressed to, the trail in its envelope. */
export function forwardCopies(message: Element, targets: Jid[], recipient: Jid, sender: Jid): Element[] {
  const envelope = envelopeWith(message, [
    entry('forwardedby', recipient),
    entry('from', sender),
    ...targets.map((t) => entry('cc', t)),
  ]);
  return targets.map((target) => {
    const copy = message.clone();
    copy.children = copy.children.filter((c) => typeof c === 'string' || c.name !== 'x' || c.attrs.xmlns !== NS_ENVELOPE);
    copy.children.push(envelope.clone());
    copy.attrs.to = target.toString();
    copy.attrs.from = recipient.toString();
    return copy;
  });
}
