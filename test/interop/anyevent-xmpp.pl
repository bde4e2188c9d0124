#!/usr/bin/perl
# Interop: AnyEvent::XMPP (Debian libanyevent-xmpp-perl), the AnyEvent
# XMPP library, against a jabberd 1.4-style server.
#
#   anyevent-xmpp.pl PORT HOST ALICE BOB PASSWORD
#
# Two AnyEvent::XMPP::IM::Connection clients on 127.0.0.1:PORT (a port
# number: no DNS SRV lookup), one after the other:
#   - ALICE sends its usual version='1.0' header; Yak's features offer
#     iq-auth and no SASL, so the library uses jabber:iq:auth;
#   - BOB sends version='0.9' (stream_version_override, which the library
#     keeps for testing iq auth): Yak answers with 1.4's header, without a
#     version, and the library takes the path it wrote for jabberd 1.4.2
#     (start_old_style_authentication).
# Each registers in-band first with AnyEvent::XMPP::Ext::Registration (in
# the stream_pre_authentication event, as its documentation shows), then
# logs in; the library fetches the roster and sends its initial presence.
# A third connection registers ALICE again and reports the refusal. Then,
# with the library's roster and contact objects: ALICE adds BOB and asks
# for his presence, BOB approves and asks back, ALICE approves; ALICE
# sends BOB a chat message when she sees him, BOB answers it (make_reply).
# When both rosters say 'both' and each has seen the other, the script
# prints both rosters and ends.
# Lines start with the user they are about; the test compares each user's
# lines, in order, exactly. Exit status 0 only when every step succeeded.
#
# The library logs in with a plaintext password: it sends the digest only
# with its anal_iq_auth option, whose jabber:iq:auth get carries no
# username, which 1.4 (and Yak) refuse with 406.
use strict;
use warnings;

my ($port, $host, $alice, $bob, $password) = @ARGV;
unless (defined $password && $port =~ /^\d+$/) {
    print STDERR "usage: $0 PORT HOST ALICE BOB PASSWORD\n";
    exit 2;
}
unless (eval { require AnyEvent; require AnyEvent::XMPP::IM::Connection; require AnyEvent::XMPP::Ext::Registration; 1 }) {
    print "FAIL AnyEvent::XMPP is not installed (Debian/Ubuntu: apt-get install libanyevent-xmpp-perl)\n$@";
    exit 3;
}

# The test reads these lines while the script runs.
$| = 1;
$SIG{ALRM} = sub { print "FAIL the script ran for more than 25 seconds\n"; exit 1; };
alarm 25;

my $done = AnyEvent->condvar;
my %con;       # user -> connection
my %seen;      # "user sees JID" -> 1

sub fail { print "FAIL @_\n"; exit 1; }
sub name_of { my ($jid) = @_; return $jid =~ s{@.*}{}r; }

# A connection that registers USER in-band before it logs in; $then runs
# once the session is ready (or, with $register_only, once registration
# answered, with the error if any).
sub connect_user {
    my ($user, %opt) = @_;
    my $c = AnyEvent::XMPP::IM::Connection->new(
        jid             => "$user\@$host",
        password        => $password,
        resource        => 'AnyEvent',
        host            => '127.0.0.1',
        port            => $port,
        connect_timeout => 5,
        ($opt{old_header} ? (stream_version_override => '0.9') : ()),
    );
    $c->reg_cb(
        # The documentation says a false return value stops authentication;
        # the code passes a reference to a flag instead, and the return
        # value is ignored: clear the flag.
        stream_pre_authentication => sub {
            my ($con, $continue) = @_;
            $$continue = 0;
            my $reg = AnyEvent::XMPP::Ext::Registration->new(connection => $con);
            $reg->send_registration_request(sub {
                my (undef, $form, $error) = @_;
                fail("$user: registration form: " . $error->string) if $error;
                $reg->submit_form($form->try_fillout_registration($user, $password), sub {
                    my (undef, $ok, $error) = @_;
                    if ($opt{register_only}) {
                        $opt{then}->($con, $ok ? undef : $error);
                        return;
                    }
                    fail("$user: registration: " . $error->string) unless $ok;
                    print "$user registered\n";
                    $con->authenticate();
                });
            });
        },
        iq_auth_error => sub { fail("$user: login refused: " . $_[1]->string) },
        error         => sub { fail("$user: " . $_[1]->string) },
        disconnect    => sub {
            my (undef, $h, $p, $message) = @_;
            fail("$user: disconnected: $message") unless $opt{register_only} || $seen{finished};
        },
    );
    unless ($opt{register_only}) {
        $c->reg_cb(session_ready => sub {
            my ($con) = @_;
            my @contacts = $con->get_roster()->get_contacts();
            print "$user logged in as ", $con->jid(), ', roster: ', scalar(@contacts), " contacts\n";
            $opt{then}->($con);
        });
        on_im_events($user, $c);
        $con{$user} = $c;
    }
    $c->connect();
    return $c;
}

