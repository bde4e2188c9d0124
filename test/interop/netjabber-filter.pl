#!/usr/bin/perl
# Interop: Net::Jabber's own jabber:iq:filter objects (its Query rule API,
# written for jabberd 1.x) against Yak's mod_filter.
#
#   netjabber-filter.pl PORT
#
# Registers and logs in two users on 127.0.0.1:PORT (host localhost):
# "owner" stores a rule with Net::Jabber's AddRule/SetRule (from the other
# user: reply "Out fishing"), reads its rules back with GetRules, then the
# other user sends it a chat message and must get the automatic reply.
# A rule in Net::Jabber's older vocabulary (<drop/>) must be refused with
# 406. Prints each step; exit status 0 only when every step succeeded.
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

$SIG{ALRM} = sub { print "FAIL no answer from the server within 20 seconds\n"; exit 1; };
alarm 20;

sub fail { print "FAIL @_\n"; exit 1; }

# A connected, registered, logged-in client.
sub session {
    my ($user) = @_;
    my $c = Net::Jabber::Client->new();
    $c->Connect(hostname => '127.0.0.1', port => $port, componentname => 'localhost', timeout => 10)
        or fail("$user: cannot connect");
    my @reg = $c->RegisterSend(username => $user, password => 'Fi1ter', name => $user, email => "$user\@localhost");
    fail("$user: registration failed: @reg") unless @reg && $reg[0] eq 'ok';
    my @auth = $c->AuthSend(username => $user, password => 'Fi1ter', resource => 'Perl');
    fail("$user: login failed: @auth") unless @auth && $auth[0] eq 'ok';
    $c->PresenceSend();
    print "$user logged in\n";
    return $c;
}

my $owner = session('filterowner');
my $other = session('filterother');

# The rule, built with Net::Jabber's filter objects.
my $set = Net::Jabber::IQ->new();
$set->SetIQ(type => 'set');
my $query = $set->NewChild('jabber:iq:filter');
my $rule = $query->AddRule();
$rule->SetRule(from => 'filterother@localhost', reply => 'Out fishing');
print "sending: ", $set->GetXML(), "\n";
my $res = $owner->SendAndReceiveWithID($set, 10);
fail('set: no reply') unless defined $res;
fail('set: ' . $res->GetXML()) unless $res->GetType() eq 'result';
print "rule stored\n";

# Read back through GetRules.
my $get = Net::Jabber::IQ->new();
$get->SetIQ(type => 'get');
$get->NewChild('jabber:iq:filter');
$res = $owner->SendAndReceiveWithID($get, 10);
fail('get: no reply') unless defined $res && $res->GetType() eq 'result';
my @rules = $res->GetChild('jabber:iq:filter')->GetRules();
fail('get: expected one rule, got ' . scalar(@rules)) unless @rules == 1;
fail('get: from is ' . $rules[0]->GetFrom()) unless $rules[0]->GetFrom() eq 'filterother@localhost';
fail('get: reply is ' . $rules[0]->GetReply()) unless $rules[0]->GetReply() eq 'Out fishing';
print "rule read back: from ", $rules[0]->GetFrom(), ", reply ", $rules[0]->GetReply(), "\n";

# The other user writes; the filter answers for the owner.
my $reply;
# Every message is printed: the welcome message comes first, then the reply.
$other->SetCallBacks(message => sub {
    my (undef, $m) = @_;
    print 'received: ', $m->GetXML(), "\n";
    $reply = $m if ($m->GetType() // '') eq 'chat';
});
$other->MessageSend(to => 'filterowner@localhost', type => 'chat', body => 'Lunch?', thread => 'lunch-1');
while (!defined $reply) {
    defined $other->Process(10) or fail('connection lost while waiting for the reply');
}
fail('reply from ' . $reply->GetFrom()) unless $reply->GetFrom() eq 'filterowner@localhost';
fail('reply body ' . $reply->GetBody()) unless $reply->GetBody() eq 'Out fishing';
fail('reply thread ' . $reply->GetThread()) unless $reply->GetThread() eq 'lunch-1';
print "auto-reply received: ", $reply->GetBody(), "\n";

# Net::Jabber also knows tags from an older draft that 1.4 never took.
$set = Net::Jabber::IQ->new();
$set->SetIQ(type => 'set');
$set->NewChild('jabber:iq:filter')->AddRule()->SetRule(from => 'filterother@localhost', drop => '');
$res = $owner->SendAndReceiveWithID($set, 10);
fail('drop: no reply') unless defined $res;
fail('drop: expected error 406, got ' . $res->GetXML()) unless $res->GetType() eq 'error' && $res->GetErrorCode() eq '406';
print "old-draft rule refused: ", $res->GetError(), "\n";

$owner->Disconnect();
$other->Disconnect();
print "OK\n";
exit 0;
