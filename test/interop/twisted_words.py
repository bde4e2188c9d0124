#!/usr/bin/env python3
"""Interop: Twisted Words (Debian python3-twisted), twisted.words.protocols.jabber,
against a jabberd 1.4-style server.

    twisted_words.py PORT HOST ALICE BOB PASSWORD

Connects only to 127.0.0.1:PORT (a port number, never a DNS or SRV
lookup), with the client the library made for pre-XMPP-1.0 servers such as
jabberd 1.4: an XmlStreamFactory around a BasicAuthenticator, whose stream
header has no version and whose IQAuthInitializer logs in with
jabber:iq:auth (XEP-0078), sending the digest when the server offers it.

  - ALICE, then BOB, connect as users the server does not know yet: the
    library reports INVALID_USER_EVENT, the script calls registerAccount()
    (jabber:iq:register, XEP-0077) and the library logs in after it;
  - a third connection logs in as ALICE with a wrong password
    (AUTH_FAILED_EVENT), then registers ALICE again (REGISTER_FAILED_EVENT,
    409);
  - each reads its roster and sends its presence; ALICE asks BOB for a
    subscription, BOB approves and asks back, ALICE approves; once each has
    seen the other's presence ALICE sends BOB a chat message and BOB
    answers it; each reads its roster again and closes its stream.

Twisted Words has no roster or presence helpers (those live in Wokkel): the
stanzas are the library's domish elements, iq requests its xmlstream.IQ,
and every reply comes through its observers.

Lines start with the user they are about; the test compares each user's
lines, in order. Exit status 0 only when every step happened within 20 s.

The library's other client, XMPPClientFactory / XMPPAuthenticator, cannot
log in here: its initializers require STARTTLS and SASL (required=True),
and Yak, like jabberd 1.4, offers neither (its version='1.0' features are
iq-auth and iq-register), so it stops with FeatureNotAdvertized before it
ever tries jabber:iq:auth. The library offers no fallback to iq-auth there.
"""

import sys

try:
    from twisted.internet import defer, reactor
    from twisted.python import log
    from twisted.python.failure import Failure
    from twisted.words.protocols.jabber import client, error, xmlstream
    from twisted.words.protocols.jabber.jid import JID
    from twisted.words.xish import domish
except ImportError as e:
    sys.stderr.write(
        "FAIL Twisted Words is not installed (Debian/Ubuntu: apt-get install python3-twisted): %s\n" % e
    )
    sys.exit(3)

NS_ROSTER = "jabber:iq:roster"
RESOURCE = "Twisted"
TIMEOUT = 20.0

failures = []


def say(line):
    print(line, flush=True)


def fail(message):
    failures.append(message)
    sys.stderr.write("FAIL %s\n" % message)
    if reactor.running:
        reactor.stop()


# The library reports exceptions raised in its observers (and the ones of
# this script) through twisted.python.log and carries on. Unlogged, such a
# failure would only show as a timeout; here it fails the run at once.
def on_log(event):
    if event.get("isError"):
        text = log.textFromEventDict(event) or "an error was logged"
        fail("Twisted logged an error: %s" % text)


class RegisteringAuthenticator(client.BasicAuthenticator):
    # COMPAT: after a successful registerAccount() the library calls
    # self.streamStarted() with no argument, as the 2005 API did; since then
    # ConnectAuthenticator.streamStarted() takes the server's stream header,
    # so the call raises TypeError (logged and swallowed) and the login
    # never happens. What it means is "run the initializers again": the
    # failed IQAuthInitializer is still first in the list, so the login
    # starts again on the same stream, as the library intended.
    def streamStarted(self, rootElement=None):
        if rootElement is None:
            self.initializeStream()
        else:
            client.BasicAuthenticator.streamStarted(self, rootElement)


def error_of(stanza):
    """'CODE condition (text)' of an error reply, as the library reads it."""
    e = error.exceptionFromStanza(stanza)
    code = stanza.error.getAttribute("code") if stanza.error else None
    return "%s %s (%s)" % (code, e.condition, (e.text or "").strip())


