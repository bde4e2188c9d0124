// The modules Yak provides, by the name the config's <load> list uses.
import type { JsmModule } from '../api.js';
import { modAuth0k } from './mod_auth_0k.js';
import { modAuthDigest } from './mod_auth_digest.js';
import { modAuthPlain } from './mod_auth_plain.js';
import { modBrowse } from './mod_browse.js';
import { modRegister } from './mod_register.js';

export const MODULES: ReadonlyMap<string, JsmModule> = new Map(
  [modRegister, modAuthPlain, modAuthDigest, modAuth0k, modBrowse].map((m) => [m.name, m]),
);
