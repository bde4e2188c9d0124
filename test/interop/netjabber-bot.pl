#!/usr/bin/perl
# Interop: a bot written with Net::Jabber::Bot (Debian
# libnet-jabber-bot-perl), the framework many legacy Jabber bots use.
#
#   netjabber-bot.pl PORT HOST USER PASSWORD RESOURCE
#
# Logs in as USER@HOST/RESOURCE on 127.0.0.1:PORT through the framework
# (Net::Jabber::Bot->new connects, authenticates with Net::Jabber's
# AuthSend, fetches the roster and sends its presence), prints "ready", and
# runs the framework's own loop (Start). Its message function answers each
# message with "echo: BODY" to the sender's full JID (SendPersonalMessage)
# and prints "got FROM: BODY". A message "status TEXT" changes its presence
# (ChangeStatus, show 'away') and is answered "status set"; "quit" is
# answered "bye", then the bot disconnects (Disconnect) and the script
# exits 0. The framework answers subscription requests and
# jabber:iq:version by itself.
#
# One workaround, for the framework's start-up grace period (it drops the
# messages of the first second), below where it is made. The framework's
# jabber:iq:version answer carries no id (the test says so).
use strict;
use warnings;

my ($port, $host, $user, $password, $resource) = @ARGV;
unless (defined $resource && $port =~ /^\d+$/) {
    print STDERR "usage: $0 PORT HOST USER PASSWORD RESOURCE\n";
    exit 2;
}
unless (eval { require Net::Jabber::Bot; 1 }) {
    print "FAIL Net::Jabber::Bot is not installed (Debian/Ubuntu: apt-get install libnet-jabber-bot-perl)\n$@";
    exit 3;
}

# The test reads these lines while the script runs.
$| = 1;
$SIG{ALRM} = sub { print "FAIL the bot ran for more than 50 seconds\n"; exit 1; };
alarm 50;

binmode STDOUT, ':encoding(UTF-8)';
# The framework logs through Log::Log4perl (a dependency): errors only, to stderr.
Log::Log4perl->easy_init({ level => Log::Log4perl::Level::to_priority('ERROR'), file => 'STDERR' });

my $bot = Net::Jabber::Bot->new(
    server                 => '127.0.0.1',    # where to connect
    server_host            => $host,          # the Jabber host, for the stream header
    port                   => $port,
    username               => $user,
    password               => $password,
    resource               => $resource,
    alias                  => $user,
    message_function       => \&on_message,
    background_function    => sub { },
    loop_sleep_time        => 5,
    process_timeout        => 1,
    ignore_server_messages => 1,
    ignore_self_messages   => 1,
    # The framework ignores every message for forum_join_grace seconds
    # after it connects (meant for a chat room's history), compared in
    # whole seconds; the smallest grace it takes (a number above 0) still
    # drops whatever arrives in the second of the login. So "ready" waits
    # below for that second to pass.
    forum_join_grace       => 0.001,
    forums_and_responses   => {},
);

Time::HiRes::sleep(0.05) while time <= $bot->connect_time;
print "ready\n";

$bot->Start();
print "FAIL Start() returned\n";
exit 1;

sub on_message {
    my %m = @_;
    my $bot = $m{bot_object};
    my $from = $m{from_full};
    my $body = defined $m{body} ? $m{body} : '';
    print "got $from: $body\n";
    if ($body =~ /^status (.+)$/s) {
        $bot->ChangeStatus('away', $1);
        $bot->SendPersonalMessage($from, 'status set');
    } elsif ($body eq 'quit') {
        $bot->SendPersonalMessage($from, 'bye');
        $bot->Disconnect();
        print "disconnected\n";
        exit 0;
    } else {
        $bot->SendPersonalMessage($from, "echo: $body");
    }
}
