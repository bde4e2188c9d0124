// The stanzas mod_filter's <reply> and <forward> send, and the
// jabber:x:envelope entries that let the next filter on the way see where a
// stanza has been (1.4's only loop guard, kept so that 1.4 clients and
// servers on the path read the same trail).
import { parseJid, type Jid } from '../../jid.js';
import { Element } from '../../xml/element.js';

export const NS_ENVELOPE = 'jabber:x:envelope';

/** True when the stanza already passed this user's filter: a <forwardedby> names them. */
export function cameBack(stanza: Element, user: Jid): boolean {
  const envelope = stanza.getChild('x', NS_ENVELOPE);
  return envelope?.getChildren('forwardedby').some((f) => parseJid(f.attrs.jid ?? '')?.bare === user.bare) ?? false;
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
    const c = message.getChild(name);
    if (c) children.push(c.clone());
  }
  if (text !== '') children.push(new Element('body', {}, [text]));
  children.push(envelopeWith(message, [entry('forwardedby', recipient), entry('from', recipient), entry('to', sender)]));
  return new Element('message', { to: sender.toString(), from: recipient.toString(), type: message.attrs.type }, children);
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
