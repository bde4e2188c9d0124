// host/echo: every message sent there comes straight back (a ping for humans).
import { Element } from '../../xml/element.js';
import type { JsmModule } from '../api.js';

export const modEcho: JsmModule = {
  name: 'mod_echo',
  setup(api) {
    api.on('server', ({ stanza, to }) => {
      // In any case, as 1.4 compared it (strncasecmp): whoever types Echo means it.
      if (stanza.name !== 'message' || to.resource?.toLowerCase() !== 'echo' || stanza.attrs.type === 'error') return 'pass';
      return new Element('message', { ...stanza.attrs, to: stanza.attrs.from, from: stanza.attrs.to }, stanza.children);
    });
  },
};