class Connection:
    """One connection of the library's basic client and what it reports."""

    AUTH_EVENTS = (
        xmlstream.STREAM_AUTHD_EVENT,
        client.BasicAuthenticator.INVALID_USER_EVENT,
        client.BasicAuthenticator.AUTH_FAILED_EVENT,
        client.BasicAuthenticator.REGISTER_FAILED_EVENT,
        xmlstream.INIT_FAILED_EVENT,
    )
    EVENT_NAMES = {
        xmlstream.STREAM_AUTHD_EVENT: "STREAM_AUTHD_EVENT",
        client.BasicAuthenticator.INVALID_USER_EVENT: "INVALID_USER_EVENT",
        client.BasicAuthenticator.AUTH_FAILED_EVENT: "AUTH_FAILED_EVENT",
        client.BasicAuthenticator.REGISTER_FAILED_EVENT: "REGISTER_FAILED_EVENT",
        xmlstream.INIT_FAILED_EVENT: "INIT_FAILED_EVENT",
    }

    def __init__(self, user, host, port, password):
        self.user = user
        self.jid = JID("%s@%s/%s" % (user, host, RESOURCE))
        self.authenticator = RegisteringAuthenticator(self.jid, password)
        self.factory = xmlstream.XmlStreamFactory(self.authenticator)
        # The events arrive before the script asks for them; a queue keeps
        # each one, in order, for the step that expects it.
        self.events = defer.DeferredQueue()
        self.ended = defer.Deferred()
        self.xs = None
        self.closing = False
        for event in self.AUTH_EVENTS:
            self.factory.addBootstrap(event, self._queue(event))
        self.factory.addBootstrap(xmlstream.STREAM_CONNECTED_EVENT, self._connected)
        self.factory.addBootstrap(xmlstream.STREAM_END_EVENT, self._end)
        reactor.connectTCP("127.0.0.1", port, self.factory)

    def _queue(self, event):
        return lambda obj: self.events.put((event, obj))

    def _connected(self, xs):
        self.xs = xs

    def _end(self, reason):
        # XmlStreamFactory is a ReconnectingClientFactory: a stream the
        # server ends would quietly be opened again, and the run would only
        # show a timeout.
        if not self.closing:
            self.factory.stopTrying()
            fail("%s: the server ended the stream: %s" % (self.user, reason.getErrorMessage()))
        if not self.ended.called:
            self.ended.callback(None)

    @defer.inlineCallbacks
    def expect(self, wanted):
        """The object of the next authentication event, which must be `wanted`."""
        event, obj = yield self.events.get()
        if event != wanted:
            detail = obj.getErrorMessage() if isinstance(obj, Failure) else getattr(obj, "toXml", lambda: repr(obj))()
            raise AssertionError(
                "%s: expected %s, got %s: %s"
                % (self.user, self.EVENT_NAMES[wanted], self.EVENT_NAMES[event], detail)
            )
        # INIT_FAILED_EVENT carries a Failure, which a Deferred's result
        # would turn into an error of this step: hand over its exception.
        return obj.value if isinstance(obj, Failure) else obj

    def close(self):
        self.closing = True
        self.factory.stopTrying()
        self.xs.sendFooter()
        return self.ended


class Session(Connection):
    """A logged-in user: presence, subscriptions, chat."""

    def __init__(self, user, host, port, password):
        Connection.__init__(self, user, host, port, password)
        self.asked = set()
        self.sees = {}
        self.chats = defer.DeferredQueue()
        self.answer = None

    def _connected(self, xs):
        Connection._connected(self, xs)
        xs.addObserver("/presence", self.on_presence)
        xs.addObserver("/message", self.on_message)

    def sees_deferred(self, bare):
        return self.sees.setdefault(bare, defer.Deferred())

    def presence(self, to=None, type=None):
        p = domish.Element((None, "presence"))
        if to:
            p["to"] = to
        if type:
            p["type"] = type
        self.xs.send(p)

    def subscribe(self, bare):
        self.asked.add(bare)
        self.presence(bare, "subscribe")

    def on_presence(self, p):
        sender = JID(p["from"])
        bare = sender.userhost()
        kind = p.getAttribute("type")
        if kind == "subscribe":
            say("%s asked by %s" % (self.user, bare))
            self.presence(bare, "subscribed")
            if bare not in self.asked:
                self.subscribe(bare)
        elif kind == "subscribed":
            say("%s approved by %s" % (self.user, bare))
        elif kind is None:
            show = str(p.show) if p.show else ""
            say("%s sees %s show=%s" % (self.user, sender.full(), show))
            d = self.sees_deferred(bare)
            if not d.called:
                d.callback(sender.full())
        elif kind != "unavailable":
            say("%s got presence type=%s from %s" % (self.user, kind, sender.full()))

    def on_message(self, m):
        if m.getAttribute("type") != "chat" or not m.body:
            say("%s got message type=%s from %s" % (self.user, m.getAttribute("type"), m.getAttribute("from")))
            return
        say("%s got chat from %s: %s" % (self.user, m["from"], m.body))
        if self.answer:
            reply = domish.Element((None, "message"))
            reply["to"] = m["from"]
            reply["type"] = "chat"
            reply.addElement("body", content=self.answer)
            self.xs.send(reply)
        self.chats.put(str(m.body))

    def chat(self, to, body):
        m = domish.Element((None, "message"))
        m["to"] = to
        m["type"] = "chat"
        m.addElement("body", content=body)
        self.xs.send(m)

    @defer.inlineCallbacks
    def roster(self):
        iq = xmlstream.IQ(self.xs, "get")
        iq.addElement((NS_ROSTER, "query"))
        result = yield iq.send()
        items = [i for i in result.query.elements() if i.name == "item"]
        if not items:
            say("%s roster: 0 contacts" % self.user)
        for i in items:
            say(
                "%s roster: %s name=%s subscription=%s ask=%s"
                % (self.user, i.getAttribute("jid"), i.getAttribute("name", ""),
                   i.getAttribute("subscription"), i.getAttribute("ask", ""))
            )


