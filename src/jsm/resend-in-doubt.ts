// What a session's lost connection may not have delivered is sent again
// when the session ends (see c2s/messages-in-doubt.ts for which messages
// are in doubt): to another session of the user, or into offline storage
// for the next login. Only messages to that user, from someone (the
// server's own, a motd or an announcement, are news of the moment), and
// no notices (composing, offline events...), which offline storage does
// not keep either.
import type { MessageInDoubt } from '../c2s/messages-in-doubt.js';
import { parseJid } from '../jid.js';
import type { Logger } from '../log.js';
import { parseXml } from '../xml/parse.js';
import type { Element } from '../xml/element.js';
import { countDown, isNotice } from './modules/mod_offline.js';
import { removeStamp } from './delay-stamp.js';
import type { Router } from './router.js';
import type { Session } from './sessions.js';

export async function resendInDoubt(session: Session, messages: MessageInDoubt[], router: Router, log: Logger): Promise<void> {
  const now = Date.now();
  let went = 0;
  // In the order they went: those from offline storage to the store's
  // front, each after the one put back before it.
  let putBack = 0;
  for (const { text, writtenAt, sentAt, resent, stored } of messages) {
    const message = readBack(text);
    if (!message || !worthResending(message, session)) continue;
    // Its jabber:x:expire counts down from when it was written (it was counted down to then if it had been sent again before): one expired since is not delivered again.
    if (!countDown(message, Math.floor((now - writtenAt.getTime()) / 1000))) continue;
    // Sent again before: it is stamped again as then, with the time it was first sent, not twice.
    if (resent) removeStamp(message);
    if (await router.again(message, sentAt, stored ? putBack++ : undefined)) went++;
  }
  if (went > 0) log.info({ user: session.jid.toString(), messages: went }, 'connection lost: messages it may not have delivered sent again');
}

/** The message as it was written (Yak's own serialization, which always parses back). */
function readBack(text: string): Element | undefined {
  try {
    return parseXml(text);
  } catch {
    return undefined;
  }
}

function worthResending(message: Element, session: Session): boolean {
  const to = parseJid(message.attrs.to ?? '');
  const from = parseJid(message.attrs.from ?? '');
  return to?.bare === session.jid.bare && from?.user !== undefined && !isNotice(message);
}
