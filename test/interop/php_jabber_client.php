<?php
// Interop: Class.Jabber.PHP (Debian libphp-jabber), the PHP 4 era Jabber
// client class written for jabberd 1.x, against Yak.
//
//   php php_jabber_client.php PORT HOST USER PASSWORD STEP...
//
// Connects to 127.0.0.1:PORT (stream to HOST) and runs the steps in order,
// each with the library's own methods, printing one line per step:
//
//   register            AccountRegistration() for USER           -> "AccountRegistration(USER) returned R"
//   auth                SendAuth() (the library picks the method) -> "logged in as JID using M"
//   auth-wrong:PASS     SendAuth() with a wrong password          -> "login as USER with a wrong password: refused"
//   subscribe:JID       Subscribe(JID), then the library's own presence handlers
//                       until its roster has JID at 'both'        -> "roster: JID subscription both ..."
//   presence:STATUS:SHOW:PRIORITY  SendPresence()                 -> "presence sent"
//   message:JID:ID:THREAD:BODY     SendMessage(), type chat       -> "message sent to JID"
//   await-message       CruiseControl() until a chat arrives      -> "got chat from JID: BODY"
//   vcard:JID           GetvCard(JID)                             -> "vCard of JID: FN ..."
//   regfields:JID       TransportRegistrationDetails(JID)         -> "register fields at JID: a b c"
//   regchange:JID:FIELD=VALUE,...  TransportRegistration(JID)     -> "TransportRegistration(JID) returned R"
//   keepalive           whether CruiseControl's jabber:iq:time ping came back
//
// Then it disconnects and prints OK. The exit status is 0 only if every step
// did what it says; the library's log (every packet sent and received) goes
// to stderr at the end.
//
// PHP 8 compatibility (the library is PHP 4 code and is used unpatched):
// - set_magic_quotes_runtime() and get_magic_quotes_gpc(), which the
//   library's socket reader calls around every fread(), are gone (PHP 7.0
//   and 8.0); magic quotes themselves have been gone since 5.4, so no-op
//   stand-ins that say "off" change nothing the library sees.
// - Its constructor is PHP 4 style (a method named Jabber()), which PHP 8
//   no longer calls by itself: the script calls it.
// - RosterUpdate() fails on an empty roster (count(NULL) is a TypeError in
//   PHP 8): the script reads the roster only once it has an item.
// - The library reads undefined variables and array keys all the time,
//   each a warning on PHP 8; they are not shown (its return values are
//   what the steps check).
// And one for the test setting: the library's own connector looks up an
// SRV record for the Jabber host in DNS before it connects; ours connects
// straight to 127.0.0.1, the only address the tests use. It otherwise
// is the library's connector (same socket options, reader and writer).

error_reporting(E_ALL & ~E_DEPRECATED & ~E_WARNING & ~E_NOTICE);
ini_set('display_errors', 'stderr');

if (!function_exists('set_magic_quotes_runtime')) {
	function set_magic_quotes_runtime($on) { return TRUE; }
}
if (!function_exists('get_magic_quotes_gpc')) {
	function get_magic_quotes_gpc() { return FALSE; }
}

$LIBRARY = '/usr/share/php/libphp-jabber/class.jabber.php';
if (!is_readable($LIBRARY)) {
	print "FAIL libphp-jabber is not installed (Debian/Ubuntu: apt-get install libphp-jabber php-cli)\n";
	exit(3);
}
require $LIBRARY;

class LoopbackConnector extends CJP_StandardConnector
{
	function OpenSocket($server, $port)
	{
		if ($this->active_socket = fsockopen('127.0.0.1', $port)) {
			socket_set_blocking($this->active_socket, 0);
			socket_set_timeout($this->active_socket, 31536000);
			return TRUE;
		}
		return FALSE;
	}
}

if (count($argv) < 5 || !preg_match('/^\d+$/', $argv[1])) {
	fwrite(STDERR, "usage: {$argv[0]} PORT HOST USER PASSWORD STEP...\n");
	exit(2);
}
list(, $port, $host, $user, $password) = $argv;
$steps = array_slice($argv, 5);

