-- Prosody configuration for Yak's benchmark (bench/run.ts --peers prosody).
-- A template: the harness replaces @PORT@ and @DATA@ (a fresh temp folder
-- per run) and starts `prosody --config FILE -F` as root, pinned to the
-- server core. Loopback only; nothing but the client port listens.
--
-- Set up for a like-for-like comparison with Yak's bench config:
--   * legacy jabber:iq:auth (mod_legacyauth, plaintext over an unencrypted
--     stream allowed: it is loopback) and in-band registration open;
--   * registration throttling off, c2s rate limits off (mod_limits not
--     loaded), no TLS requirement;
--   * Nagle off for client sockets (network_settings.nagle = false), as
--     Yak and ejabberd do; with it on, every reply written in two pieces
--     waits for the client's delayed ACK (40 ms), which measures the
--     kernel, not the server; and a listen backlog of 1024;
--   * plaintext password storage (internal_plain). Prosody's legacy auth
--     only takes <password>, so login-digest and login-0k are reported as
--     not supported.

run_as_root = true
daemonize = false
pidfile = "@DATA@/prosody.pid"
data_path = "@DATA@"
admin_socket = "@DATA@/prosody.sock"
certificates = "/etc/prosody/certs"

interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_interfaces = { "127.0.0.1" }
c2s_ports = { @PORT@ }
s2s_ports = { }
component_ports = { }
http_ports = { }
https_ports = { }
c2s_direct_tls_ports = { }

modules_enabled = {
	"roster";
	"legacyauth";
	"register";
	"disco";
	"time";
	"version";
	"private";
	"vcard_legacy";
}
modules_disabled = {
	"s2s";
	"tls";
}

authentication = "internal_plain"
storage = "internal"

allow_registration = true
c2s_require_encryption = false
s2s_require_encryption = false
allow_unencrypted_plain_auth = true
registration_throttle_max = nil
min_seconds_between_registrations = 0
registration_whitelist = { "127.0.0.1", "::1" }

c2s_tcp_keepalives = false

network_settings = {
	nagle = false;
	tcp_backlog = 1024;
}

log = {
	warn = "@DATA@/prosody.log";
}

VirtualHost "localhost"
