#!/usr/bin/env node
// A calibration "server" for the benchmark (`--peers null`): one Node
// process that speaks just enough jabber:client for every scenario but
// login-0k, with no XML parsing, no storage, no logging and no checks.
// What it costs per operation is what the kernel and Node's sockets cost
// on this machine: a floor under any real server written in Node, and the
// ceiling of the load generator. Never use it for anything else.
//
// With --parse LOGFILE (`--peers floor`) it also does the least a real
// server cannot skip: the stream goes through Yak's parser (saxes, with
// Yak's limits) and each stanza is handled as it serializes back, the
// password or digest is checked, the client's address is looked up, and
// a login and a session end each write one log line (Yak's pino setup).
// No storage, no modules, no JIDs: what that costs per login is how close
// any server built on this parser and logger can come to the null server.
//
//   node dist/bench/null-server.js PORT [--parse LOGFILE]
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { createLogger, type Logger } from '../src/log.js';
import { digestFor } from '../src/util/hash.js';
import { StreamParser } from '../src/xml/stream-parser.js';

const port = Number(process.argv[2]);
const parseLog = process.argv[3] === '--parse' ? process.argv[4] : undefined;
if (!Number.isInteger(port) || port <= 0 || (process.argv.length > 3 && !parseLog)) {
  process.stderr.write('usage: null-server.js PORT [--parse LOGFILE]\n');
  process.exit(2);
}
/** The parsing floor's logger (undefined: the plain null server). */
const log: Logger | undefined = parseLog ? createLogger({ file: parseLog }).log : undefined;

const STREAM_ID = '0A1B2C3D';
const HEADER = `<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' id='${STREAM_ID}' xmlns='jabber:client' from='localhost'>`;

interface Client {
  sock: net.Socket;
  jid: string;
  bare: string;
  out: string;
  /** The client's address (parsing floor only: what Yak keeps for its limits and logs). */
  address?: string;
}

// Accounts live in memory; a stop writes them to ACCOUNTS (in the working
// folder, the run's) and a start reads them back, so that the harness can
// restart this server on the accounts it registered, as it does a real one
// (the idle scenario). Nothing is written while it serves.
const ACCOUNTS = 'accounts.json';
const passwords = new Map<string, string>(existsSync(ACCOUNTS) ? (JSON.parse(readFileSync(ACCOUNTS, 'utf8')) as [string, string][]) : []);
const sessions = new Map<string, Client>();
const byBare = new Map<string, Set<Client>>();
const contacts = new Map<string, Set<string>>();
const pendingOut = new Set<Client>();
let flushQueued = false;

function queue(c: Client, text: string): void {
  c.out += text;
  pendingOut.add(c);
  if (!flushQueued) {
    flushQueued = true;
    setImmediate(flush);
  }
}

function flush(): void {
  flushQueued = false;
  for (const c of pendingOut) {
    if (!c.sock.destroyed) c.sock.write(c.out, log ? 'utf8' : 'latin1');
    c.out = '';
  }
  pendingOut.clear();
}

function attr(tag: string, name: string): string {
  const i = tag.indexOf(` ${name}='`);
  if (i < 0) return '';
  const start = i + name.length + 3;
  return tag.slice(start, tag.indexOf("'", start));
}

function text(s: string, name: string): string {
  const i = s.indexOf(`<${name}>`);
  return i < 0 ? '' : s.slice(i + name.length + 2, s.indexOf(`</${name}>`, i));
}

function stanzaEnd(s: string): number {
  const gt = s.indexOf('>');
  if (gt < 0) return -1;
  if (s.charCodeAt(gt - 1) === 47) return gt + 1;
  const name = s.slice(1, s.search(/[ />]/));
  const close = s.indexOf(`</${name}>`);
  return close < 0 ? -1 : close + name.length + 3;
}

function deliverToBare(bare: string, stanza: string): void {
  for (const c of byBare.get(bare) ?? []) queue(c, stanza);
}

