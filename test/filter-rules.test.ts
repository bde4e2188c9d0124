// Unit tests for mod_filter's pure parts: the checks a rule set must pass
// (406 texts), the <filter> config, matching, and the reply/forward
// stanzas with their jabber:x:envelope trail. test/filter.test.ts runs the
// module end to end.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseJid, type Jid } from '../src/jid.js';
import { readFilter } from '../src/config/filter.js';
import { ConfigError } from '../src/config/types.js';
import { autoReply, cameBack, forwardCopies, mayPassOn } from '../src/jsm/filter/envelope.js';
import { appliesTo, matches, type StanzaFacts } from '../src/jsm/filter/match.js';
import { parseRule, parseRules, TRUSTED_RULES, type FilterPolicy } from '../src/jsm/filter/rules.js';
import { StanzaError } from '../src/jsm/stanza-errors.js';
import type { Element } from '../src/xml/element.js';
import { parseXml } from '../src/xml/parse.js';
import { assertXml } from './helpers/xml-assert.js';

const jid = (s: string): Jid => parseJid(s)!;
const rule = (inner: string) => parseRule(parseXml(`<rule>${inner}</rule>`), TRUSTED_RULES);

/** The 406 text a set of these rules gets, or undefined when it passes. */
function refusal(rules: string, policy: FilterPolicy = { ...TRUSTED_RULES, maxSize: 100 }): string | undefined {
  try {
    parseRules(parseXml(`<query xmlns='jabber:iq:filter'>${rules}</query>`), policy);
    return undefined;
  } catch (err) {
    assert.ok(err instanceof StanzaError);
    assert.equal(err.code, 406);
    return err.text;
  }
}

describe('filter rule checks', () => {
  test('every condition and action Yak knows passes, in any order', () => {
    const all =
      "<rule name='x'><error/><ns>jabber:iq:version</ns></rule>" +
      "<rule><forward>a@localhost</forward><unavailable/><from>B@LocalHost/x</from><resource>Work</resource><subject>s</subject>" +
      '<body>b</body><show>dnd</show><type>chat</type><roster/><group>Friends</group>' +
      "<offline/><reply>away</reply><continue/><settype>normal</settype><error code='406'>no</error></rule>";
    assert.equal(refusal(all), undefined);
  });

  test('refusals carry 1.4 texts where 1.4 had one', () => {
    const cases: [string, string][] = [
      ['<rule/><item/>', 'Invalid rule, check rule size and tags'],
      ['<rule><colour>red</colour></rule>', "tag type 'colour' can not be used on this server"],
      ['<rule><ns>jabber:iq:last</ns><reply>x</reply></rule>', 'ns tag cannot be used this way'],
      ['<rule><ns>jabber:iq:last</ns><offline/></rule>', 'ns tag cannot be used this way'],
      ['<rule><from>@@</from></rule>', 'invalid JID in <from>'],
      ['<rule><forward></forward></rule>', 'invalid JID in <forward>'],
      ['<rule><settype>error</settype></rule>', 'settype must be normal, chat, groupchat or headline'],
      ['<rule><show>busy</show></rule>', 'show must be away, chat, dnd or xa'],
      ["<rule><error code='999'/></rule>", "unknown error code '999'"],
      ["<rule><error code='4o4'/></rule>", "unknown error code '4o4'"],
      // Three digits, as 1.4 codes are: a leading zero makes no other code.
      ["<rule><error code='0503'/></rule>", "unknown error code '0503'"],
    ];
    for (const [rules, text] of cases) assert.equal(refusal(rules), text, rules);
  });

  test('at most 5 forward targets in all rules together', () => {
    const forwards = (n: number): string => Array.from({ length: n }, (_, i) => `<rule><forward>f${i}@localhost</forward><continue/></rule>`).join('');
    assert.equal(refusal(forwards(5)), undefined);
    assert.equal(refusal(forwards(6)), 'at most 5 forward targets in all rules');
    assert.equal(refusal('<rule>' + '<forward>a@localhost</forward>'.repeat(6) + '</rule>'), 'at most 5 forward targets in all rules');
  });

  test('max_size is the most rules accepted (1.4 took one fewer)', () => {
    const policy = { ...TRUSTED_RULES, maxSize: 2 };
    assert.equal(refusal('<rule/><rule/>', policy), undefined);
    assert.equal(refusal('<rule/><rule/><rule/>', policy), 'Invalid rule, check rule size and tags');
  });

  test('the allow lists: a condition must be among the conditions, an action among the actions', () => {
    const policy: FilterPolicy = { maxSize: 10, conditions: new Set(['from']), actions: new Set(['error', 'reply']) };
    assert.equal(refusal('<rule><from>a@localhost</from><reply>no</reply></rule>', policy), undefined);
    assert.equal(refusal('<rule><body>x</body></rule>', policy), "tag type 'body' can not be used on this server");
    assert.equal(refusal('<rule><offline/></rule>', policy), "tag type 'offline' can not be used on this server");
  });

  test('an error action defaults to 503 and keeps its own text', () => {
    assert.deepEqual([rule('<error/>').error!.code, rule('<error/>').error!.text], [503, 'Service Unavailable']);
    assert.deepEqual([rule("<error code='403'>Go away</error>").error!.code, rule("<error code='403'>Go away</error>").error!.text], [403, 'Go away']);
  });

  test('iq or message: ns rules are for iq; reply, offline, settype, forward, subject, body, type are for messages', () => {
    const iq = parseXml("<iq type='get'><query xmlns='jabber:iq:version'/></iq>");
    const msg = parseXml('<message><body>hi</body></message>');
    assert.deepEqual([appliesTo(rule('<ns>jabber:iq:version</ns><error/>'), iq), appliesTo(rule('<ns>jabber:iq:version</ns><error/>'), msg)], [true, false]);
    assert.deepEqual([appliesTo(rule('<from>a@localhost</from><error/>'), iq), appliesTo(rule('<from>a@localhost</from><error/>'), msg)], [true, true]);
    for (const r of ['<reply>x</reply>', '<offline/>', '<settype>chat</settype>', '<forward>a@localhost</forward>', '<body>x</body><error/>', '<type>chat</type>']) {
      assert.equal(appliesTo(rule(r), iq), false, r);
      assert.equal(appliesTo(rule(r), msg), true, r);
    }
  });
});

