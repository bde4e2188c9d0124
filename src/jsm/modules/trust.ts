// Who may see a user's data: the user, or a contact the user lets see
// their presence (subscription from/both), as 1.4's js_trust did.
import type { Jid } from '../../jid.js';
import type { ModuleApi } from '../api.js';
import { letsSee } from '../roster.js';

export async function isTrusted(api: ModuleApi, owner: Jid, requester: Jid): Promise<boolean> {
  if (owner.bare === requester.bare) return true;
  return letsSee(api.xdb, owner.host, owner.user!, requester.bare);
}
