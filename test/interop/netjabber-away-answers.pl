#!/usr/bin/perl
# Interop: a subscription approval that came while the asker was away, as
# Net::Jabber (the book's Perl library) shows it at the asker's next login.
#
#   netjabber-away-answers.pl PORT
#
# Two users, njaway and njyes, register and log in on 127.0.0.1:PORT (host
# localhost), each step with Net::Jabber's own API:
#   - both send presence; njaway asks njyes for a subscription
#     (Subscription type=>'subscribe') and reads its roster (RosterGet);
#   - njaway logs out (Disconnect); the script prints "PAUSE away" and waits
#     for a line on stdin (the test waits until the server has ended that
#     session);
#   - njyes approves (Subscription type=>'subscribed') and reads its roster,
#     whose reply means the server has handled the approval; the script
#     prints "PAUSE answered" and waits again (the test reads the spool);
#   - njaway logs in again, reads its roster, sends presence, and reports
#     what its presence callbacks were given: the approval, with what
#     Net::Jabber's jabber:x:delay object reads of it, and njyes's presence.
# Every line printed is meant to be compared exactly, except the "stamp"
# line, whose value the test compares with the stored one. Exit status 0
# only when every step succeeded.
#
# The per-type presence callbacks (SetPresenceCallBacks) are the script's
# own: Net::XMPP's defaults answer each subscription presence by themselves
# (a subscribed with a subscribed back), which would put presences on the
# wire the test did not ask for.
use strict;
use warnings;

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
$SIG{ALRM} = sub { print "FAIL the script took more than 25 seconds\n"; exit 1; };
alarm 25;

my $HOST = 'localhost';
my $PASSWORD = 'Aw4yAnswers';

sub fail { print "FAIL @_\n"; exit 1; }

# Per user: the connection, and the presences its callbacks were given, in
# order, as [line, presence object].
my (%client, %events);

# Processes every open connection until $done returns true.
sub pump {
    my ($what, $done) = @_;
    my $until = time + 8;
    until ($done->()) {
        fail("timed out waiting for $what") if time > $until;
        for my $user (sort keys %client) {
            defined $client{$user}->Process(0.1) or fail("$user: connection lost while waiting for $what");
        }
    }
}

sub seen {
    my ($user, $line) = @_;
    return grep { $_->[0] eq $line } @{ $events{$user} // [] };
}

# Waits until $user's callbacks have been given $line; returns that presence.
sub expect {
    my ($user, $line) = @_;
    pump("$user to see: $line", sub { seen($user, $line) });
    print "$user got $line\n";
    return (seen($user, $line))[0]->[1];
}

sub bare { my ($jid) = @_; return $jid =~ s{/.*}{}r; }

sub login {
    my ($user, $register) = @_;
    my $c = Net::Jabber::Client->new();
    # Net::XMPP 1.05 frees its callback table at the end of new(), so no
    # callback would ever fire; InitCallbacks() builds it again, and its iq
    # dispatcher (which dies on the second unrequested iq of a namespace)
    # is replaced by one that does nothing. netjabber-session.pl says more.
    $c->InitCallbacks() unless $c->{CB};
    $c->SetCallBacks(iq => sub { });
    $c->Connect(hostname => '127.0.0.1', port => $port, componentname => $HOST, timeout => 10)
        or fail("$user: cannot connect");
    if ($register) {
        my @reg = $c->RegisterSend(username => $user, password => $PASSWORD);
        fail("$user: registration failed: @reg") unless @reg && $reg[0] eq 'ok';
    }
    my @auth = $c->AuthSend(username => $user, password => $PASSWORD, resource => 'Perl');
    fail("$user: login failed: @auth") unless @auth && $auth[0] eq 'ok';
    my $presence = sub {
        my ($kind) = @_;
        return sub {
            my (undef, $p) = @_;
            my $from = $p->GetFrom();
            my $line = "$kind from " . ($kind =~ /available/ ? $from : bare($from));
            push @{ $events{$user} }, [$line, $p];
        };
    };
    $c->SetPresenceCallBacks(map { $_ => $presence->($_) } qw(subscribe subscribed unsubscribe unsubscribed available unavailable));
    # The bundled config's welcome message comes at the first login; with
    # no callback for its type, Net::XMPP warns.
    $c->SetMessageCallBacks(normal => sub { }, chat => sub { });
    $client{$user} = $c;
    print "$user ", ($register ? 'registered and ' : ''), "logged in\n";
    return $c;
}

sub roster_lines {
    my ($user) = @_;
    my %items = $client{$user}->RosterGet();
    return "$user roster: empty" unless %items;
    return map {
        "$user roster: $_ subscription=" . ($items{$_}->{subscription} // '') . ' ask=' . ($items{$_}->{ask} // '')
    } sort keys %items;
}

sub pause {
    my ($what) = @_;
    print "PAUSE $what\n";
    my $go = <STDIN>;
    fail("no go-ahead on stdin after $what") unless defined $go;
}

# --- Both online; njaway asks njyes, and leaves.
my $away = login('njaway', 1);
my $yes = login('njyes', 1);
$away->PresenceSend();
$yes->PresenceSend(status => 'Here');
print "$_\n" for roster_lines('njaway');
$away->Subscription(type => 'subscribe', to => "njyes\@$HOST");
expect('njyes', "subscribe from njaway\@$HOST");
print "$_\n" for roster_lines('njaway');
$away->Disconnect();
delete $client{njaway};
print "njaway logged off\n";
pause('away');

# --- njyes approves while njaway is away.
$yes->Subscription(type => 'subscribed', to => "njaway\@$HOST");
print "$_\n" for roster_lines('njyes');
pause('answered');

# --- njaway is back: the roster says so already; the approval comes with presence.
@{ $events{$_} } = () for keys %events;
$away = login('njaway', 0);
print "$_\n" for roster_lines('njaway');
$away->PresenceSend();
my $answer = expect('njaway', "subscribed from njyes\@$HOST");
print 'njaway was told: type=', $answer->GetType(), ' to=', $answer->GetTo(), "\n";
my $delay = $answer->GetChild('jabber:x:delay');
fail('no jabber:x:delay in ' . $answer->GetXML()) unless defined $delay;
print 'delay from=', $delay->GetFrom(), ' text=', $delay->GetMessage(), "\n";
print 'stamp ', $delay->GetStamp(), "\n";
# Subscribed now: njyes's presence follows.
expect('njaway', "available from njyes\@$HOST/Perl");
# Anything more for njaway (a second copy of the approval) has come by the
# reply to its next request; anything it caused for njyes, by the reply to
# njyes's next one after that.
print "$_\n" for roster_lines('njaway'), roster_lines('njyes');
print 'njaway was told subscribed ', scalar(seen('njaway', "subscribed from njyes\@$HOST")), " time(s)\n";
for my $user (sort keys %events) {
    print "$user also saw: $_->[0]\n"
        for grep { $_->[0] !~ /^(available from|subscribed from njyes)/ } @{ $events{$user} };
}

$away->Disconnect();
$yes->Disconnect();
print "OK\n";
exit 0;