describe('filter config', () => {
  const section = (inner: string): Element => parseXml(`<filter>${inner}</filter>`);

  test('no <filter> section, or one without <allow>: everything allowed, max_size 100, no defaults', () => {
    for (const c of [readFilter(undefined), readFilter(section('<default/>'))]) {
      assert.deepEqual([c.policy.maxSize, c.policy.conditions, c.policy.actions, c.defaults.length], [100, undefined, undefined, 0]);
    }
  });

  test("the 1.4 section is read: max_size, the allow lists, the default rules", () => {
    const c = readFilter(
      section(
        '<default><rule><unavailable/><offline/></rule></default><max_size>7</max_size>' +
          '<allow><conditions><from/><unavailable/></conditions><actions><reply/></actions></allow>',
      ),
    );
    assert.equal(c.policy.maxSize, 7);
    assert.deepEqual([...c.policy.conditions!], ['from', 'unavailable']);
    assert.deepEqual([...c.policy.actions!], ['reply']);
    assert.equal(c.defaults.length, 1);
    assert.equal(c.defaults[0]!.offline, true);
  });

  test('a mistake stops startup with the element and the problem', () => {
    const cases: [string, string][] = [
      ['<max_size>ten</max_size>', "<filter><max_size>: max_size must be an integer 1..2147483647, got 'ten'"],
      ['<max_size>0</max_size>', "<filter><max_size>: max_size must be an integer 1..2147483647, got '0'"],
      ['<allow><conditions><weather/></conditions></allow>', '<filter><allow><conditions>: <weather/> is not one of Yak\'s: <ns/> <unavailable/>'],
      ['<allow><actions><drop/></actions></allow>', '<filter><allow><actions>: <drop/> is not one of Yak\'s: <error/>'],
      ['<default><junk/></default>', '<filter><default>: <junk> is not a <rule>'],
      ['<default><rule/><rule><settype>bogus</settype></rule></default>', '<filter><default>: rule 2: settype must be normal, chat, groupchat or headline'],
      [
        '<default><rule><forward>a@localhost</forward><forward>b@localhost</forward><forward>c@localhost</forward></rule>' +
          '<rule><forward>d@localhost</forward><forward>e@localhost</forward><forward>f@localhost</forward></rule></default>',
        '<filter><default>: at most 5 <forward> targets in all rules',
      ],
    ];
    for (const [inner, message] of cases) {
      assert.throws(
        () => readFilter(section(inner)),
        (err: unknown) => err instanceof ConfigError && err.message.startsWith(message),
        inner,
      );
    }
  });
});

