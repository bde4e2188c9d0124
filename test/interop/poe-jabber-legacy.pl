#!/usr/bin/perl
# Interop: POE::Component::Jabber (Debian libpoe-component-jabber-perl)
# with its LEGACY connection type, the one its documentation keeps for
# "pre-XMPP Jabber servers" such as jabberd 1.4.
#
#   poe-jabber-legacy.pl PORT HOST USER PASSWORD PEER
#
# Logs in as USER@HOST/POE on 127.0.0.1:PORT (the component sends a
# version='0.9' header and a jabber:iq:auth digest of the stream id: no
# Plaintext option), then, each step once the one before is answered:
#   - gets its roster and prints it;
#   - sends its presence with a status and asks PEER (a bare JID) for a
#     subscription; the test's own client approves it and asks back;
#   - approves PEER's request, and waits until it has seen PEER approve
#     and PEER's presence;
#   - sends PEER a chat message, prints the answer it gets back;
#   - gets its roster again and prints it, then ends the stream.
# Every line printed is compared exactly by the test. Exit status 0 only
# when every step succeeded.
#
# Debian ships POE::Component::Jabber 3.00 (2009) with POE::Filter::XML
# 1.140700, whose Node API is no longer the one the component was written
# for, and whose reset leaves its own parser broken: without the repairs
# below the component cannot connect to any server at all. They are made
# before the component runs and touch no protocol code of its own.
use strict;
use warnings;

my ($port, $host, $user, $password, $peer) = @ARGV;
unless (defined $peer && $port =~ /^\d+$/) {
    print STDERR "usage: $0 PORT HOST USER PASSWORD PEER\n";
    exit 2;
}
BEGIN {
    unless (eval { require POE; POE->import; require POE::Component::Jabber; POE::Component::Jabber->import; 1 }) {
        print "FAIL POE::Component::Jabber is not installed (Debian/Ubuntu: apt-get install libpoe-component-jabber-perl)\n$@";
        exit 3;
    }
}

# The test reads these lines while the script runs.
$| = 1;
$SIG{ALRM} = sub { print "FAIL the script ran for more than 25 seconds\n"; exit 1; };
alarm 25;

# --- Repairs to the installed POE::Filter::XML, for the component.
{
    package POE::Filter::XML::Node;
    no warnings qw(redefine once);
    # The component builds stanzas with new(NAME, [ATTRIBUTES]) and
    # appendChild(NAME, [ATTRIBUTES]) returning the new child (its
    # jabber:iq:auth request among them), and marks stream headers with
    # stream_start(1) / stream_end(1): the POE::Filter::XML 0.38 API. 1.140700
    # takes a name only, appends nodes only, and made the two flags read-only
    # (the writers are _set_stream_start / _set_stream_end).
    my $new = __PACKAGE__->can('new');
    *new = sub {
        my ($class, $name, $attrs) = @_;
        my $node = $new->($class, $name);
        $node->setAttributes($attrs) if $attrs;
        return $node;
    };
    *appendChild = sub {
        my ($self, $child, $attrs) = @_;
        $child = __PACKAGE__->new($child, $attrs) unless ref $child;
        $self->XML::LibXML::Node::appendChild($child);
        return $child;
    };
    for my $flag (qw(stream_start stream_end)) {
        my ($get, $set) = (__PACKAGE__->can($flag), __PACKAGE__->can("_set_$flag"));
        no strict 'refs';
        *$flag = sub { my $self = shift; return @_ ? $self->$set(@_) : $self->$get() };
    }
}
{
    package POE::Filter::XML::Handler;
    no warnings 'redefine';
    # The filter resets its parser whenever a stream header is written (the
    # component's first output), and Handler::reset clears depth_stack
    # instead of emptying it: the next element read dies with "Can't use an
    # undefined value as an ARRAY reference". Put the empty stack back.
    my $reset = __PACKAGE__->can('reset');
    *reset = sub {
        my ($self) = @_;
        $reset->($self);
        $self->{depth_stack} = [];
    };
}

my $ALIAS = 'PCJ';
my %seen;

