// host/echo: every message sent there comes straight back (a ping for humans).
import { attrsWith, Element } from '../../xml/element.js';
import type { JsmModule } from '../api.js';

export const modEcho: JsmModule = {
  name: 'mod_echo',
  setup(api) {
    api.on('server', ({ stanza, to }) => {
      // As 1.4 compared it (strncasecmp of four letters): any resource that
      // starts with echo, in any case (Echo, echo/test, echo2).
      if (stanza.name !== 'message' || to.resource?.slice(0, 4).toLowerCase() !== 'echo' || stanza.attrs.type === 'error') return 'pass';
      return new Element('message', attrsWith(stanza.attrs, { to: stanza.attrs.from, from: stanza.attrs.to }), stanza.children);
    });
  },
};
