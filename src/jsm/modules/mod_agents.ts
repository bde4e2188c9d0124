// jabber:iq:agents (the pre-browse service list) from the jsm <browse>
// section, and jabber:iq:agent describing the server itself.
import { parseJid } from '../../jid.js';
import { Element } from '../../xml/element.js';
import type { JsmModule, ModuleApi } from '../api.js';
import { iqResult, payloadIn } from '../iq.js';

const NS_AGENTS = 'jabber:iq:agents';
const NS_AGENT = 'jabber:iq:agent';

/** A browse <ns> turns into the agents flag element 1.4 used. */
const FLAG_FOR_NS = new Map([
  ['jabber:iq:register', 'register'],
  ['jabber:iq:search', 'search'],
  ['jabber:iq:gateway', 'transport'],
  ['jabber:iq:conference', 'groupchat'],
]);

/** The text 1.4 put in a flag: a gateway's <transport> prompted for the legacy ID. */
const FLAG_TEXT = new Map([['transport', 'Enter ID']]);

function agentFor(service: Element): Element {
  const agent = new Element('agent', { jid: service.attrs.jid });
  agent.c('name').t(service.attrs.name ?? '');
  agent.c('service').t(service.attrs.type ?? service.name);
  if (service.name === 'conference') agent.c('groupchat');
  for (const ns of service.getChildren('ns')) {
    const flag = FLAG_FOR_NS.get(ns.text().trim());
    if (!flag || agent.getChild(flag)) continue;
    const text = FLAG_TEXT.get(flag);
    if (text === undefined) agent.c(flag);
    else agent.c(flag).t(text);
  }
  return agent;
}

/**
 * The server's answer to an agents or agent get (see payloadIn), or 'pass'
 * for anything else.
 */
function answer(api: ModuleApi, stanza: Element): Element | 'pass' {
  if (payloadIn(stanza, NS_AGENTS)) {
    const services = api.config.jsm.browse.filter((e) => e.attrs.jid);
    return iqResult(stanza, new Element('query', { xmlns: NS_AGENTS }, services.map(agentFor)));
  }
  if (payloadIn(stanza, NS_AGENT)) {
    const name = api.config.jsm.vcard?.getChildText('FN') ?? 'Yak Jabber Server';
    return iqResult(
      stanza,
      new Element('query', { xmlns: NS_AGENT }, [
        new Element('name', {}, [name]),
        new Element('url', {}, [api.config.jsm.vcard?.getChildText('URL') ?? '']),
        new Element('service', {}, ['jabber']),
        ...(api.loaded.includes('mod_register') && api.config.jsm.register ? [new Element('register')] : []),
      ]),
    );
  }
  return 'pass';
}

export const modAgents: JsmModule = {
  name: 'mod_agents',
  setup(api) {
    api.on('server', ({ stanza, to }) => {
      if (stanza.name !== 'iq' || stanza.attrs.type !== 'get' || to.resource !== undefined) return 'pass';
      return answer(api, stanza);
    });
    // COMPAT: a client's get with no `to`, or to its own bare JID (1.4's
    // js_session_from made that no `to`), is the server's list too, from the
    // host, as 1.4's mod_agents answered on each session's out chain ("supid
    // null to workaround"): agents-era clients asked that way. One to the
    // host goes on to the server phase above, with the same answer.
    api.on('session-out', (stanza, s) => {
      // The namespaces before the address: every get a session sends (roster gets) comes through here.
      if (stanza.attrs.type !== 'get') return 'pass';
      const reply = answer(api, stanza);
      if (reply === 'pass') return 'pass';
      if (stanza.attrs.to !== undefined) {
        const to = parseJid(stanza.attrs.to);
        if (!to || to.resource !== undefined || to.bare !== s.jid.bare) return 'pass';
      }
      reply.attrs.from = s.host;
      reply.attrs.to = s.jid.toString();
      return reply;
    }, { stanzas: ['iq'] });
  },
};
