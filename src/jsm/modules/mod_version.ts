// jabber:iq:version to the host: name, version, os; a set gets 405, as in 1.4.
import os from 'node:os';
import { Element } from '../../xml/element.js';
import type { JsmModule } from '../api.js';
import { iqResult, payloadIn } from '../iq.js';
import { stanzaError } from '../stanza-errors.js';
import { YAK_VERSION } from '../../version.js';

const NS_VERSION = 'jabber:iq:version';

export const modVersion: JsmModule = {
  name: 'mod_version',
  setup(api) {
    const osName = `${os.type()} ${os.release()}`;
    api.on('server', ({ stanza, to }) => {
      if (stanza.name !== 'iq' || to.resource !== undefined || !payloadIn(stanza, NS_VERSION)) return 'pass';
      // 1.4 bounced anything but a get with TERROR_NOTALLOWED (a result or
      // an error is never answered: see Router.bounce).
      if (stanza.attrs.type !== 'get') throw stanzaError('not-allowed');
      return iqResult(
        stanza,
        new Element('query', { xmlns: NS_VERSION }, [
          new Element('name', {}, ['Yak']),
          new Element('version', {}, [YAK_VERSION]),
          new Element('os', {}, [osName]),
        ]),
      );
    });
  },
};
