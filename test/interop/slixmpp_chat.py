#!/usr/bin/env python3
"""Two slixmpp clients against Yak: legacy auth, subscription, presence, chat.

Usage: slixmpp_chat.py PORT HOST USER_A USER_B PASSWORD

Both accounts must exist (the test registers them first). Each client logs
in with jabber:iq:auth (XEP-0078, which slixmpp uses because Yak advertises
iq-auth in its stream features when the header says version='1.0'), without
TLS (Yak has no STARTTLS). A asks B for a subscription; slixmpp's roster
answers and asks back by itself (auto_authorize / auto_subscribe, on by
default); each waits until it sees the other's presence; A sends B a chat
message and B answers. One line per step goes to stdout, then a JSON
summary and OK. The exit status is 0 only if every step happened in time.
"""

import asyncio
import hashlib
import json
import logging
import sys
import uuid

import slixmpp
from slixmpp.jid import JID
from slixmpp.plugins.xep_0078 import XEP_0078
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatcherId

STEP_TIMEOUT = 8.0
TOTAL_TIMEOUT = 20.0


def say(*words):
    print(*words, flush=True)


# COMPAT: slixmpp 1.8.3 (Debian bookworm) ships XEP-0078 broken in two ways:
# authenticate() reads the reply of iq.send() as if it were the reply and
# not a Future ("'_asyncio.Future' object is not subscriptable"), and the
# jabber:iq:auth requests are held back by slixmpp's own "no stanzas before
# the session started" queue, so they never leave. The two methods below
# replace the plugin's, keeping its feature registration, its stanza
# classes and its events; they wait for each reply and write the requests
# straight to the stream, as a pre-session exchange must be.
async def _pre_session_request(xmpp, iq):
    reply = asyncio.get_running_loop().create_future()

    def arrived(stanza):
        if not reply.done():
            reply.set_result(stanza)

    xmpp.register_handler(Callback('legacy auth %s' % iq['id'], MatcherId(iq['id']), arrived, once=True))
    xmpp.send_raw(str(iq))
    return await asyncio.wait_for(reply, STEP_TIMEOUT)


async def _handle_auth(self, features):
    if 'mechanisms' in features['features']:
        return False
    return await self.authenticate()


async def _authenticate(self):
    xmpp = self.xmpp
    if xmpp.authenticated:
        return False
    jid = xmpp.requested_jid
    form = xmpp.Iq()
    form['type'] = 'get'
    form['to'] = jid.host
    form['auth']['username'] = jid.user
    offered = await _pre_session_request(xmpp, form)
    if offered['type'] != 'result':
        say('auth form refused:', offered)
        xmpp.event('failed_auth')
        xmpp.disconnect()
        return True

    resource = jid.resource or str(uuid.uuid4())
    creds = xmpp.Iq()
    creds['type'] = 'set'
    creds['auth']['username'] = jid.user
    creds['auth']['resource'] = resource
    if 'digest' in offered['auth']['fields']:
        secret = (xmpp.stream_id + xmpp.password).encode('utf-8')
        creds['auth']['digest'] = hashlib.sha1(secret).hexdigest()
        method = 'digest'
    else:
        creds['auth']['password'] = xmpp.password
        method = 'plain'
    result = await _pre_session_request(xmpp, creds)
    if result['type'] != 'result':
        say('login refused:', result)
        xmpp.event('failed_auth')
        xmpp.disconnect()
        return True

    say('%s logged in with jabber:iq:auth %s' % (jid.bare, method))
    xmpp.features.add('auth')
    xmpp.authenticated = True
    xmpp.boundjid = JID(jid)
    xmpp.boundjid.resource = resource
    xmpp.event('session_bind', xmpp.boundjid)
    xmpp.sessionstarted = True
    xmpp.event('session_start')
    return True


XEP_0078._handle_auth = _handle_auth
XEP_0078.authenticate = _authenticate