@defer.inlineCallbacks
def register_and_login(user, host, port, password):
    s = Session(user, host, port, password)
    refusal = yield s.expect(client.BasicAuthenticator.INVALID_USER_EVENT)
    say("%s unknown: %s" % (user, error_of(refusal)))
    # The failed login also ends the library's initialization.
    yield s.expect(xmlstream.INIT_FAILED_EVENT)
    s.authenticator.registerAccount()
    yield s.expect(xmlstream.STREAM_AUTHD_EVENT)
    say("%s registered and logged in as %s" % (user, s.authenticator.jid.full()))
    return s


@defer.inlineCallbacks
def refusals(user, host, port, password):
    c = Connection(user, host, port, "not-" + password)
    refusal = yield c.expect(client.BasicAuthenticator.AUTH_FAILED_EVENT)
    say("%s wrong password refused: %s" % (user, error_of(refusal)))
    yield c.expect(xmlstream.INIT_FAILED_EVENT)
    c.authenticator.registerAccount(user, password)
    refusal = yield c.expect(client.BasicAuthenticator.REGISTER_FAILED_EVENT)
    say("%s registered again: refused %s" % (user, error_of(refusal)))
    yield c.close()


@defer.inlineCallbacks
def main(port, host, alice_name, bob_name, password):
    alice = yield register_and_login(alice_name, host, port, password)
    bob = yield register_and_login(bob_name, host, port, password)
    yield refusals(alice_name, host, port, password)
    a, b = alice.jid.userhost(), bob.jid.userhost()

    for s in (alice, bob):
        yield s.roster()
        s.presence()
    # Both are logged in before the first request, but BOB's presence and
    # ALICE's request travel on two sockets: a request that comes first is
    # kept and shown at his first presence, so either way he is asked once.
    alice.subscribe(b)
    yield defer.gatherResults([alice.sees_deferred(b), bob.sees_deferred(a)])

    bob.answer = "Hello %s, from %s" % (alice_name, bob_name)
    alice.chat(bob.jid.full(), "Hello %s, from %s" % (bob_name, alice_name))
    yield bob.chats.get()
    yield alice.chats.get()

    for s in (alice, bob):
        yield s.roster()
    # Both leave at once: whether one still sees the other's unavailable
    # presence is a race, which is why on_presence prints none.
    yield defer.gatherResults([alice.close(), bob.close()])
    say("OK")


def run(argv):
    if len(argv) != 6 or not argv[1].isdigit():
        sys.stderr.write("usage: %s PORT HOST ALICE BOB PASSWORD\n" % argv[0])
        return 2
    port, host, alice, bob, password = int(argv[1]), argv[2], argv[3], argv[4], argv[5]
    log.addObserver(on_log)
    timer = reactor.callLater(TIMEOUT, fail, "timeout: not done after %d s" % TIMEOUT)

    def done(_):
        if timer.active():
            timer.cancel()
        if reactor.running:
            reactor.stop()

    def failed(f):
        fail(f.getErrorMessage() if f.check(AssertionError) else f.getTraceback())

    d = defer.maybeDeferred(main, port, host, alice, bob, password)
    d.addCallbacks(done, failed)
    reactor.run()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(run(sys.argv))