describe('filter matching', () => {
  const facts = (stanza: string, extra: Partial<StanzaFacts> = {}): StanzaFacts => {
    const e = parseXml(stanza);
    return { stanza: e, to: jid(e.attrs.to!), from: jid(e.attrs.from!), unavailable: false, show: undefined, roster: undefined, ...extra };
  };
  const msg = "<message to='u@localhost/Work' from='Friend@LOCALHOST/home' type='chat'><subject>Lunch</subject><body>Are you in?</body></message>";

  test('each condition', () => {
    const roster = parseXml(
      "<query xmlns='jabber:iq:roster'><item jid='friend@localhost' subscription='both'><group>Pals</group></item><item jid='stranger@localhost' hidden=''/></query>",
    );
    const f = facts(msg, { roster, show: 'dnd' });
    const yes = [
      '<from>friend@localhost</from>',
      '<from>nobody@localhost</from><from>FRIEND@localhost/other</from>',
      '<resource>work</resource>',
      '<subject>LUNCH</subject>',
      '<body>are you in?</body>',
      '<show>dnd</show>',
      '<type>chat</type>',
      '<roster/>',
      '<group>Pals</group>',
      '',
    ];
    const no = ['<from>nobody@localhost</from>', '<resource>Home</resource>', '<body>you</body>', '<show>away</show>', '<type>normal</type>', '<group>pals</group>', '<unavailable/>'];
    for (const r of yes) assert.equal(matches(rule(r), f), true, r);
    for (const r of no) assert.equal(matches(rule(r), f), false, r);
    assert.equal(matches(rule('<unavailable/>'), { ...f, unavailable: true }), true);
    assert.equal(matches(rule('<type>normal</type>'), facts("<message to='u@localhost' from='a@localhost'/>")), true, 'no type is normal');
    assert.equal(matches(rule('<resource>work</resource>'), facts("<message to='u@localhost' from='a@localhost'/>")), false, 'bare JID');
    const hidden = facts("<message to='u@localhost' from='stranger@localhost'/>", { roster });
    assert.equal(matches(rule('<roster/>'), hidden), false, 'a pending request is not a roster entry');
  });

  test('texts are compared trimmed, on both sides; an empty text matches nothing, an empty element included', () => {
    const spaced = facts("<message to='u@localhost/Work' from='a@localhost'><body> hello\n</body></message>");
    assert.equal(matches(rule('<body>hello</body>'), spaced), true, 'the body trimmed');
    assert.equal(matches(rule('<body> Hello </body>'), spaced), true, 'the rule text trimmed');
    const empty = facts("<message to='u@localhost/Work' from='a@localhost'><body/></message>");
    assert.equal(matches(rule('<body/>'), empty), false, 'an empty <body/> rule matched an empty body');
    assert.equal(matches(rule('<subject/>'), facts("<message to='u@localhost/Work' from='a@localhost'><subject>  </subject></message>")), false);
  });

  test('<show> is taken trimmed, as a client may pad it; a session with no show matches no show rule, away included', () => {
    assert.equal(refusal('<rule><show> away </show></rule>'), undefined);
    const f = facts(msg, { show: 'away' });
    assert.equal(matches(rule('<show> away </show>'), f), true);
    for (const show of ['away', 'chat', 'dnd', 'xa']) assert.equal(matches(rule(`<show>${show}</show>`), facts(msg)), false, show);
  });

  test('all kinds must hold: a later failing condition stops the rule (1.4 let it fire)', () => {
    const f = facts(msg);
    assert.equal(matches(rule('<from>friend@localhost</from><unavailable/>'), f), false);
    assert.equal(matches(rule('<from>friend@localhost</from><type>chat</type>'), f), true);
  });

  test('a long body is lowered once per rule, not once per text it lists', () => {
    const body = 'x'.repeat(100_000);
    const f = facts(`<message to='u@localhost/Work' from='a@localhost'><body>${body}</body></message>`);
    const r = rule('<body>zz</body>'.repeat(1000));
    // The work counted in characters lowered, not timed.
    const lower = String.prototype.toLowerCase;
    let lowered = 0;
    String.prototype.toLowerCase = function (this: string): string {
      lowered += this.length;
      return lower.call(this);
    };
    try {
      assert.equal(matches(r, f), false);
    } finally {
      String.prototype.toLowerCase = lower;
    }
    assert.ok(lowered < 2 * body.length, `${lowered} characters lowered for a ${body.length}-character body`);
  });

  test('ns looks at the iq payload', () => {
    const f = facts("<iq type='get' to='u@localhost/Work' from='a@localhost/x'><query xmlns='jabber:iq:version'/></iq>");
    assert.equal(matches(rule('<ns>jabber:iq:version</ns>'), f), true);
    assert.equal(matches(rule('<ns>jabber:iq:last</ns>'), f), false);
  });
});

