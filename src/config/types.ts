// The typed view of jabber.xml that the rest of Yak reads. Produced by
// loadConfig() (load.ts) in one validation pass; nothing else parses the file.
import type { Element } from '../xml/element.js';
import type { FilterConfig } from './filter.js';

export interface ListenAddress {
  port: number;
  /** undefined = all addresses (an empty <ip/> in 1.4) */
  address: string | undefined;
}

export interface KarmaConfig {
  init: number;
  max: number;
  inc: number;
  dec: number;
  penalty: number;
  restore: number;
}

export interface AliasConfig {
  /** The host name the connection is mapped to. */
  to: string;
  /** The name the client used; undefined for the default alias (<alias to='yak'/>). */
  from: string | undefined;
}

export interface RegisterConfig {
  notify: boolean;
  /** <register require='all'>: every listed field is mandatory (Yak extension). */
  requireAll: boolean;
  /** The children of <register> in order (instructions, name, email, ...), as given, but for NOT_REGISTRATION_FIELDS. */
  fields: Element[];
}

export interface WelcomeConfig {
  subject: string;
  body: string;
}

export interface C2sLimits {
  /** Largest stanza before login, bytes. Default 65536. */
  preAuthStanzaBytes: number;
  /** Largest stanza after login, bytes. Default 262144. */
  stanzaBytes: number;
  /** Deepest element nesting inside the stream (stream = depth 1). Default 32. */
  depth: number;
  /** Pre-auth queue bounds. Defaults 32 stanzas, 65536 bytes. */
  queueStanzas: number;
  queueBytes: number;
  /** Connections open at once from one address; 0 = no cap. Default 1000. */
  connectionsPerAddress: number;
  /**
   * Connections open at once in total; 0 = no cap. Default (undefined):
   * the file descriptor limit less what the files need (see
   * net/descriptor-limit.ts).
   */
  connectionsTotal: number | undefined;
  /** Bytes waiting to be sent to one client before it is cut off. Default 1 MiB. */
  outputBytes: number;
  /** Seconds an authenticated connection may stay silent; 0 = forever. Default 0. */
  idleSeconds: number;
  /**
   * Seconds a connection may go without a packet from the client before
   * the kernel checks that the client is still there (TCP keepalive); 0 =
   * never. Default 120.
   */
  keepaliveSeconds: number;
  /**
   * What all connections not logged in may hold between them, weighed in
   * bytes (see c2s/held-memory-budget.ts); 0 = no bound, else at least 1 MiB.
   * Default 32 MiB.
   */
  preAuthMemory: number;
  /** The same for logged-in connections (<sessionmemory>). Default 256 MiB. */
  sessionMemory: number;
  /** Sessions (resources) one account may have at once; 0 = no bound. Default 100. */
  sessionsPerUser: number;
}

/** Yak's registration policy (<register_policy> in the jsm config). */
export interface RegisterPolicyConfig {
  /** At most `max` registrations per `period` seconds from one address; max 0 = no limit. */
  rate: { max: number; period: number };
  /** Addresses exempt from the rate (default: loopback). */
  allow: string[];
  /** Usernames nobody may register (built-in list plus config). */
  reserved: string[];
  /** Shortest acceptable password in characters; 0 = any. */
  minPassword: number;
}

/** Failed-login slowing (<login_throttle> in the jsm config). */
export interface LoginThrottleSettings {
  free: number;
  baseMs: number;
  maxMs: number;
  forgetMs: number;
  exempt: string[];
}

export interface YakConfig {
  /** The file it was loaded from (absolute), for messages and includes. */
  file: string;
  /** Virtual hosts served by the session manager, prepared (lowercase). */
  hosts: string[];
  jsm: {
    /** Module names from <load main='jsm'>, in order (mod_register, mod_auth_plain, ...). */
    modules: string[];
    register: RegisterConfig | undefined;
    welcome: WelcomeConfig | undefined;
    /** Admin JIDs (bare, prepared): both may see `who` and get registration notices; write may also announce. */
    /** `reply`: 1.4's <admin><reply>, the answer to whoever writes to the host (absent: none). */
    admin: { read: string[]; write: string[]; reply?: { subject: string; body: string } };
    /** <vCard> (server vCard), as given. */
    vcard: Element | undefined;
    /** <browse> children (services listed by mod_browse/mod_agents), as given. */
    browse: Element[];
    /** <mod_auth_0k><sequences>N</sequences> (default 500). */
    zerokSequences: number;
    /** <mod_offline><limit>N</limit></mod_offline> (Yak; default 1000): messages kept per user. */
    offlineLimit: number;
    /** <filter> (mod_filter): what users' rules may hold, and the server's default rules. */
    filter: FilterConfig;
    nounregister: boolean;
    registerPolicy: RegisterPolicyConfig;
    loginThrottle: LoginThrottleSettings;
    /**
     * The whole <jsm> element as read (reload.ts compares parts of it). A
     * module's options are not read from here: they are typed above, read
     * in config/sessions.ts, and known to lint.ts and reload.ts.
     */
    raw: Element;
  };
  c2s: {
    listen: ListenAddress[];
    ssl: ListenAddress[];
    aliases: AliasConfig[];
    /** Seconds; 0 = no limit. */
    authtime: number;
    /** undefined = no karma (no <karma> element, or dec 0). */
    karma: KarmaConfig | undefined;
    /** <rate points time/>: connections per address; undefined = none. */
    rate: { points: number; time: number } | undefined;
    limits: C2sLimits;
  };
  /** Spool root folder (absolute). */
  spool: string;
  /**
   * <xdb_file><maxfilesize> (Yak; default 1 MiB): largest size of one
   * user's spool file in bytes, 0 = no cap. A change that would grow a file
   * beyond it is refused (see SpoolStore).
   */
  maxFileBytes: number;
  /** <io><ssl><key ip='ADDRESS'>file.pem</key>: address -> absolute PEM path. */
  tlsKeys: Map<string, string>;
  pidfile: string | undefined;
  /** Destinations for Yak's own log lines, from <log> sections. */
  log: { file: string | undefined; stderr: boolean };
  /** Services and sections found but not provided by Yak (s2s, dnsrv, ...), for one startup line. */
  ignored: string[];
  /**
   * Elements in the sections Yak reads that it does not know (a typo?), and
   * second copies of elements read once: for --check and the startup log.
   */
  warnings: string[];
}

export class ConfigError extends Error {
  /**
   * The element the message is about, when there is one: loadConfig()
   * names the file it was read from (the main file or an included one).
   */
  element?: Element;

  constructor(message: string, element?: Element) {
    super(message);
    this.element = element;
  }
}