// A server that never answers must not hang the test suite.
pcntl_async_signals(TRUE);
pcntl_signal(SIGALRM, function () { say('FAIL no end within 25 seconds'); finish(1); });
pcntl_alarm(25);

$JABBER = new Jabber();
$JABBER->Jabber();
$JABBER->server = $host;
$JABBER->port = $port;
$JABBER->username = $user;
$JABBER->password = $password;
$JABBER->connection_class = 'LoopbackConnector';
$JABBER->enable_logging = TRUE;
$JABBER->delay_disconnect = 0;
$CONNECTED = FALSE;
$CHATS = array();

function say($line)
{
	print "$line\n";
	flush();
}

function finish($code)
{
	global $JABBER, $CONNECTED;
	if ($CONNECTED) {
		$log = $JABBER->log_array;
		$JABBER->enable_logging = FALSE;	// else Disconnect() prints the log as HTML
		$JABBER->Disconnect();
		$CONNECTED = FALSE;
		fwrite(STDERR, "Class.Jabber.PHP log:\n" . html_entity_decode(implode("\n", $log), ENT_QUOTES) . "\n");
		if ($code == 0) say('disconnected');
	}
	if ($code == 0) say('OK');
	exit($code);
}

function fail($what)
{
	say("FAIL $what");
	finish(1);
}

// The library calls a global function Handler_<stanza>_<type> when there is
// one, before its own method of that name.
function Handler_message_chat($packet)
{
	global $JABBER, $CHATS;
	$CHATS[] = $packet;
	$from = $JABBER->GetInfoFromMessageFrom($packet);
	$body = $JABBER->GetInfoFromMessageBody($packet);
	say("got chat from $from: $body");
}

// Wraps the library's own handler (which marks its keep-alive as returned
// whatever came back) to see what the server answered.
$KEEPALIVE_REPLY = NULL;
function Handler_iq_jabber_iq_time($packet)
{
	global $JABBER, $KEEPALIVE_REPLY;
	if ($JABBER->GetInfoFromIqId($packet) == $JABBER->keep_alive_id) {
		$KEEPALIVE_REPLY = $JABBER->GetInfoFromIqType($packet) . ' from ' . $JABBER->GetInfoFromIqFrom($packet);
	}
	$JABBER->Handler_iq_jabber_iq_time($packet);
}

/** CruiseControl() a quarter second at a time until $done() or $seconds have passed. */
function cruise_until($done, $seconds)
{
	global $JABBER;
	for ($t = 0; $t < $seconds * 4; $t++) {
		if ($done()) return TRUE;
		$JABBER->CruiseControl(0.25);
	}
	return $done();
}

/** The auth method of the last jabber:iq:auth set in the library's log. */
function auth_method_used()
{
	global $JABBER;
	foreach (array_reverse($JABBER->log_array) as $entry) {
		$entry = html_entity_decode($entry, ENT_QUOTES);
		if (strpos($entry, 'SEND: ') === 0 && strpos($entry, "type='set'") !== FALSE && strpos($entry, 'jabber:iq:auth') !== FALSE) {
			if (strpos($entry, '<hash>') !== FALSE) return '0k';
			if (strpos($entry, '<digest>') !== FALSE) return 'digest';
			if (strpos($entry, '<password>') !== FALSE) return 'plain';
			return 'unknown';
		}
	}
	return 'none';
}

function roster_line($jid)
{
	global $JABBER;
	$i = $JABBER->RosterExistsJID($jid);
	if ($i === FALSE || $i === NULL) return "roster: no $jid";
	$item = $JABBER->roster[$i];
	return "roster: {$item['jid']} subscription {$item['subscription']}";
}

if (!$JABBER->Connect()) fail("cannot connect to 127.0.0.1:$port");
$CONNECTED = TRUE;
say("connected to $host, stream id {$JABBER->stream_id}");

