// jabber:iq:time to the host, in the legacy form: <utc>, <tz>, <display>;
// a set gets 405, as in 1.4.
import { Element } from '../../xml/element.js';
import { legacyStamp } from '../../util/time.js';
import type { JsmModule } from '../api.js';
import { iqResult, payloadIn } from '../iq.js';
import { stanzaError } from '../stanza-errors.js';

const NS_TIME = 'jabber:iq:time';

export const modTime: JsmModule = {
  name: 'mod_time',
  setup(api) {
    api.on('server', ({ stanza, to }) => {
      if (stanza.name !== 'iq' || to.resource !== undefined || !payloadIn(stanza, NS_TIME)) return 'pass';
      // 1.4 bounced anything but a get with TERROR_NOTALLOWED (a result or
      // an error is never answered: see Router.bounce).
      if (stanza.attrs.type !== 'get') throw stanzaError('not-allowed');
      const now = new Date();
      return iqResult(
        stanza,
        new Element('query', { xmlns: NS_TIME }, [
          new Element('utc', {}, [legacyStamp(now)]),
          new Element('tz', {}, ['UTC']),
          new Element('display', {}, [now.toUTCString()]),
        ]),
      );
    });
  },
};
