#!/usr/bin/ruby
# Interop: xmpp4r (Ruby, Debian ruby-xmpp4r), a client library we did not
# write, against Yak. Every step is xmpp4r's own code; no workaround needed.
#
#   xmpp4r_client.rb PORT HOST USER PASSWORD PEER
#
# Connects to 127.0.0.1:PORT with streams to HOST. PEER (a bare JID) is a
# user our own test client keeps online; it answers the subscription and
# the chat message, and leaves USER an offline message when told to.
#
#  1. Client#register makes USER (jabber:iq:register); registering the same
#     name again raises ServerError with the 409 the server answered.
#  2. Non-SASL login (Yak offers no SASL mechanism, so Client#auth falls
#     back to jabber:iq:auth): a wrong password raises ServerError 401 from
#     Client#auth_nonsasl and ClientAuthenticationFailure from Client#auth;
#     auth_nonsasl(password, false) logs in with plain. xmpp4r has no
#     zero-knowledge (jabber:iq:auth <hash/>) code at all, so 0k is not tried.
#  3. Prints "WAITING offline" and reads one line from stdin: meanwhile PEER
#     sends USER a chat message, which the server stores offline.
#  4. The session: Client#auth (digest), the Roster helper's roster get,
#     initial presence, which brings the stored message with jabber:x:delay;
#     Roster::Helper#add(PEER, name, true) asks PEER for a subscription, the
#     subscription request callback accepts PEER's request back, until the
#     helper's item says 'both' and PEER's presence arrived; a chat message
#     each way; the Vcard helper sets USER's vCard and reads it back.
#
# One line per step on stdout ("REGISTERED alice", "AUTH digest ok", ...),
# "OK" at the end. Any failure prints "FAILED: ..." and exits 1.
require 'timeout'
require 'xmpp4r'
require 'xmpp4r/roster'
require 'xmpp4r/vcard'
require 'xmpp4r/delay'

STEP_TIMEOUT = 8
TOTAL_TIMEOUT = 25
RESOURCE = 'xmpp4r'

$stdout.sync = true

def say(line)
  puts line
end

def fail!(why)
  raise RuntimeError, why
end

# Waits for the block to be true; xmpp4r's helpers update their state in
# threads of their own, so there is nothing to block on but the state.
def wait_until(what)
  Timeout.timeout(STEP_TIMEOUT) do
    sleep 0.02 until yield
  end
rescue Timeout::Error
  fail!("#{what} did not happen within #{STEP_TIMEOUT} s")
end

def pop(queue, what)
  Timeout.timeout(STEP_TIMEOUT) { queue.pop }
rescue Timeout::Error
  fail!("no #{what} within #{STEP_TIMEOUT} s")
end

def connect(port, jid)
  client = Jabber::Client.new(jid)
  client.connect('127.0.0.1', port)
  client
end

def registration(port, jid, password)
  client = connect(port, jid)
  begin
    client.register(password, 'name' => 'Alice Ruby', 'email' => "#{jid.node}@#{jid.domain}")
    say "REGISTERED #{jid.node}"
    begin
      client.register(password)
      fail!('a second registration of the same name succeeded')
    rescue Jabber::ServerError => e
      say "CONFLICT #{e.error.code} #{e.error.text}"
    end
  ensure
    client.close
  end
end

def wrong_password(port, jid, password)
  client = connect(port, jid)
  begin
    begin
      client.auth_nonsasl("#{password}-wrong", true)
      fail!('auth_nonsasl with a wrong password succeeded')
    rescue Jabber::ServerError => e
      say "AUTH digest wrong-password #{e.error.code} #{e.error.text}"
    end
    begin
      client.auth("#{password}-wrong")
      fail!('Client#auth with a wrong password succeeded')
    rescue Jabber::ClientAuthenticationFailure => e
      say "AUTH client-auth wrong-password #{e.class.name.split('::').last}"
    end
  ensure
    client.close
  end
end

def plain_login(port, jid, password)
  client = connect(port, jid)
  begin
    client.auth_nonsasl(password, false)
    say 'AUTH plain ok'
  ensure
    client.close
  end
end

