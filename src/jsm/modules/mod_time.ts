// jabber:iq:time to the host, in the legacy form: <utc>, <tz>, <display>.
import { Element } from '../../xml/element.js';
import { legacyStamp } from '../../util/time.js';
import type { JsmModule } from '../api.js';
import { iqResult } from '../iq.js';

const NS_TIME = 'jabber:iq:time';

export const modTime: JsmModule = {
  name: 'mod_time',
  setup(api) {
    api.on('server', ({ stanza, to }) => {
      if (stanza.name !== 'iq' || stanza.attrs.type !== 'get' || to.resource !== undefined) return 'pass';
      if (!stanza.getChild('query', NS_TIME)) return 'pass';
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
