#!/usr/bin/perl
# Interop: Net::Jabber, a Jabber client library we did not write, against Yak.
#
#   netjabber-register-login.pl PORT USER PASSWORD [EXPECTED_AUTH_TYPE]
#
# Connects to 127.0.0.1:PORT (stream to 'localhost'), registers USER in-band
# (jabber:iq:register), logs in on the same stream with Net::Jabber's own
# AuthSend (it asks jabber:iq:auth which methods are offered and picks one
# itself), removes the account again (RegisterSend remove) and disconnects.
# It prints which method Net::Jabber picked; with
# EXPECTED_AUTH_TYPE (plain, digest or zerok) any other choice is a failure.
# Exit status 0 only when every step succeeded.
use strict;
use warnings;
use File::Temp qw(tempfile);

my ($port, $user, $password, $expected) = @ARGV;
unless (defined $password && $port =~ /^\d+$/) {
    print STDERR "usage: $0 PORT USER PASSWORD [plain|digest|zerok]\n";
    exit 2;
}

unless (eval { require Net::Jabber; Net::Jabber->import('Client'); 1 }) {
    print "FAIL Net::Jabber is not installed (Debian/Ubuntu: apt-get install libnet-jabber-perl)\n";
    exit 3;
}

# A server that never answers must not hang the test suite.
$SIG{ALRM} = sub { print "FAIL no answer from the server within 20 seconds\n"; exit 1; };
alarm 20;

sub fail {
    print "FAIL @_\n";
    exit 1;
}

# Net::Jabber logs the auth method it picks ("AuthIQAuth: authType(digest)")
# at debug level 1; that log is the only place it says which one it used.
my (undef, $debugfile) = tempfile('netjabber-debug-XXXXXX', TMPDIR => 1, UNLINK => 1);
my $client = Net::Jabber::Client->new(debuglevel => 1, debugfile => $debugfile, debugtime => 0);

print "connecting to 127.0.0.1:$port (Jabber host localhost)\n";
my $status = $client->Connect(
    hostname      => '127.0.0.1',
    port          => $port,
    componentname => 'localhost',
    timeout       => 10,
);
fail('cannot connect: ' . ($client->GetErrorCode() // 'no reason given')) unless defined $status;
my $sid = $client->GetStreamID();
fail('no stream id in the server header') unless defined $sid && $sid ne '';
print "connected, stream id $sid\n";

my @reg = $client->RegisterSend(
    username => $user,
    password => $password,
    name     => 'Net Jabber',
    email    => "$user\@localhost",
);
fail('registration: no reply') unless @reg && defined $reg[0];
fail("registration: error $reg[0] ($reg[1])") unless $reg[0] eq 'ok';
print "registered $user\n";

my @auth = $client->AuthSend(username => $user, password => $password, resource => 'NetJabber');
fail('login: no reply') unless @auth && defined $auth[0];
fail("login: error $auth[0] ($auth[1])") unless $auth[0] eq 'ok';

open(my $log, '<', $debugfile) or fail("cannot read Net::Jabber's debug log: $!");
my ($method) = join('', <$log>) =~ /AuthIQAuth: authType\((\w+)\)/;
close($log);
fail('Net::Jabber did not log which auth method it used') unless defined $method;
print "logged in as $user\@localhost/NetJabber using $method\n";
fail("expected Net::Jabber to use $expected, it used $method") if defined $expected && $method ne $expected;

# The account's removal, answered before the server ends the stream
# (Net::XMPP drops an answer that comes in one read with the stream's end).
my @rm = $client->RegisterSend(to => 'localhost', remove => 1);
fail('removal: no answer before the stream ended') unless @rm && defined $rm[0];
fail("removal: error $rm[0] ($rm[1])") unless $rm[0] eq 'ok';
print "removed $user\n";

eval { $client->Disconnect() };
print "disconnected\n";
print "OK\n";
exit 0;
