// One log line per session end, with its length, as 1.4's mod_log wrote.
import type { JsmModule } from '../api.js';
import { monotonicMs } from '../../util/time.js';

export const modLog: JsmModule = {
  name: 'mod_log',
  setup(api) {
    api.on('session-end', (s) => {
      api.log.info({ jid: s.jid.toString(), seconds: Math.floor((monotonicMs() - s.started) / 1000) }, 'session ended');
    });
  },
};