async def wait_unless_failed(event, failed, who, what, timeout):
    """Waits for `event` until `failed` is set or `timeout` seconds pass; raises unless it came."""
    done = asyncio.ensure_future(event.wait())
    gave_up = asyncio.ensure_future(failed.wait())
    try:
        await asyncio.wait({done, gave_up}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        done.cancel()
        gave_up.cancel()
    if not event.is_set():
        why = 'login failed' if failed.is_set() else 'timed out'
        raise RuntimeError('%s: %s did not happen (%s)' % (who, what, why))


class Peer:
    """One slixmpp client and what it has seen of the other."""

    def __init__(self, jid, password, other):
        self.other = JID(other).bare
        self.xmpp = slixmpp.ClientXMPP(jid, password)
        self.xmpp.register_plugin('xep_0078')
        self.xmpp.register_plugin('xep_0077')
        self.started = asyncio.Event()
        self.saw_other = asyncio.Event()
        self.messages = asyncio.Queue()
        self.failed = asyncio.Event()
        self.xmpp.add_event_handler('session_start', self.on_start)
        self.xmpp.add_event_handler('failed_auth', lambda _: self.failed.set())
        self.xmpp.add_event_handler('presence_available', self.on_available)
        self.xmpp.add_event_handler('message', self.on_message)

    @property
    def bare(self):
        return self.xmpp.requested_jid.bare

    async def on_start(self, _event):
        self.xmpp.send_presence()
        await self.xmpp.get_roster(timeout=STEP_TIMEOUT)
        self.started.set()

    def on_available(self, presence):
        if presence['from'].bare == self.other:
            say('%s sees %s available' % (self.bare, presence['from']))
            self.saw_other.set()

    def on_message(self, message):
        if message['from'].bare == self.other and message['type'] in ('chat', 'normal'):
            self.messages.put_nowait(message['body'])

    def connect(self, port):
        self.xmpp.connect(('127.0.0.1', port), force_starttls=False, disable_starttls=True)

    async def wait(self, event, what):
        await wait_unless_failed(event, self.failed, self.bare, what, STEP_TIMEOUT)

    def subscription(self):
        return self.xmpp.client_roster[self.other]['subscription']


async def scenario(port, host, user_a, user_b, password):
    a = Peer('%s@%s/slixA' % (user_a, host), password, '%s@%s' % (user_b, host))
    b = Peer('%s@%s/slixB' % (user_b, host), password, '%s@%s' % (user_a, host))
    try:
        for peer in (a, b):
            peer.connect(port)
        for peer in (a, b):
            await peer.wait(peer.started, 'login and roster')

        a.xmpp.send_presence_subscription(pto=b.bare)
        await a.wait(a.saw_other, 'seeing B')
        await b.wait(b.saw_other, 'seeing A')

        a.xmpp.send_message(mto=b.bare, mbody='Hello B, from slixmpp A', mtype='chat')
        got_b = await asyncio.wait_for(b.messages.get(), STEP_TIMEOUT)
        say('B got:', got_b)
        b.xmpp.send_message(mto=a.bare, mbody='Hello A, from slixmpp B', mtype='chat')
        got_a = await asyncio.wait_for(a.messages.get(), STEP_TIMEOUT)
        say('A got:', got_a)

        summary = {
            'a_got': got_a,
            'b_got': got_b,
            'a_subscription': a.subscription(),
            'b_subscription': b.subscription(),
        }
        say(json.dumps(summary, sort_keys=True))
        ok = (
            got_b == 'Hello B, from slixmpp A'
            and got_a == 'Hello A, from slixmpp B'
            and summary['a_subscription'] == 'both'
            and summary['b_subscription'] == 'both'
        )
        if ok:
            say('OK')
        return ok
    finally:
        closing = [peer.xmpp.disconnect(wait=1.0) for peer in (a, b)]
        await asyncio.wait(closing, timeout=3.0)


def main():
    if len(sys.argv) != 6:
        print(__doc__, file=sys.stderr)
        return 2
    port, host, user_a, user_b, password = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format='%(levelname)s %(name)s: %(message)s')
    say('slixmpp', slixmpp.__version__)
    return run_scenario(scenario(port, host, user_a, user_b, password), TOTAL_TIMEOUT)


def run_scenario(coro, timeout):
    """Runs a scenario coroutine to its end within `timeout` seconds: the exit status."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        ok = loop.run_until_complete(asyncio.wait_for(coro, timeout))
    except Exception as err:  # every failure ends the run with a reason on stdout
        say('FAILED:', type(err).__name__, repr(err))
        ok = False
    finally:
        # slixmpp leaves its stream tasks running after a disconnect.
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for t in pending:
            t.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