def session(port, jid, password, peer)
  client = connect(port, jid)
  # No SASL: Client#auth takes the non-SASL digest path.
  mechanisms = client.instance_variable_get(:@stream_mechanisms)
  fail!("the server offered SASL mechanisms #{mechanisms.inspect}") unless mechanisms.empty?
  client.auth(password)
  say 'AUTH digest ok'

  offline = Queue.new
  chats = Queue.new
  presences = Queue.new
  client.add_message_callback do |m|
    (m.x('jabber:x:delay') ? offline : chats) << m
    false
  end
  client.add_presence_callback do |p|
    presences << p if p.from && p.from.strip == peer && p.type.nil?
    false
  end

  roster = Jabber::Roster::Helper.new(client)
  Timeout.timeout(STEP_TIMEOUT) { roster.wait_for_roster }
  say "ROSTER #{roster.items.size} items"
  roster.add_subscription_request_callback do |_item, pres|
    if pres.from.strip == peer
      # The helper records each roster push in a thread of its own; once it
      # knows PEER (from the push for our own add), accept_subscription
      # only answers, instead of adding PEER again without its name.
      wait_until("the roster item for #{peer}") { roster[peer] }
      roster.accept_subscription(pres.from)
      say "ACCEPTED #{pres.from}"
    end
  end

  client.send(Jabber::Presence.new)
  stored = pop(offline, 'offline message')
  delay = stored.x('jabber:x:delay')
  say "OFFLINE from=#{stored.from} type=#{stored.type} delay-from=#{delay.from} stamp=#{delay.attributes['stamp']} " \
      "text=#{delay.text} body=#{stored.body}"

  roster.add(peer, 'Yak Peer', true)
  wait_until("subscription 'both' with #{peer}") { roster[peer] && roster[peer].subscription == :both }
  say "SUBSCRIPTION #{peer} #{roster[peer].subscription}"
  seen = pop(presences, "available presence of #{peer}")
  say "PRESENCE #{seen.from} available"

  client.send(Jabber::Message.new(peer, 'Hello from xmpp4r').set_type(:chat))
  reply = pop(chats, 'chat message')
  say "RECEIVED from=#{reply.from} type=#{reply.type} body=#{reply.body}"

  # Roster iqs from another account (the peer's, sent now), which the
  # helper would take as pushes: the server must keep them from us. The
  # message that follows them shows they have all been dealt with; the
  # helper handles each push in a thread of its own, hence the pause.
  say 'WAITING forged'
  after = pop(chats, 'the message sent after the forged roster iqs')
  sleep 1
  say "ROSTER-AFTER #{roster.items.map { |j, i| "#{j}(#{i.subscription})" }.sort.join(' ')} then #{after.body}"

  card = Jabber::Vcard::IqVcard.new('FN' => 'Alice Ruby', 'NICKNAME' => 'rubyist')
  vcards = Jabber::Vcard::Helper.new(client)
  vcards.set(card)
  got = vcards.get
  say "VCARD FN=#{got['FN']} NICKNAME=#{got['NICKNAME']}"
ensure
  client&.close
end

def main
  unless ARGV.length == 5 && ARGV[0] =~ /\A\d+\z/
    warn "usage: #{$0} PORT HOST USER PASSWORD PEER"
    return 2
  end
  port = ARGV[0].to_i
  host, user, password = ARGV[1], ARGV[2], ARGV[3]
  peer = Jabber::JID.new(ARGV[4]).strip
  jid = Jabber::JID.new("#{user}@#{host}/#{RESOURCE}")
  say "xmpp4r #{Jabber::XMPP4R_VERSION}"
  Timeout.timeout(TOTAL_TIMEOUT) do
    registration(port, jid, password)
    wrong_password(port, jid, password)
    plain_login(port, jid, password)
    say 'WAITING offline'
    fail!('stdin closed before the offline message was sent') if $stdin.gets.nil?
    session(port, jid, password, peer)
  end
  say 'OK'
  0
rescue StandardError, Timeout::Error => e
  say "FAILED: #{e.class}: #{e.message}"
  warn e.backtrace.join("\n")
  1
end

exit main