function handle(c: Client, s: string): void {
  if (s.startsWith('<iq')) {
    const id = attr(s, 'id');
    if (s.includes("'jabber:iq:auth'")) {
      const user = text(s, 'username');
      if (attr(s, 'type') === 'get') {
        queue(c, `<iq type='result' id='${id}'><query xmlns='jabber:iq:auth'><username>${user}</username><password/><digest/><resource/></query></iq>`);
        return;
      }
      const resource = text(s, 'resource');
      if (!passwords.has(user) || !resource || (log && !passwordMatches(s, passwords.get(user)!))) {
        queue(c, `<iq type='error' id='${id}'><error code='401'>Unauthorized</error></iq>`);
        return;
      }
      c.bare = `${user}@localhost`;
      c.jid = `${c.bare}/${resource}`;
      sessions.set(c.jid, c);
      let set = byBare.get(c.bare);
      if (!set) byBare.set(c.bare, (set = new Set()));
      set.add(c);
      log?.info({ user, host: 'localhost', address: c.address, method: s.includes('<digest>') ? 'digest' : 'plain' }, 'login ok');
      queue(c, `<iq type='result' id='${id}'/>`);
    } else if (s.includes("'jabber:iq:register'")) {
      const user = text(s, 'username');
      if (passwords.has(user)) queue(c, `<iq type='error' id='${id}'><error code='409'>Username Not Available</error></iq>`);
      else {
        passwords.set(user, text(s, 'password'));
        queue(c, `<iq type='result' id='${id}'/>`);
      }
    } else if (s.includes("'jabber:iq:roster'")) {
      const items = [...(contacts.get(c.bare) ?? [])].map((j) => `<item jid='${j}' subscription='both'/>`).join('');
      queue(c, `<iq type='result' id='${id}'><query xmlns='jabber:iq:roster'>${items}</query></iq>`);
    } else queue(c, `<iq type='result' id='${id}'/>`);
  } else if (s.startsWith('<message')) {
    const to = attr(s, 'to');
    const target = sessions.get(to);
    if (target) queue(target, `<message from='${c.jid}'${s.slice(8)}`);
  } else if (s.startsWith('<presence')) {
    const type = attr(s, 'type');
    const to = attr(s, 'to');
    if (to && (type === 'subscribe' || type === 'subscribed')) {
      if (type === 'subscribed') {
        // Toy semantics: one approval makes both sides contacts.
        for (const [a, b] of [
          [c.bare, to],
          [to, c.bare],
        ] as const) {
          let set = contacts.get(a);
          if (!set) contacts.set(a, (set = new Set()));
          set.add(b);
        }
      }
      deliverToBare(to, `<presence from='${c.bare}' to='${to}' type='${type}'/>`);
    } else if (!to && c.jid) {
      const body = s.startsWith('<presence/>') ? '' : s.slice(s.indexOf('>') + 1, s.lastIndexOf('</presence>'));
      const stanza = `<presence from='${c.jid}'>${body}</presence>`;
      for (const contact of contacts.get(c.bare) ?? []) deliverToBare(contact, stanza);
    }
  }
}

/** The parsing floor's password check: plain, or SHA-1 of stream id and password. */
function passwordMatches(s: string, password: string): boolean {
  const digest = text(s, 'digest');
  if (digest) return digestFor(STREAM_ID, password) === digest.toLowerCase();
  return text(s, 'password') === password;
}

/** The parsing floor's reader: Yak's parser, each stanza handled as it serializes. */
function parsed(c: Client): (data: string) => void {
  const parser = new StreamParser(
    {
      header: () => queue(c, HEADER),
      stanza: (el) => handle(c, el.toString()),
      end: () => {
        flush();
        c.sock.end('</stream:stream>');
      },
      error: () => c.sock.destroy(),
    },
    { stanzaBytes: 262_144, depth: 16, nodes: 20_000 },
  );
  return (data) => parser.write(data);
}

/** The null server's reader: stanzas cut out of the text by their first and last tags. */
function unparsed(c: Client): (data: string) => void {
  const sock = c.sock;
  let buf = '';
  let header = false;
  return (d: string) => {
    buf += d;
    if (!header) {
      const start = buf.indexOf('<stream:stream');
      const gt = start < 0 ? -1 : buf.indexOf('>', start);
      if (gt < 0) return;
      header = true;
      buf = buf.slice(gt + 1);
      queue(c, HEADER);
    }
    for (;;) {
      const lt = buf.indexOf('<');
      if (lt < 0) {
        buf = '';
        break;
      }
      if (lt > 0) buf = buf.slice(lt);
      if (buf.startsWith('</stream:stream>')) {
        flush();
        sock.end('</stream:stream>');
        buf = '';
        break;
      }
      const end = stanzaEnd(buf);
      if (end < 0) break;
      handle(c, buf.slice(0, end));
      buf = buf.slice(end);
    }
  };
}

const server = net.createServer((sock) => {
  sock.setNoDelay(true);
  sock.setEncoding(log ? 'utf8' : 'latin1');
  const c: Client = { sock, jid: '', bare: '', out: '' };
  if (log) {
    c.address = sock.remoteAddress;
    sock.on('data', parsed(c));
  } else sock.on('data', unparsed(c));
  sock.on('error', () => sock.destroy());
  sock.on('close', () => {
    if (c.jid) log?.info({ jid: c.jid }, 'session ended');
    if (c.jid && sessions.get(c.jid) === c) sessions.delete(c.jid);
    byBare.get(c.bare)?.delete(c);
    pendingOut.delete(c);
  });
});
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => {
  writeFileSync(ACCOUNTS, JSON.stringify([...passwords]));
  process.exit(0);
});
