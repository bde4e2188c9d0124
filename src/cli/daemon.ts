// The daemon: jabberd -c jabber.xml [-s spool] [-h host] [-D] [--check],
// started through jabberd.ts, which catches SIGHUP before this loads (and
// for -B starts it again in the background, without -B: background.ts).
import { Command, CommanderError } from 'commander';
import { YAK_VERSION } from '../version.js';
import { loadConfig } from '../config/load.js';
import { registrationOffered } from '../config/sessions.js';
import { ConfigError, type YakConfig } from '../config/types.js';
import { createLogger, type Logger } from '../log.js';
import { MODULES, notProvided } from '../jsm/modules/index.js';
import { ListenError, listenSpecs } from '../net/listeners.js';
import { StartupError, YakServer } from '../server.js';
import { PidfileError } from '../util/pidfile.js';
import { readyInBackground } from './background.js';
import { onHangup, onIgnoredSignal } from './hangups.js';
import { logFilePathProblem, pidfilePathProblem, spoolPathProblem } from './path-problems.js';

const program = new Command('jabberd')
  .description('Yak, a Jabber server compatible with jabberd 1.4')
  .option('-c, --config <file>', 'configuration file', 'jabber.xml')
  .option('-s, --spool <dir>', 'spool folder (replaces <jabberd:cmdline flag="s">, or <spool> without one)')
  .option('-h, --host <name>', 'host name (replaces <jabberd:cmdline flag="h">)')
  .option('-D, --debug', 'debug logging')
  .option('--check', 'validate the configuration, print what would run, and exit')
  .option('-B', 'run in the background (1.4 init scripts): return once the server listens')
  .version(`jabberd (Yak) ${YAK_VERSION}`, '-v, --version', 'print the version')
  .helpOption('--help', 'display help')
  // Thrown, not process.exit(): --help or --version written to a full disk
  // must still be said and fail (stdout-failure.ts), which an exit at once
  // would cut short.
  .exitOverride();
/** false when commander answered the command line itself (--help, --version, a usage error); the exit status is set. */
const parsed = ((): boolean => {
  try {
    program.parse();
    return true;
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    process.exitCode = err.exitCode;
    return false;
  }
})();
const opts = program.opts<{ config: string; spool?: string; host?: string; debug?: boolean; check?: boolean }>();

function describe(config: YakConfig): string {
  // An IPv6 address in brackets, as reguser takes it: `::1:5222` reads as an address itself.
  const where = (l: { address: string | undefined; port: number }): string => `${l.address?.includes(':') ? `[${l.address}]` : (l.address ?? '*')}:${l.port}`;
  return [
    `config:   ${config.file}`,
    `hosts:    ${config.hosts.join(', ')}`,
    `listen:   ${config.c2s.listen.map(where).join(', ') || '(none: TLS only)'}`,
    ...(config.c2s.ssl.length ? [`tls:      ${config.c2s.ssl.map(where).join(', ')}`] : []),
    `spool:    ${config.spool}`,
    `modules:  ${config.jsm.modules.filter((m) => MODULES.has(m)).join(' ')}`,
    // A typo in <load> would otherwise show only in the running server's log.
    ...unknownModules(config).map((m) => `unknown:  ${m} (named in <load>, ${notProvided(m)})`),
    `register: ${registrationOffered(config.jsm) ? 'on' : 'off'}`,
    ...(config.ignored.length ? [`ignored:  ${config.ignored.join('; ')}`] : []),
    // A typo or a second copy in what Yak reads: a start goes on, and logs these once.
    ...config.warnings.map((w) => `warning:  ${w}`),
  ].join('\n');
}

/** One log line per config warning (see lint.ts): at the start, and for each file SIGHUP reads. */
function logWarnings(log: Logger, config: YakConfig): void {
  for (const warning of config.warnings) log.warn({ file: config.file, warning }, 'configuration warning');
}

function unknownModules(config: YakConfig): string[] {
  return config.jsm.modules.filter((m) => !MODULES.has(m));
}

