// jabber:iq:last (SPEC section 8): a user's last logout and its status,
// kept at the end of every session that was seen; the host answers with
// its uptime.
import { Element } from '../../xml/element.js';
import { NS_LAST } from '../../xdb/xdb.js';
import { monotonicMs, unixTime } from '../../util/time.js';
import { storedCount } from '../../util/whole-number.js';
import type { JsmModule } from '../api.js';
import { forAccount, iqResult, payloadIn } from '../iq.js';
import { stanzaError } from '../stanza-errors.js';
import { endStatus } from '../kept-presence.js';
import { isTrusted } from './trust.js';

export const modLast: JsmModule = {
  name: 'mod_last',
  setup(api) {
    // Uptime on a clock that only moves forward: a wall clock stepped back
    // after the start (NTP at boot) made it negative, stepped forward too long.
    const started = monotonicMs();
    api.on('deliver', async ({ stanza, to, from }) => {
      if (!payloadIn(stanza, NS_LAST) || !forAccount(api.sessions, to)) return 'pass';
      if (stanza.attrs.type !== 'get') throw stanzaError('not-allowed');
      if (!(await api.xdb.exists(to.host, to.user!))) throw stanzaError('item-not-found');
      // Trust checked after the read, right before the answer: checked
      // before, a cancellation during the read let the ex-contact have the
      // logout made after it.
      const record = await api.xdb.get(to.host, to.user!, NS_LAST);
      if (!(await isTrusted(api, to, from))) throw stanzaError('forbidden');
      // Only whole seconds are a time (see storedCount).
      const last = storedCount(record?.attrs.last);
      // COMPAT: no record (an account made by jabberctl adduser, a 1.4
      // spool without one), or one without a usable time, is an empty
      // result, as 1.4's mod_last_reply sent it.
      if (!record || last === undefined) return iqResult(stanza);
      const seconds = String(Math.max(0, unixTime() - last));
      return iqResult(stanza, new Element('query', { xmlns: NS_LAST, seconds }, [record.text()]));
    }, { stanzas: ['iq'] });
    api.on('server', ({ stanza, to }) => {
      if (stanza.name !== 'iq' || !payloadIn(stanza, NS_LAST) || to.resource !== undefined) return 'pass';
      if (stanza.attrs.type !== 'get') throw stanzaError('not-allowed');
      const seconds = String(Math.floor((monotonicMs() - started) / 1000));
      return iqResult(stanza, new Element('query', { xmlns: NS_LAST, seconds }));
    });
    api.on('session-end', async (s) => {
      // Only a session that was seen (1.4: "we only track logins that were
      // available"): the end of one that stayed invisible, or sent no
      // available presence at all (an unavailable one keeps no presence,
      // see mod_presence), would tell contacts polling jabber:iq:last when
      // the user was secretly online.
      if (s.presence === undefined || s.data.get('invisible')) return;
      // As 1.4 stored it: the status of the session's presence at its end,
      // empty when the goodbye had none.
      const status = endStatus(s) ?? '';
      const record = new Element('query', { xmlns: NS_LAST, last: String(unixTime()) }, [status]);
      // Nobody was promised this record: a deferred write saves a fsync per logout.
      await api.xdb.setSoon(s.host, s.user, { [NS_LAST]: record });
    });
  },
};
