// The modules Yak provides, by the name the config's <load> list uses.
import type { JsmModule } from '../api.js';
import { modAdmin } from './mod_admin.js';
import { modAgents } from './mod_agents.js';
import { modAnnounce } from './mod_announce.js';
import { modAuth0k } from './mod_auth_0k.js';
import { modAuthDigest } from './mod_auth_digest.js';
import { modAuthPlain } from './mod_auth_plain.js';
import { modBrowse } from './mod_browse.js';
import { modEcho } from './mod_echo.js';
import { modFilter } from './mod_filter.js';
import { modLast } from './mod_last.js';
import { modLog } from './mod_log.js';
import { modOffline } from './mod_offline.js';
import { modPresence } from './mod_presence.js';
import { modRegister } from './mod_register.js';
import { modRoster } from './mod_roster.js';
import { modTime } from './mod_time.js';
import { modVcard } from './mod_vcard.js';
import { modVersion } from './mod_version.js';
import { modXml } from './mod_xml.js';

export const MODULES: ReadonlyMap<string, JsmModule> = new Map(
  [
    modRegister,
    modAuthPlain,
    modAuthDigest,
    modAuth0k,
    modRoster,
    modPresence,
    modOffline,
    modVcard,
    modLast,
    modTime,
    modVersion,
    modBrowse,
    modXml,
    modEcho,
    modAnnounce,
    modAdmin,
    modAgents,
    modFilter,
    modLog,
  ].map((m) => [m.name, m]),
);

/** What becomes of a 1.4 module Yak does not provide, said where <load> names it. */
export function notProvided(name: string): string {
  if (name === 'mod_auth_crypt') return 'not provided by Yak: ignored; load mod_auth_plain in its place, which checks the hashes it stored';
  return 'not provided by Yak: ignored';
}
