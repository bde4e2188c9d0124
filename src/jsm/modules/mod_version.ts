// jabber:iq:version to the host: name, version, os.
import os from 'node:os';
import { Element } from '../../xml/element.js';
import type { JsmModule } from '../api.js';
import { iqResult } from '../iq.js';
import { YAK_VERSION } from '../../version.js';

const NS_VERSION = 'jabber:iq:version';

export const modVersion: JsmModule = {
  name: 'mod_version',
  setup(api) {
    const osName = `${os.type()} ${os.release()}`;
    api.on('server', ({ stanza, to }) => {
      if (stanza.name !== 'iq' || stanza.attrs.type !== 'get' || to.resource !== undefined) return 'pass';
      if (!stanza.getChild('query', NS_VERSION)) return 'pass';
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
