#!/usr/bin/perl
# Interop: Net::Jabber::Loudmouth (Debian libnet-jabber-loudmouth-perl),
# the Perl binding of the loudmouth C library.
#
#   loudmouth.pl PORT HOST USER PASSWORD PEER
#
# Connects to 127.0.0.1:PORT (a server address and a port of its own: no
# DNS SRV lookup), as USER@HOST, and with loudmouth's own calls:
#   - authenticates with a wrong password first, on a connection of its
#     own, and reports the refusal;
#   - authenticates (loudmouth asks jabber:iq:auth for the methods and
#     sends a digest when offered: Yak's header to its version='1.0' lists
#     iq-auth and no SASL, which loudmouth reads as "XEP-0078 instead of
#     SASL"), gets its roster and sends its presence;
#   - sends PEER a chat message and prints the answer it gets back, from
#     its message handler in the GLib main loop;
#   - closes the connection.
# Every line printed is compared exactly by the test. Exit status 0 only
# when every step succeeded.
#
# The binding writes a to attribute on every message it builds, empty
# when none is given (Message->new('', ...), as its own examples do), so
# the roster get and the presence carry to='': 1.4 read an empty to as none.
use strict;
use warnings;

my ($port, $host, $user, $password, $peer) = @ARGV;
unless (defined $peer && $port =~ /^\d+$/) {
    print STDERR "usage: $0 PORT HOST USER PASSWORD PEER\n";
    exit 2;
}
unless (eval { require Glib; require Net::Jabber::Loudmouth; 1 }) {
    print "FAIL Net::Jabber::Loudmouth is not installed (Debian/Ubuntu: apt-get install libnet-jabber-loudmouth-perl)\n$@";
    exit 3;
}

# The test reads these lines while the script runs.
$| = 1;
$SIG{ALRM} = sub { print "FAIL the script ran for more than 25 seconds\n"; exit 1; };
alarm 25;

sub fail { print "FAIL @_\n"; exit 1; }

sub connection {
    my $c = Net::Jabber::Loudmouth::Connection->new('127.0.0.1');
    $c->set_port($port);
    $c->set_jid("$user\@$host");
    $c->open_and_block() or fail('cannot connect');
    return $c;
}

# --- A wrong password: refused.
my $wrong = connection();
# The binding croaks with loudmouth's GError message when it is refused.
my $accepted = eval { $wrong->authenticate_and_block($user, "not$password", 'Loudmouth') };
print 'AUTH wrong password ', ($accepted ? 'accepted' : 'refused: ' . ($@ =~ s/ at .*//sr)), "\n";
$wrong->close();

# --- Logged in: roster and presence.
my $c = connection();
$c->authenticate_and_block($user, $password, 'Loudmouth') or fail('authentication refused');
print 'AUTH ok, authenticated=', ($c->is_authenticated() ? 'yes' : 'no'), "\n";

my $get = Net::Jabber::Loudmouth::Message->new_with_sub_type('', 'iq', 'get');
$get->get_node->add_child('query')->set_attribute(xmlns => 'jabber:iq:roster');
my $roster = $c->send_with_reply_and_block($get) or fail('no roster answer');
fail('roster get: ' . $roster->get_node->to_string()) unless $roster->get_sub_type() eq 'result';
my $query = $roster->get_node->get_child_by_name('query');
my @items;
for (my $item = $query && $query->get_child(); $item; $item = $item->get_next()) {
    push @items, $item->get_attribute('jid') . ' subscription=' . ($item->get_attribute('subscription') // '');
}
print 'ROSTER ', (@items ? join(', ', @items) : 'empty'), "\n";

my $presence = Net::Jabber::Loudmouth::Message->new('', 'presence');
$presence->get_node->add_child(status => 'Loud and clear');
$c->send($presence) or fail('cannot send presence');

# --- Chat: the answer arrives through a message handler.
my $loop = Glib::MainLoop->new();
my $handler = Net::Jabber::Loudmouth::MessageHandler->new(sub {
    my (undef, undef, $m) = @_;
    my $node = $m->get_node;
    my $body = $node->get_child_by_name('body');
    print 'RECEIVED from=', $node->get_attribute('from'), ' type=', $m->get_sub_type(),
        ' body=', ($body ? $body->get_value() : ''), "\n";
    $loop->quit();
    return 'remove-message';
});
$c->register_message_handler('message', 'normal', $handler);
my $chat = Net::Jabber::Loudmouth::Message->new_with_sub_type($peer, 'message', 'chat');
$chat->get_node->add_child(body => 'Hello from Loudmouth');
$c->send($chat) or fail('cannot send the message');
print "SENT\n";
$loop->run();

$c->close();
print "OK\n";
exit 0;
