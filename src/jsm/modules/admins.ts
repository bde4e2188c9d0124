// Who administers the server: the JIDs of the jsm <admin> section.
import type { Jid } from '../../jid.js';
import type { ModuleApi } from '../api.js';

/** mod_admin's namespace (who lists the sessions). */
export const NS_ADMIN = 'jabber:iq:admin';

export function canWrite(api: ModuleApi, who: Jid): boolean {
  return api.config.jsm.admin.write.includes(who.bare);
}

export function canRead(api: ModuleApi, who: Jid): boolean {
  return canWrite(api, who) || api.config.jsm.admin.read.includes(who.bare);
}

export function allAdmins(api: ModuleApi): string[] {
  return [...new Set([...api.config.jsm.admin.read, ...api.config.jsm.admin.write])];
}