describe('filter reply and forward stanzas', () => {
  const original = (): Element =>
    parseXml(
      "<message to='u@localhost/Work' from='a@localhost/home' type='chat' id='m1'><thread>t</thread><subject>s</subject><body>hi</body>" +
        "<x xmlns='jabber:x:envelope'><forwardedby jid='z@localhost'/><from jid='a@localhost'/></x><html xmlns='http://jabber.org/protocol/xhtml-im'/></message>",
    );
  const to = jid('u@localhost/Work');
  const from = jid('a@localhost/home');

  test('a reply keeps type, id, subject and thread, and extends the trail', () => {
    assertXml(
      autoReply(original(), 'Gone fishing', to, from),
      "<message to='a@localhost/home' from='u@localhost/Work' type='chat' id='m1'><subject>s</subject><thread>t</thread><body>Gone fishing</body>" +
        "<x xmlns='jabber:x:envelope'><forwardedby jid='z@localhost'/><from jid='a@localhost'/><forwardedby jid='u@localhost/Work'/><from jid='u@localhost/Work'/><to jid='a@localhost/home'/></x></message>",
    );
    assert.equal(autoReply(original(), '', to, from).getChild('body'), undefined, 'empty text: no body');
  });

  test("a reply takes the subject and thread however written, and not another namespace's", () => {
    const message = parseXml(
      "<message to='u@localhost/Work' from='a@localhost/home' type='chat'><subject xmlns='urn:decoy'>d</subject><t:thread xmlns:t='jabber:client'>t</t:thread>" +
        "<s:subject xmlns:s='jabber:client'>s</s:subject><body>hi</body></message>",
    );
    assertXml(
      autoReply(message, 'Away', to, from),
      "<message to='a@localhost/home' from='u@localhost/Work' type='chat'><s:subject xmlns:s='jabber:client'>s</s:subject><t:thread xmlns:t='jabber:client'>t</t:thread><body>Away</body>" +
        "<x xmlns='jabber:x:envelope'><forwardedby jid='u@localhost/Work'/><from jid='u@localhost/Work'/><to jid='a@localhost/home'/></x></message>",
    );
  });

  test('forwarded copies keep the message and list every target', () => {
    const copies = forwardCopies(original(), [jid('b@localhost'), jid('c@localhost/desk')], to, from);
    assert.equal(copies.length, 2);
    const trail =
      "<x xmlns='jabber:x:envelope'><forwardedby jid='z@localhost'/><from jid='a@localhost'/>" +
      "<forwardedby jid='u@localhost/Work'/><from jid='a@localhost/home'/><cc jid='b@localhost'/><cc jid='c@localhost/desk'/></x>";
    assertXml(
      copies[1]!,
      "<message to='c@localhost/desk' from='u@localhost/Work' type='chat' id='m1'><thread>t</thread><subject>s</subject><body>hi</body>" +
        `<html xmlns='http://jabber.org/protocol/xhtml-im'/>${trail}</message>`,
    );
  });

  test('cameBack: a forwardedby naming the user, by bare JID', () => {
    assert.equal(cameBack(original(), jid('z@localhost/any')), true);
    assert.equal(cameBack(original(), to), false);
    assert.equal(cameBack(autoReply(original(), 'x', to, from), jid('u@localhost')), true);
  });

  test('mayPassOn: not back round, and fewer than three forwarders so far', () => {
    let m = original(); // one forwarder: z
    assert.equal(mayPassOn(m, to), true);
    assert.equal(mayPassOn(m, jid('z@localhost')), false);
    m = forwardCopies(m, [jid('v@localhost')], jid('y@localhost'), from)[0]!; // z, y
    assert.equal(mayPassOn(m, to), true);
    m = forwardCopies(m, [jid('u@localhost')], jid('v@localhost'), from)[0]!; // z, y, v
    assert.equal(mayPassOn(m, to), false);
  });
});
