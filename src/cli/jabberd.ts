#!/usr/bin/env node
// jabberd's entry point: jabberd -c jabber.xml [-s spool] [-h host] [-D] [--check].
// It catches SIGHUP first, and only then loads the daemon (daemon.ts), so
// that a SIGHUP while the modules load cannot kill it (see hangups.ts).
import { catchHangupsEarly } from './hangups.js';

catchHangupsEarly();
await import('./daemon.js');
