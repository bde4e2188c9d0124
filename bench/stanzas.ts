// Pre-serialized requests the generator sends, and the credentials they carry.
import { createHash } from 'node:crypto';
import { esc } from './raw-client.js';

export const PRESENCE = '<presence/>';

export function authGet(user: string, id = 'ag'): string {
  return `<iq type='get' id='${id}'><query xmlns='jabber:iq:auth'><username>${esc(user)}</username></query></iq>`;
}

export type Credential = { password: string } | { digest: string } | { hash: string };

export function authSet(user: string, cred: Credential, resource: string, id = 'as'): string {
  const [name, value] = Object.entries(cred)[0] as [string, string];
  return (
    `<iq type='set' id='${id}'><query xmlns='jabber:iq:auth'><username>${esc(user)}</username>` +
    `<${name}>${esc(value)}</${name}><resource>${esc(resource)}</resource></query></iq>`
  );
}

export function registerSet(user: string, password: string, id = 'rs'): string {
  return (
    `<iq type='set' id='${id}'><query xmlns='jabber:iq:register'><username>${esc(user)}</username>` +
    `<password>${esc(password)}</password></query></iq>`
  );
}

export function rosterGet(id: string): string {
  return `<iq type='get' id='${id}'><query xmlns='jabber:iq:roster'/></iq>`;
}

export function chat(to: string, body: string): string {
  return `<message to='${esc(to)}' type='chat'><body>${esc(body)}</body></message>`;
}

export function presenceTo(to: string, type: 'subscribe' | 'subscribed'): string {
  return `<presence to='${esc(to)}' type='${type}'/>`;
}

export function sha1hex(s: string): string {
  return createHash('sha1').update(s, 'latin1').digest('hex');
}

/** XEP-0078 digest: sha1hex(stream id + password). */
export function digest(streamId: string, password: string): string {
  return sha1hex(streamId + password);
}

/**
 * A user's zero-knowledge chain, computed once per token: links[k] is
 * H^k(h0), so a login at announced sequence k costs an array lookup
 * instead of k hashes on the generator's core.
 */
export class ZerokChain {
  private links: string[] = [];
  private token = '';

  constructor(private readonly password: string) {}

  hashFor(token: string, sequence: number): string {
    if (token !== this.token || sequence >= this.links.length) {
      const links = [sha1hex(sha1hex(this.password) + token)];
      for (let k = 1; k <= sequence; k++) links.push(sha1hex(links[k - 1]!));
      this.links = links;
      this.token = token;
    }
    return this.links[sequence]!;
  }
}

/** Which jabber:iq:auth methods an auth get reply offers. */
export function offeredMethods(reply: string): { plain: boolean; digest: boolean; zerok: boolean } {
  return {
    plain: /<password\s*\/?>/.test(reply),
    digest: /<digest\s*\/?>/.test(reply),
    zerok: /<sequence>\d+<\/sequence>/.test(reply) && /<token>[^<]+<\/token>/.test(reply),
  };
}