sub fail { print "FAIL @_\n"; exit 1; }
sub bare { my ($jid) = @_; return ($jid // '') =~ s{/.*}{}r; }

sub node {
    my ($name, @attrs) = @_;
    return POE::Filter::XML::Node->new($name, \@attrs);
}

sub send_node { $poe_kernel->post($ALIAS, 'output', $_[0]); }

sub roster_get {
    my ($id) = @_;
    my $iq = node('iq', type => 'get', id => $id);
    $iq->appendChild('query', [xmlns => 'jabber:iq:roster']);
    send_node($iq);
}

sub print_roster {
    my ($iq) = @_;
    fail('roster get: ' . $iq->toString()) unless ($iq->getAttribute('type') // '') eq 'result';
    my @items = map { $_->getChildrenByTagName('item') } $iq->getChildrenByTagName('query');
    print "ROSTER empty\n" unless @items;
    print 'ROSTER ', $_->getAttribute('jid'), ' subscription=', ($_->getAttribute('subscription') // ''), "\n" for @items;
}

# Once PEER approved, asked, and is seen: the chat message.
sub maybe_chat {
    return unless $seen{subscribed} && $seen{approved} && $seen{presence} && !$seen{sent}++;
    my $message = node('message', to => $peer, type => 'chat');
    $message->appendChild('body')->appendText('Hello from POE');
    send_node($message);
}

sub received {
    my $n = $_[ARG0];
    my $name = $n->nodeName();
    my ($type, $from, $id) = map { $n->getAttribute($_) } qw(type from id);
    if ($name eq 'iq' && ($id // '') eq 'roster-1') {
        print_roster($n);
        my $presence = node('presence');
        $presence->appendChild('status')->appendText('Polling the POE kernel');
        send_node($presence);
        send_node(node('presence', type => 'subscribe', to => $peer));
    } elsif ($name eq 'iq' && ($type // '') eq 'set') {
        # Roster pushes: the roster is read with a get at the end instead.
    } elsif ($name eq 'iq' && ($id // '') eq 'roster-2') {
        print_roster($n);
        $poe_kernel->post($ALIAS, 'shutdown');
    } elsif ($name eq 'presence' && bare($from) eq $peer) {
        $type //= 'available';
        if ($type eq 'subscribe') {
            send_node(node('presence', type => 'subscribed', to => $peer));
            print "APPROVED $peer\n";
            $seen{approved} = 1;
        } elsif ($type eq 'subscribed') {
            print "SUBSCRIBED by $peer\n";
            $seen{subscribed} = 1;
        } elsif ($type eq 'available') {
            my ($status) = $n->getChildrenByTagName('status');
            print "PRESENCE $from status=", ($status ? $status->textContent() : ''), "\n";
            $seen{presence} = 1;
        }
        maybe_chat();
    } elsif ($name eq 'message') {
        my ($body) = $n->getChildrenByTagName('body');
        print "RECEIVED from=$from type=", ($type // ''), ' body=', ($body ? $body->textContent() : ''), "\n";
        roster_get('roster-2');
    } else {
        print 'OTHER ', $n->toString(), "\n";
    }
}

POE::Session->create(
    inline_states => {
        _start => sub {
            $_[HEAP]{component} = POE::Component::Jabber->new(
                IP             => '127.0.0.1',
                Port           => $port,
                Hostname       => $host,
                Username       => $user,
                Password       => $password,
                Resource       => 'POE',
                Alias          => $ALIAS,
                ConnectionType => +LEGACY,
            );
            $_[KERNEL]->post($ALIAS, 'subscribe', $_->[0], $_->[1]) for (
                [+PCJ_READY, 'ready'],
                [+PCJ_NODERECEIVED, 'received'],
                [+PCJ_AUTHFAIL, 'auth_failed'],
                [+PCJ_CONNECTFAIL, 'connect_failed'],
                [+PCJ_SOCKETFAIL, 'connect_failed'],
                [+PCJ_SHUTDOWN_FINISH, 'finished'],
            );
            $_[KERNEL]->post($ALIAS, 'connect');
        },
        ready => sub {
            print 'LOGGED IN ', $_[HEAP]{component}->jid(), "\n";
            # Its return_to_sender cannot answer a session other than its
            # own (the answer is posted to its PubSub session, which refuses
            # it: "not owned by Sender"), so requests carry ids of our own
            # and their answers are picked out of the received nodes.
            roster_get('roster-1');
        },
        received       => \&received,
        auth_failed    => sub { fail('authentication refused') },
        connect_failed => sub { fail('connection failed: ', @_[ARG0 .. $#_]) },
        finished       => sub {
            print "OK\n";
            exit 0;
        },
    },
);
POE::Kernel->run();
fail('the POE kernel stopped before the end');