foreach ($steps as $step) {
	$parts = explode(':', $step);
	$name = array_shift($parts);
	$arg = implode(':', $parts);

	switch ($name) {
	case 'register':
		$r = $JABBER->AccountRegistration("$user@example.org", 'PHP Jabber');
		say("AccountRegistration($user) returned " . var_export($r, TRUE));
		break;

	case 'auth':
		if (!$JABBER->SendAuth()) fail("login as $user refused (method " . auth_method_used() . ')');
		say("logged in as {$JABBER->jid} using " . auth_method_used());
		break;

	case 'auth-wrong':
		$JABBER->password = $arg;
		$ok = $JABBER->SendAuth();
		$JABBER->password = $password;
		if ($ok) fail("login as $user with a wrong password accepted");
		say("login as $user with a wrong password (" . auth_method_used() . '): refused');
		break;

	case 'subscribe':
		if (!$JABBER->Subscribe($arg)) fail("Subscribe($arg)");
		say("subscription request sent to $arg");
		$both = function () use ($arg) {
			global $JABBER;
			$i = $JABBER->RosterExistsJID($arg);
			return is_int($i) && $JABBER->roster[$i]['subscription'] == 'both';
		};
		if (!cruise_until($both, 8)) fail('roster never at both: ' . roster_line($arg));
		// Read once more: what the server has now, not what a handler last saw.
		if (!$JABBER->RosterUpdate()) fail('RosterUpdate()');
		say(roster_line($arg) . ', ' . count($JABBER->roster) . ' item(s)');
		break;

	case 'presence':
		list($status, $show, $priority) = $parts;
		if (!$JABBER->SendPresence(NULL, NULL, $status, $show, $priority)) fail('SendPresence()');
		say('presence sent');
		break;

	case 'message':
		list($to, $id, $thread) = array_slice($parts, 0, 3);
		$body = implode(':', array_slice($parts, 3));
		if (!$JABBER->SendMessage($to, 'chat', $id, array('body' => $body, 'thread' => $thread))) fail('SendMessage()');
		say("message sent to $to");
		break;

	case 'await-message':
		if (!cruise_until(function () { global $CHATS; return count($CHATS) > 0; }, 8)) fail('no chat message arrived');
		break;

	case 'vcard':
		$packet = $JABBER->GetvCard($arg);
		if ($JABBER->GetInfoFromIqType($packet) != 'result') fail("GetvCard($arg): " . $JABBER->GetInfoFromIqError($packet));
		$vcard = $packet['iq']['#']['vCard'][0]['#'];
		say("vCard of $arg: FN {$vcard['FN'][0]['#']}, EMAIL {$vcard['EMAIL'][0]['#']['USERID'][0]['#']}");
		break;

	case 'regfields':
		$fields = $JABBER->TransportRegistrationDetails($arg);
		if (!is_array($fields)) fail("TransportRegistrationDetails($arg) returned " . var_export($fields, TRUE));
		say("register fields at $arg: " . implode(' ', $fields));
		break;

	case 'regchange':
		$to = array_shift($parts);
		$details = array();
		foreach (explode(',', implode(':', $parts)) as $pair) {
			list($k, $v) = explode('=', $pair, 2);
			$details[$k] = $v;
		}
		$r = $JABBER->TransportRegistration($to, $details);
		say("TransportRegistration($to) returned " . var_export($r, TRUE));
		break;

	case 'keepalive':
		// CruiseControl() pinged the server with jabber:iq:time the first time it ran.
		$back = function () { global $JABBER, $KEEPALIVE_REPLY; return $KEEPALIVE_REPLY !== NULL && $JABBER->returned_keep_alive === TRUE; };
		if (!cruise_until($back, 3)) fail('the jabber:iq:time keep-alive was not answered');
		say("keep-alive answered: $KEEPALIVE_REPLY");
		break;

	default:
		fail("unknown step $step");
	}
}

finish(0);
