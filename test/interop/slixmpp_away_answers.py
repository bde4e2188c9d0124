#!/usr/bin/env python3
"""A slixmpp client asks for subscriptions, leaves, and comes back to the answers.

Usage:
  slixmpp_away_answers.py ask  PORT HOST USER PASSWORD CONTACT...
  slixmpp_away_answers.py back PORT HOST USER PASSWORD CONTACT...

The account must exist. The client logs in with jabber:iq:auth (resource
slixAway, without TLS), using the repaired XEP-0078 plugin of
slixmpp_chat.py.

ask:  fetches its roster, sends available presence, asks each CONTACT for
      a subscription (send_presence_subscription), waits until its roster
      shows every request pending (the server's roster push), and logs out.
back: logs in again while the server keeps the contacts' answers, sends
      presence and fetches its roster as slixmpp's own examples do, and
      reports what slixmpp made of what came: each subscription event it
      fired (in the order it fired them), what its XEP-0091 plugin reads of
      each answer's jabber:x:delay, its roster, and which contacts it then
      sees available.

One line per thing seen goes to stdout, then OK. Every step is bounded;
the exit status is 0 only when every step happened.
"""

import asyncio
import logging
import sys

import slixmpp
from slixmpp.jid import JID

# Importing it applies its repair of slixmpp 1.8.3's XEP-0078 plugin,
# without which slixmpp cannot log in with jabber:iq:auth (its comments
# say why); it runs nothing else. Its run_scenario() runs ours.
import slixmpp_chat

STEP_TIMEOUT = 5.0
TOTAL_TIMEOUT = 12.0
RESOURCE = 'slixAway'

# The events slixmpp 1.8.3 fires for subscription presences (basexmpp.py
# _handle_presence, and roster/item.py for a client's roster).
SUBSCRIPTION_EVENTS = (
    'presence_subscribe',
    'presence_subscribed',
    'presence_unsubscribe',
    'presence_unsubscribed',
    'changed_subscription',
    'roster_subscription_request',
    'roster_subscription_authorized',
    'roster_subscription_removed',
)


def say(*words):
    print(*words, flush=True)


def delay_lines(presence):
    """What slixmpp's XEP-0091 plugin reads of the presence's jabber:x:delay."""
    head = 'delay on %s from %s:' % (presence['type'], presence['from'].bare)
    if presence.xml.find('{jabber:x:delay}x') is None:
        return ['%s none' % head]
    delay = presence['legacy_delay']
    lines = ['%s from=%s text=%s stamp=%s' % (head, delay['from'], delay['text'], delay.xml.get('stamp'))]
    # The plugin's own reading of the stamp, whatever it makes of it.
    try:
        lines.append('%s parsed stamp %s' % (head, delay['stamp'].isoformat()))
    except Exception as err:  # reported, not hidden: the test says what it expects
        lines.append('%s parsed stamp fails: %s: %s' % (head, type(err).__name__, err))
    return lines


class Away:
    """The one slixmpp client, and what it saw."""

    def __init__(self, jid, password, contacts):
        self.contacts = [JID(c).bare for c in contacts]
        self.xmpp = slixmpp.ClientXMPP(jid, password)
        self.xmpp.register_plugin('xep_0078')
        # XEP-0091, Legacy Delayed Delivery: jabber:x:delay on presence and messages.
        self.xmpp.register_plugin('xep_0091')
        self.started = asyncio.Event()
        self.failed = asyncio.Event()
        self.available = set()
        self.saw_available = asyncio.Event()
        self.lines = []
        self.xmpp.add_event_handler('failed_auth', lambda _: self.failed.set())
        self.xmpp.add_event_handler('session_start', lambda _: self.started.set())
        self.xmpp.add_event_handler('presence_available', self.on_available)
        for name in SUBSCRIPTION_EVENTS:
            self.xmpp.add_event_handler(name, self.on_event(name))

    def on_event(self, name):
        def seen(presence):
            self.lines.append('event %s from %s to %s' % (name, presence['from'], presence['to']))
            if name in ('presence_subscribed', 'presence_unsubscribed'):
                self.lines.extend(delay_lines(presence))
        return seen

    def on_available(self, presence):
        bare = presence['from'].bare
        if bare in self.contacts:
            self.available.add(str(presence['from']))
            self.saw_available.set()

    def flush(self, prefix=''):
        """Prints the events seen since the last flush."""
        for line in self.lines:
            say(prefix + line)
        self.lines = []

    @property
    def bare(self):
        return self.xmpp.requested_jid.bare

    async def wait(self, event, what):
        await slixmpp_chat.wait_unless_failed(event, self.failed, self.bare, what, STEP_TIMEOUT)

    async def until(self, check, what):
        """Waits until check() holds, looking again after each thing slixmpp handles."""
        loop = asyncio.get_running_loop()
        end = loop.time() + STEP_TIMEOUT
        while not check():
            if loop.time() > end:
                raise RuntimeError('%s: %s did not happen (timed out)' % (self.bare, what))
            await asyncio.sleep(0.05)

    def roster_line(self, jid):
        if jid not in self.xmpp.client_roster:
            return 'roster %s: no item' % jid
        item = self.xmpp.client_roster[jid]
        return 'roster %s: subscription=%s pending_out=%s' % (jid, item['subscription'], item['pending_out'])


async def ask(away):
    await away.wait(away.started, 'login')
    await away.xmpp.get_roster(timeout=STEP_TIMEOUT)
    away.xmpp.send_presence()
    for jid in away.contacts:
        away.xmpp.send_presence_subscription(pto=jid)
    await away.until(
        lambda: all(jid in away.xmpp.client_roster and away.xmpp.client_roster[jid]['pending_out'] for jid in away.contacts),
        'every request pending in the roster',
    )
    for jid in away.contacts:
        say(away.roster_line(jid))


async def back(away):
    await away.wait(away.started, 'login')
    # As slixmpp's examples start a session: presence, then the roster. The
    # server handles a connection's stanzas in order, so by the roster's
    # reply every answer it kept has been delivered and handled here.
    away.xmpp.send_presence()
    await away.xmpp.get_roster(timeout=STEP_TIMEOUT)
    away.flush()
    for jid in away.contacts:
        say(away.roster_line(jid))
    # Subscribed now to someone: that contact's presence follows.
    await away.wait(away.saw_available, 'seeing a contact available')
    # Anything more that came meanwhile (a second copy of an answer) is
    # here by the reply to another roster request.
    await away.xmpp.get_roster(timeout=STEP_TIMEOUT)
    for full in sorted(away.available):
        say('sees %s available' % full)
    away.flush('then: ')


async def scenario(mode, port, host, user, password, contacts):
    away = Away('%s@%s/%s' % (user, host, RESOURCE), password, contacts)
    away.xmpp.connect(('127.0.0.1', port), force_starttls=False, disable_starttls=True)
    try:
        await (ask(away) if mode == 'ask' else back(away))
        say('OK')
        return True
    finally:
        away.flush('before the end: ')
        await asyncio.wait([away.xmpp.disconnect(wait=1.0)], timeout=3.0)


def main():
    if len(sys.argv) < 7 or sys.argv[1] not in ('ask', 'back'):
        print(__doc__, file=sys.stderr)
        return 2
    mode, port, host, user, password, contacts = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6:]
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format='%(levelname)s %(name)s: %(message)s')
    return slixmpp_chat.run_scenario(scenario(mode, port, host, user, password, contacts), TOTAL_TIMEOUT)


if __name__ == '__main__':
    sys.exit(main())
