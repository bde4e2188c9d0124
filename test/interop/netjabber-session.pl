#!/usr/bin/perl
# Interop: the session manager driven through Net::Jabber's own objects and
# methods, the way the book's Perl examples drive jabberd 1.4.
#
#   netjabber-session.pl PORT
#
# Two users, alice and bob, register and log in on 127.0.0.1:PORT (host
# localhost), then, each step with Net::Jabber's own API:
#   - subscribe to each other with Subscription(type=>'subscribe' /
#     'subscribed'), read their rosters with RosterGet and the Roster
#     object, and see each other's presence (PresenceSend);
#   - alice sets her vCard and reads it back, bob reads it too (at her
#     bare JID and at her connected full JID), and bob reads the server's
#     (vcard-temp: Net::Jabber 2.0 has no vCard object, so the script
#     declares one with AddNamespace, its documented way);
#   - alice asks the server for jabber:iq:time (TimeQuery), jabber:iq:version
#     (VersionQuery) and jabber:iq:browse (BrowseRequest), and browses bob
#     (a contact: his connected resource is listed);
#   - alice stores and fetches XML with jabber:iq:private (declared with
#     AddNamespace too, as Net::Jabber has no object for it);
#   - bob logs off with a status, alice asks jabber:iq:last of him
#     (LastQuery) and sends him a message (MessageSend), which the server
#     keeps; the script then prints "PAUSE offline" and waits for a line on
#     stdin (the test reads the spool meanwhile); bob logs in again and gets
#     the message with its jabber:x:delay stamp;
#   - alice removes bob from her roster (RosterRemove), and the script
#     reports what each side then sees.
# Every line printed is meant to be compared exactly, except the "stamp"
# and "time" lines, whose values the test checks. Exit status 0 only when
# every step succeeded.
#
# Net::XMPP answers subscription presences by itself by default (a
# subscribe gets subscribed and a subscribe back; even a subscribed gets a
# subscribed back), once its callbacks work (see login). The script
# replaces those callbacks, so that every subscription presence on the
# wire is one it sent on purpose.
use strict;
use warnings;
use Time::HiRes ();

my ($port) = @ARGV;
unless (defined $port && $port =~ /^\d+$/) {
    print STDERR "usage: $0 PORT\n";
    exit 2;
}
unless (eval { require Net::Jabber; Net::Jabber->import('Client'); 1 }) {
    print "FAIL Net::Jabber is not installed (Debian/Ubuntu: apt-get install libnet-jabber-perl)\n";
    exit 3;
}

# The test reads these lines while the script runs.
$| = 1;
$SIG{ALRM} = sub { print "FAIL the script took more than 50 seconds\n"; exit 1; };
alarm 50;

my $HOST = 'localhost';
my $PASSWORD = 'Sessi0n';
my %NAME = (alice => 'Alice Liddell', bob => 'Bob Cratchit');

sub fail { print "FAIL @_\n"; exit 1; }

# Per user: the connection, its Roster object, and what arrived, as lines
# ("subscribe from bob@localhost") in order.
my (%client, %roster, %events, %messages, %logins);

sub note {
    my ($user, $what) = @_;
    push @{ $events{$user} }, $what;
}

# Processes every open connection until $done returns true.
sub pump {
    my ($what, $done) = @_;
    my $until = time + 10;
    until ($done->()) {
        fail("timed out waiting for $what") if time > $until;
        for my $user (sort keys %client) {
            defined $client{$user}->Process(0.1) or fail("$user: connection lost while waiting for $what");
        }
    }
}