async function main(): Promise<number> {
  let config: YakConfig;
  try {
    config = loadConfig(opts.config, { spool: opts.spool, host: opts.host });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`jabberd: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  // A file where the spool folder belongs: --check says so, and a start
  // stops on it before anything listens.
  // So does a file where the log's folder belongs, and a pipe (or a
  // folder, a device) where the log file or the pidfile belongs.
  const pathProblem =
    spoolPathProblem(config.spool) ??
    (config.log.file === undefined ? undefined : logFilePathProblem(config.log.file)) ??
    (config.pidfile === undefined ? undefined : pidfilePathProblem(config.pidfile));
  if (pathProblem !== undefined) {
    process.stderr.write(`jabberd: ${pathProblem}\n`);
    return 1;
  }
  if (opts.check) {
    try {
      // Reads and tries the TLS keys, as a start would.
      listenSpecs(config);
    } catch (err) {
      if (!(err instanceof ListenError)) throw err;
      process.stderr.write(`jabberd: ${err.message}\n`);
      return 1;
    }
    process.stdout.write(describe(config) + '\n');
    return 0;
  }
  let logging: ReturnType<typeof createLogger>;
  try {
    logging = createLogger({ debug: opts.debug, file: config.log.file, stderr: config.log.stderr });
  } catch (err) {
    // A folder, or a place the daemon may not write: one line, no stack.
    process.stderr.write(`jabberd: <log><file>${config.log.file ?? ''}</file>: cannot open: ${(err as Error).message}\n`);
    return 1;
  }
  const { log, reopen, closing } = logging;
  logWarnings(log, config);
  // Handlers go in before anything listens: a signal that comes while the
  // server starts must end in the same clean stop (pidfile removed), not in
  // the default sudden death. Signal handlers do not keep the process alive.
  // SIGHUP too (its default is death): one that comes while the server
  // starts, a logrotate at the wrong moment, finds the file just loaded
  // current and the log file just opened.
  const whileStarting = (): void => log.info('SIGHUP while starting: nothing to reload yet');
  let hangup = whileStarting;
  // Those that came while the modules loaded were caught (hangups.ts), and are said now.
  if (onHangup(() => hangup()) > 0) whileStarting();
  onIgnoredSignal((signal) => log.warn({ signal }, 'signal ignored: it means nothing to this server (SIGHUP reloads, SIGTERM stops)'));
  // The first stops the server; any after it (a second Ctrl-C, a `kill`
  // sent twice) is logged and changes nothing: left to Node's default, it
  // ended the process half way through the stop, leaving the pidfile, the
  // control socket and a journal to replay.
  let stopSignal: string | undefined;
  const signalled = new Promise<string>((resolve) => {
    const stop = (signal: string): void => {
      if (stopSignal === undefined) resolve((stopSignal = signal));
      else log.warn({ signal, stopping: stopSignal }, 'already stopping: the stop goes on (within its bound)');
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
  let server: YakServer;
  try {
    server = await YakServer.start(config, { log });
  } catch (err) {
    if (err instanceof StartupError || err instanceof PidfileError) {
      process.stderr.write(`jabberd: ${err.message}\n`);
      // The log file may already say `listening` for a listener opened before
      // the one that failed: whoever reads only the file learns why it stopped.
      // (Logging to stderr as well, the line above says it there already.)
      if (config.log.file !== undefined && !config.log.stderr) {
        log.error({ err: err.message }, 'start failed');
        log.flush();
      }
      return 1;
    }
    throw err;
  }
  // Started by jabberd -B: that command may return now.
  readyInBackground(config.log.file === undefined);
  hangup = () => {
    try {
      reopen();
    } catch (err) {
      // Lines go on to the file already open (the one logrotate moved).
      log.error({ err: (err as Error).message, file: config.log.file }, 'log file not reopened');
    }
    try {
      const fresh = loadConfig(opts.config, { spool: opts.spool, host: opts.host, filesOnly: true });
      logWarnings(log, fresh);
      server.reload(fresh);
    } catch (err) {
      // A broken file on disk must not take a running server down.
      log.error({ err: (err as Error).message }, 'configuration not reloaded');
    }
  };
  const signal = await signalled;
  log.info({ signal }, 'shutting down');
  const stopped = await server.stop().then(
    () => true,
    (err: unknown) => {
      log.error({ err }, 'shutdown failed');
      return false;
    },
  );
  log.flush();
  closing();
  return stopped ? 0 : 1;
}

if (parsed) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`jabberd: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
