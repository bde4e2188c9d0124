// jabber:iq:private (SPEC section 8): a user stores and fetches XML under
// namespaces of their own choosing, one record per namespace, flagged
// j_private_flag='1' so it can never be mistaken for the server's records.
import { attrsWith, Element } from '../../xml/element.js';
import type { JsmModule } from '../api.js';
import { iqResult, payloadIn } from '../iq.js';
import { stanzaError } from '../stanza-errors.js';

const NS_PRIVATE = 'jabber:iq:private';
const FLAG = 'j_private_flag';

/** Namespaces the server keeps its own records under are never private (1.4 refused jabber:*). */
function reserved(ns: string): boolean {
  return ns.startsWith('jabber:') || ns === 'vcard-temp' || ns === NS_PRIVATE;
}

export const modXml: JsmModule = {
  name: 'mod_xml',
  setup(api) {
    api.on('deliver', async ({ stanza, to, from }) => {
      const query = payloadIn(stanza, NS_PRIVATE, 'query');
      if (!query || to.resource !== undefined) return 'pass';
      if (from.bare !== to.bare) throw stanzaError('forbidden');
      const type = stanza.attrs.type;
      const items = query.elements;
      if (items.length === 0 || items.some((e) => !e.attrs.xmlns || reserved(e.attrs.xmlns))) {
        throw stanzaError('not-acceptable');
      }
      if (type === 'set') {
        // Keyed by namespaces the user chose: without a prototype, so that
        // `__proto__` is one more record, not a prototype swap that lost it.
        const records: Record<string, Element> = Object.create(null);
        for (const e of items) records[e.attrs.xmlns!] = new Element(e.name, attrsWith(e.attrs, { [FLAG]: '1' }), e.children);
        await api.xdb.set(to.host, to.user!, records);
        return iqResult(stanza);
      }
      if (type !== 'get') return 'pass';
      const reply = new Element('query', { xmlns: NS_PRIVATE });
      // Each namespace once: asked for again and again, a 200 KB record made
      // a reply too large to build, blocking the server while it tried.
      const asked = new Set<string>();
      // All in one read, as a set stores them in one write: read one by one,
      // a set between two reads gave half the old records and half the new.
      const records = await api.xdb.getSome(to.host, to.user!, [...new Set(items.map((e) => e.attrs.xmlns!))]);
      for (const e of items) {
        if (asked.has(e.attrs.xmlns!)) continue;
        asked.add(e.attrs.xmlns!);
        const stored = records.get(e.attrs.xmlns!);
        if (stored?.attrs[FLAG] === '1') {
          stored.setAttr(FLAG, undefined);
          reply.children.push(stored);
        } else reply.children.push(e);
      }
      return iqResult(stanza, reply);
    }, { stanzas: ['iq'] });
  },
};