# Waits until $user has seen $event, then reports it.
sub expect {
    my ($user, $event) = @_;
    pump("$user to see: $event", sub { grep { $_ eq $event } @{ $events{$user} // [] } });
    print "$user got $event\n";
}

sub bare { my ($jid) = @_; return $jid =~ s{/.*}{}r; }

sub login {
    my ($user, $register) = @_;
    # NETJABBER_DEBUG=DIR keeps each connection's own debug log there (DIR/alice-1.log, ...).
    my @debug;
    if (my $dir = $ENV{NETJABBER_DEBUG}) {
        my $n = ++$logins{$user};
        @debug = (debuglevel => 2, debugfile => "$dir/$user-$n.log", debugtime => 1);
    }
    my $c = Net::Jabber::Client->new(@debug);
    # Net::XMPP 1.05 (Debian's) weakens the only reference to its callback
    # table at the end of new(), so Perl frees the table at once: no
    # presence, message or iq callback ever fires, and SetPresenceCallBacks
    # and SetMessageCallBacks are silently dead. InitCallbacks() builds the
    # table again, this time kept. Its iq dispatcher is replaced by one that
    # does nothing: it calls a hash as a function (and dies) for the second
    # iq of a namespace that was not asked for, such as the second roster
    # push. The Roster object gets roster pushes through its own XPath
    # callback either way.
    $c->InitCallbacks() unless $c->{CB};
    $c->SetCallBacks(iq => sub { });
    $c->Connect(hostname => '127.0.0.1', port => $port, componentname => $HOST, timeout => 10)
        or fail("$user: cannot connect");
    if ($register) {
        my @reg = $c->RegisterSend(username => $user, password => $PASSWORD, name => $NAME{$user}, email => "$user\@$HOST");
        fail("$user: registration failed: @reg") unless @reg && $reg[0] eq 'ok';
    }
    my @auth = $c->AuthSend(username => $user, password => $PASSWORD, resource => 'Perl');
    fail("$user: login failed: @auth") unless @auth && $auth[0] eq 'ok';
    # The Roster object follows roster pushes and presence by itself;
    # fetch() fills it with the roster as stored.
    $roster{$user} = $c->Roster();
    $roster{$user}->fetch();
    $c->PresenceDB();
    my $presence = sub {
        my ($kind) = @_;
        return sub {
            my (undef, $p) = @_;
            my $from = $p->GetFrom();
            my $line = "$kind from " . ($kind =~ /available/ ? $from : bare($from));
            $line .= ': ' . $p->GetStatus() if $kind eq 'available' && defined $p->GetStatus();
            note($user, $line);
        };
    };
    $c->SetPresenceCallBacks(map { $_ => $presence->($_) } qw(subscribe subscribed unsubscribe unsubscribed available unavailable));
    my $message = sub {
        my (undef, $m) = @_;
        push @{ $messages{$user} }, $m;
    };
    $c->SetMessageCallBacks(normal => $message, chat => $message);
    $client{$user} = $c;
    print "$user ", ($register ? 'registered and ' : ''), "logged in\n";
    return $c;
}

sub roster_lines {
    my ($user) = @_;
    my %items = $client{$user}->RosterGet();
    return "$user roster: empty" unless %items;
    return map {
        my $i = $items{$_};
        "$user roster: $_ name=" . ($i->{name} // '') . ' subscription=' . ($i->{subscription} // '') .
            ' ask=' . ($i->{ask} // '') . ' groups=' . join(',', @{ $i->{groups} // [] })
    } sort keys %items;
}

# What the Roster object holds for $jid, and its presence as the PresenceDB
# has it. (The Roster object keeps presence too, but forgets it at every
# roster push for the contact, and the last push of a subscription comes
# after the contact's presence.)
sub roster_view {
    my ($user, $jid) = @_;
    my $r = $roster{$user};
    my $item = $r->exists($jid)
        ? "$jid name=" . ($r->query($jid, 'name') // '') . ' subscription=' . ($r->query($jid, 'subscription') // '')
        : "no $jid";
    my $p = $client{$user}->PresenceDBQuery($jid);
    my $seen = defined $p ? 'available as ' . $p->GetFrom('jid')->GetResource() . ': ' . ($p->GetStatus() // '') : 'unavailable';
    return "$user Roster object: $item; PresenceDB: $seen";
}

# --- Namespaces Net::Jabber 2.0 has no objects for, declared its documented way.
Net::Jabber::Client->AddNamespace(
    ns    => 'vcard-temp',
    tag   => 'vCard',
    xpath => {
        FN       => { path => 'FN/text()' },
        Nickname => { path => 'NICKNAME/text()' },
        URL      => { path => 'URL/text()' },
        Desc     => { path => 'DESC/text()' },
        VCard    => { type => 'master' },
    },
);
Net::Jabber::Client->AddNamespace(ns => 'jabber:iq:private', tag => 'query', xpath => {});
Net::Jabber::Client->AddNamespace(
    ns    => 'yak:test:bookmarks',
    tag   => 'bookmarks',
    xpath => {
        URL       => { path => 'url/text()' },
        Title     => { path => 'url/@title' },
        Bookmarks => { type => 'master' },
    },
);

# --- Log in, both online.
my $alice = login('alice', 1);
my $bob = login('bob', 1);
print "$_\n" for roster_lines('alice');
$alice->PresenceSend(status => 'Down the rabbit hole');
$bob->PresenceSend(status => 'Counting');

# --- Subscriptions both ways, alice first, with a roster item she names.
$alice->RosterAdd(jid => "bob\@$HOST", name => 'Bob', group => ['Friends']);
$alice->Subscription(type => 'subscribe', to => "bob\@$HOST");
expect('bob', "subscribe from alice\@$HOST");
$bob->Subscription(type => 'subscribed', to => "alice\@$HOST");
$bob->Subscription(type => 'subscribe', to => "alice\@$HOST");
expect('alice', "subscribed from bob\@$HOST");
expect('alice', "subscribe from bob\@$HOST");
$alice->Subscription(type => 'subscribed', to => "bob\@$HOST");
expect('bob', "subscribed from alice\@$HOST");
expect('alice', "available from bob\@$HOST/Perl: Counting");
expect('bob', "available from alice\@$HOST/Perl: Down the rabbit hole");
print "$_\n" for roster_lines('alice'), roster_lines('bob');
print roster_view('alice', "bob\@$HOST"), "\n";
print roster_view('bob', "alice\@$HOST"), "\n";

# --- vCard: alice's own, read by her and by bob; the server's.
my $iq = Net::Jabber::IQ->new();
$iq->SetIQ(type => 'set');
$iq->NewChild('vcard-temp')->SetVCard(fn => $NAME{alice}, nickname => 'alice', url => 'http://wonderland.example/');
my $res = $alice->SendAndReceiveWithID($iq, 10);
fail('vCard set: no reply') unless defined $res;
fail('vCard set: ' . $res->GetXML()) unless $res->GetType() eq 'result';
print "alice vCard stored\n";
# bob asks alice's connected full JID too (a chat window's JID): the
# server answers it, as 1.4 did; alice's Net::Jabber would not.
for my $ask (['alice', undef], ['bob', "alice\@$HOST"], ['bob', "alice\@$HOST/Perl"], ['bob', $HOST]) {
    my ($user, $to) = @$ask;
    $iq = Net::Jabber::IQ->new();
    $iq->SetIQ(type => 'get', defined $to ? (to => $to) : ());
    $iq->NewChild('vcard-temp');
    $res = $client{$user}->SendAndReceiveWithID($iq, 10);
    fail("vCard get by $user: no reply") unless defined $res;
    fail("vCard get by $user: " . $res->GetXML()) unless $res->GetType() eq 'result';
    my $card = $res->GetChild('vcard-temp');
    fail("vCard get by $user: no vCard in " . $res->GetXML()) unless defined $card;
    my %v = $card->GetVCard();
    print "$user read the vCard of ", ($to // 'herself'), ': ',
        join(', ', map { "$_=" . $v{$_} } grep { defined $v{$_} } qw(fn nickname url desc)), "\n";
}

# --- The server: time, version, browse; and bob browsed.
my %time = $alice->TimeQuery(to => $HOST, mode => 'block', timeout => 10);
fail('TimeQuery: no answer (' . ($alice->GetErrorCode() // '') . ')') unless %time;
print "time utc=$time{utc}\n";
print "time tz=$time{tz}\n";
print 'time display ', (($time{display} // '') ne '' ? 'given' : 'missing'), "\n";
my %version = $alice->VersionQuery(to => $HOST, mode => 'block', timeout => 10);
fail('VersionQuery: no answer (' . ($alice->GetErrorCode() // '') . ')') unless %version;
print "version name=$version{name} ver=$version{ver} os ", (($version{os} // '') ne '' ? 'given' : 'missing'), "\n";
for my $jid ($HOST, "bob\@$HOST") {
    my %browse = $alice->BrowseRequest(jid => $jid, timeout => 10);
    fail("BrowseRequest $jid: no answer (" . ($alice->GetErrorCode() // '') . ')') unless %browse;
    my $found = ref $browse{jid} ? $browse{jid}->GetJID('full') : $browse{jid};
    print "browse $jid: category=$browse{category} jid=$found",
        ' name=', ($browse{name} // ''), ' type=', ($browse{type} // ''),
        ' ns=', join(',', @{ $browse{ns} }), ' children=', scalar(@{ $browse{children} // [] }),
        join('', map { my $c = ref $_->{jid} ? $_->{jid}->GetJID('full') : $_->{jid}; " $_->{category}:$_->{type}:$c" } @{ $browse{children} // [] }), "\n";
}

# --- jabber:iq:private: store, then fetch.
$iq = Net::Jabber::IQ->new();
$iq->SetIQ(type => 'set');
$iq->NewChild('jabber:iq:private')->NewChild('yak:test:bookmarks')
    ->SetBookmarks(url => 'http://jabber.org/', title => 'Jabber');
$res = $alice->SendAndReceiveWithID($iq, 10);
fail('private set: no reply') unless defined $res;
fail('private set: ' . $res->GetXML()) unless $res->GetType() eq 'result';
print "private stored\n";
$iq = Net::Jabber::IQ->new();
$iq->SetIQ(type => 'get');
$iq->NewChild('jabber:iq:private')->NewChild('yak:test:bookmarks');
$res = $alice->SendAndReceiveWithID($iq, 10);
fail('private get: no reply') unless defined $res;
fail('private get: ' . $res->GetXML()) unless $res->GetType() eq 'result';
my $private = $res->GetChild('jabber:iq:private');
my $marks = defined $private ? $private->GetChild('yak:test:bookmarks') : undef;
fail('private get: nothing stored in ' . $res->GetXML()) unless defined $marks;
my %marks = $marks->GetBookmarks();
print "private fetched: url=", ($marks{url} // ''), ' title=', ($marks{title} // ''), "\n";

# --- bob leaves with a status: his last logout, and a message kept for him.
$bob->PresenceSend(type => 'unavailable', status => 'Gone home');
expect('alice', "unavailable from bob\@$HOST/Perl");
print roster_view('alice', "bob\@$HOST"), "\n";
$bob->Disconnect();
delete $client{bob};
print "bob logged off\n";
# The logout is recorded when bob's session has ended, a moment after his
# stream closed; and Net::Jabber reads seconds='0' as no seconds at all
# (XML::Stream's XPath takes the attribute value "0" for false). So ask
# until the record is bob's logout and at least a second old.
my %last;
my $until = time + 10;
while (1) {
    %last = $alice->LastQuery(to => "bob\@$HOST", mode => 'block', timeout => 10);
    fail('LastQuery: no answer') unless %last;
    last if ($last{message} // '') eq 'Gone home' && defined $last{seconds};
    fail('LastQuery: after 10 s still ' . join(', ', map { "$_=" . ($last{$_} // 'undef') } sort keys %last)) if time > $until;
    select(undef, undef, undef, 0.2);
}
fail("LastQuery: seconds=$last{seconds}") unless $last{seconds} =~ /^\d+$/ && $last{seconds} < 60;
print "last of bob: $last{message}, under a minute ago\n";
$alice->MessageSend(to => "bob\@$HOST", type => 'chat', subject => 'Tea', body => 'Tea at four?', thread => 'tea-1');
print "alice sent a message to bob\n";
print "PAUSE offline\n";
my $go = <STDIN>;
fail('no go-ahead on stdin') unless defined $go;

# --- bob is back: the message waits for him, stamped.
$bob = login('bob', 0);
$bob->PresenceSend(status => 'Back');
my $kept;
pump('the kept message', sub {
    ($kept) = grep { bare($_->GetFrom() // '') eq "alice\@$HOST" } @{ $messages{bob} // [] };
    return defined $kept;
});
print 'bob got a message from ', $kept->GetFrom(), ': type=', $kept->GetType(), ' subject=', $kept->GetSubject(),
    ' body=', $kept->GetBody(), ' thread=', $kept->GetThread(), "\n";
my $delay = $kept->GetChild('jabber:x:delay');
fail('no jabber:x:delay in ' . $kept->GetXML()) unless defined $delay;
print 'delay from=', $delay->GetFrom(), ' text=', $delay->GetMessage(), "\n";
print 'stamp ', $delay->GetStamp(), "\n";
expect('alice', "available from bob\@$HOST/Perl: Back");
expect('bob', "available from alice\@$HOST/Perl: Down the rabbit hole");

# --- alice removes bob.
@{ $events{$_} } = () for keys %events;
$alice->RosterRemove(jid => "bob\@$HOST");
expect('bob', "unsubscribe from alice\@$HOST");
expect('bob', "unsubscribed from alice\@$HOST");
expect('bob', "unavailable from alice\@$HOST/Perl");
expect('alice', "unavailable from bob\@$HOST/Perl");
pump("alice's Roster object to drop bob", sub { !$roster{alice}->exists("bob\@$HOST") });
pump("bob's Roster object to see the change", sub { ($roster{bob}->query("alice\@$HOST", 'subscription') // '') eq 'none' });
print "$_\n" for roster_lines('alice'), roster_lines('bob');
print roster_view('alice', "bob\@$HOST"), "\n";
print roster_view('bob', "alice\@$HOST"), "\n";
# Nothing else came: a moment more for anything late.
my $quiet = Time::HiRes::time() + 1;
pump('a quiet second', sub { Time::HiRes::time() >= $quiet });
for my $user (sort keys %events) {
    print "$user also saw: $_\n" for grep { !/^(unsubscribed? from|unavailable from)/ } @{ $events{$user} };
}

$alice->Disconnect();
$bob->Disconnect();
print "OK\n";
exit 0;