sub on_im_events {
    my ($user, $c) = @_;
    $c->reg_cb(
        contact_request_subscribe => sub {
            my (undef, undef, $contact) = @_;
            print "$user asked by ", $contact->jid(), "\n";
            $contact->send_subscribed();
            # Mutual: asking back after approving, as the library's documentation says.
            $contact->send_subscribe() if $user eq $bob;
        },
        contact_subscribed => sub {
            my (undef, undef, $contact) = @_;
            print "$user approved by ", $contact->jid(), "\n";
        },
        presence_update => sub {
            my (undef, undef, $contact, undef, $new) = @_;
            # No new presence: the contact went unavailable.
            return unless $new && !$seen{"$user " . $new->jid()}++;
            print "$user sees ", $new->jid(), ' show=', ($new->show() // ''), ' priority=', ($new->priority() // ''), "\n";
            if ($user eq $alice) {
                $contact->make_message(type => 'chat', body => "Hello $bob, from $alice")->send();
            }
            finish();
        },
        message => sub {
            my (undef, $msg) = @_;
            print "$user got from=", $msg->from(), ' type=', ($msg->type() // ''), ' body=', $msg->any_body(), "\n";
            return unless $msg->from() =~ /^(\Q$alice\E|\Q$bob\E)\@/;
            if ($user eq $bob) {
                my $reply = $msg->make_reply();
                $reply->add_body("Hello $alice, from $bob");
                $reply->send();
            } else {
                $seen{reply} = 1;
                finish();
            }
        },
        roster_update => sub { finish() },
    );
}

sub subscription {
    my ($user, $contact) = @_;
    my $c = $con{$user}->get_roster()->get_contact("$contact\@$host");
    return $c ? $c->subscription() : 'none';
}

# Once each has seen the other, the answer came, and both rosters say 'both'.
sub finish {
    return unless $seen{reply} && $seen{"$alice $bob\@$host/AnyEvent"} && $seen{"$bob $alice\@$host/AnyEvent"};
    return unless subscription($alice, $bob) eq 'both' && subscription($bob, $alice) eq 'both';
    return if $seen{finished}++;
    for my $user ($alice, $bob) {
        for my $c ($con{$user}->get_roster()->get_contacts()) {
            print "$user roster: ", $c->jid(), ' name=', ($c->name() // ''), ' subscription=', $c->subscription(), "\n";
        }
    }
    # Not from inside the event being handled: after a roster push's event
    # the library still answers the push, on a connection that must be open.
    AnyEvent::postpone(sub {
        $con{$_}->disconnect('done') for $alice, $bob;
        $done->send();
    });
}

# --- One after the other: ALICE, BOB, the second registration of ALICE; then the rest.
connect_user($alice, then => sub {
    connect_user($bob, old_header => 1, then => sub {
        connect_user($alice, register_only => 1, then => sub {
            my ($con, $error) = @_;
            print "$alice registered again: ", ($error ? $error->string : 'accepted'), "\n";
            $con->disconnect('done');
            $con{$alice}->get_roster()->new_contact("$bob\@$host", 'Bob', [], sub {
                my ($contact, $error) = @_;
                fail("$alice: roster set: " . $error->string) if $error;
                $contact->send_subscribe();
            });
        });
    });
});
$done->recv();
print "OK\n";
exit 0;
