// The two jabberd preprocessor elements, applied to the whole tree before
// anything is read: <jabberd:cmdline flag='X'>default</jabberd:cmdline> and
// <jabberd:include>file.xml</jabberd:include>. Doing it first means every
// reader sees plain text and plain elements wherever the admin used them.
import { closeSync, openSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Element, Node } from '../xml/element.js';
import { decodeXmlFile } from '../xml/decode.js';
import { parseXml } from '../xml/parse.js';
import { FileTooLargeError, notAFile, NotRegularFileError, readAtMost, readRegularFile } from '../util/not-a-file.js';
import { ConfigError } from './types.js';
import { errCode } from '../util/err-code.js';
import { trimXmlSpace } from '../xml/chars.js';

/** Values given on the command line, by flag letter (-s spool, -h host). */
export type CmdlineValues = Partial<Record<string, string>>;

/**
 * The file each element read through a <jabberd:include> came from (the
 * innermost include), so messages about it can name that file. Elements of
 * the file loadConfig() was given have none.
 */
const origins = new WeakMap<Element, string>();

/** The included file `el` was read from; undefined for an element of the main file. */
export function includedFrom(el: Element): string | undefined {
  return origins.get(el);
}

/** Marks `el` and its subtree as read from `file`, leaving what a nested include marked already. */
function markOrigin(el: Element, file: string): void {
  if (origins.has(el)) return;
  origins.set(el, file);
  for (const child of el.elements) markOrigin(child, file);
}

/** Deeper than this is almost surely a loop through different spellings of one path. */
const MAX_INCLUDE_DEPTH = 8;

/**
 * The largest config file (and each included one), in bytes. A real
 * jabber.xml is tens of kilobytes; 100 MB of elements took 5 GB to parse
 * and ended in V8's out-of-memory abort, and a SIGHUP with one held every
 * client up for a minute.
 */
const MAX_CONFIG_BYTES = 1 << 20;

function tooLarge(file: string, where: string): ConfigError {
  return new ConfigError(`${where} ${file}: more than ${MAX_CONFIG_BYTES} bytes (1 MiB), which no config file needs`);
}

/**
 * The deepest element nesting a config may have, <jabber> counting 1,
 * included files counted where they are included. A real jabber.xml needs
 * about 7 (<jabber><service><jsm><filter><default><rule><offline/>, or a
 * <browse> entry's <ns>); 100 leaves room for anything a section Yak does
 * not read might hold. Every reader of the tree (expansion, the readers,
 * a SIGHUP's comparison) recurses once per level: thousands of levels
 * overflowed the stack, a crash with a stack trace instead of a message.
 */
const MAX_CONFIG_DEPTH = 100;

interface ExpandContext {
  cmdline: CmdlineValues;
  /** Folder of the file being expanded; includes are relative to it. */
  dir: string;
  /** Absolute paths of the files being expanded, outermost first (loop detection). */
  chain: string[];
  /** The flags of the cmdline elements met, given on the command line or not. */
  flags: Set<string>;
  /** Only regular files may be read (see readConfigFile). */
  filesOnly: boolean;
  /** Bytes the files still to be included may hold between them (one file may be included many times). */
  budget: { left: number };
}

/**
 * Reads and parses one config file, turning every failure into a ConfigError
 * naming the file. `depthAbove`: the elements an included file sits inside.
 */
export function parseConfigText(text: string, file: string, depthAbove = 0): Element {
  try {
    // Editors on some systems save a byte order mark; it is not an error in a config file.
    const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
    return parseXml(body, { allowComments: true, stripWhitespace: true, fileName: file, maxDepth: MAX_CONFIG_DEPTH, depthAbove });
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    // saxes already prefixes most messages with the file name; avoid saying it twice.
    throw new ConfigError(msg.startsWith(file) ? msg : `${file}: ${msg}`);
  }
}

/**
 * The text of a config file. `filesOnly`: a pipe is refused too, as it is
 * for a running server's SIGHUP: the read would stop the server until
 * something writes the pipe to its end (a FIFO nobody writes: for ever).
 */
export function readConfigFile(file: string, where = 'config file', filesOnly = false): string {
  return decodeConfigFile(readConfigBytes(file, where, filesOnly), file, where);
}

function decodeConfigFile(bytes: Buffer, file: string, where: string): string {
  return decodeXmlFile(bytes, (why) => new ConfigError(`${where} ${file}: ${why}`));
}

/** The bytes of a config file (see readConfigFile), at most MAX_CONFIG_BYTES. */
function readConfigBytes(file: string, where: string, filesOnly: boolean): Buffer {
  try {
    if (filesOnly) return readRegularFile(file, MAX_CONFIG_BYTES);
    // A device never ends (/dev/zero): reading one would hang. A pipe does
    // end (jabberd -c <(make-config)), and is read at startup.
    const problem = notAFile(statSync(file));
    if (problem !== undefined) throw new ConfigError(`${where} ${file}: ${problem}`);
    const fd = openSync(file, 'r');
    try {
      return readAtMost(fd, MAX_CONFIG_BYTES);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    if (err instanceof FileTooLargeError) throw tooLarge(file, where);
    if (err instanceof NotRegularFileError) {
      const why = err.what ?? 'not a regular file (a running server reads only files: a pipe would stop it until written to its end)';
      throw new ConfigError(`${where} ${file}: ${why}`);
    }
    const code = errCode(err) ?? (err as Error).message;
    throw new ConfigError(`${where} ${file}: cannot read (${code})`);
  }
}

/**
 * Expands cmdline and include elements in place under `root` (which came
 * from `file`); returns the flags the config has a cmdline element for.
 */
export function expandTree(root: Element, file: string, cmdline: CmdlineValues, filesOnly = false): Set<string> {
  const flags = new Set<string>();
  expandChildren(root, { cmdline, dir: dirname(file), chain: [file], flags, filesOnly, budget: { left: MAX_CONFIG_BYTES } }, 1);
  return flags;
}

/** `depth`: that of `parent`, the root's being 1 (parsing bounded it: see MAX_CONFIG_DEPTH). */
function expandChildren(parent: Element, ctx: ExpandContext, depth: number): void {
  const out: Node[] = [];
  for (const child of parent.children) {
    if (typeof child === 'string') {
      out.push(child);
    } else if (child.name === 'jabberd:cmdline') {
      out.push(...cmdlineValue(child, ctx, depth + 1));
    } else if (child.name === 'jabberd:include') {
      out.push(...include(child, parent, ctx, depth + 1));
    } else {
      expandChildren(child, ctx, depth + 1);
      out.push(child);
    }
  }
  parent.children = mergeText(out);
}

/** The command-line value for the flag, else the element's own content (the default). */
function cmdlineValue(el: Element, ctx: ExpandContext, depth: number): Node[] {
  const flag = el.attr('flag');
  if (flag !== undefined) ctx.flags.add(flag);
  const given = flag === undefined ? undefined : ctx.cmdline[flag];
  if (given !== undefined) return [given];
  expandChildren(el, ctx, depth);
  return el.children;
}

function include(el: Element, parent: Element, ctx: ExpandContext, depth: number): Node[] {
  // The file name itself may come from the command line.
  expandChildren(el, ctx, depth);
  const name = trimXmlSpace(el.text());
  // The file the include is written in, for every message about it.
  const from = ctx.chain[ctx.chain.length - 1]!;
  if (name === '') throw new ConfigError(`${from}: <jabberd:include>: empty file name`);
  const file = resolve(ctx.dir, name);
  if (ctx.chain.includes(file)) {
    throw new ConfigError(`${from}: <jabberd:include>${name}</jabberd:include>: include loop (${[...ctx.chain, file].join(' -> ')})`);
  }
  if (ctx.chain.length > MAX_INCLUDE_DEPTH) {
    throw new ConfigError(`${from}: <jabberd:include>${name}</jabberd:include>: includes nested more than ${MAX_INCLUDE_DEPTH} levels deep`);
  }
  // The included root takes the include's place, so the elements around
  // the include count toward the file's depth (one too many when the root
  // is spliced into a same-named parent: a bound, not an exact count).
  const where = `${from}: <jabberd:include>${name}</jabberd:include>:`;
  const bytes = readConfigBytes(file, where, ctx.filesOnly);
  ctx.budget.left -= bytes.length;
  if (ctx.budget.left < 0) {
    throw new ConfigError(`${from}: <jabberd:include>${name}</jabberd:include>: the files included come to more than 1 MiB in all, which no config needs`);
  }
  const root = parseConfigText(decodeConfigFile(bytes, file, where), file, depth - 1);
  expandChildren(root, { ...ctx, dir: dirname(file), chain: [...ctx.chain, file] }, depth);
  markOrigin(root, file);
  // As in 1.4: when the included root has the same name as the element the
  // include sits in (a <jsm> file included inside <jsm>), its children are
  // spliced in; otherwise the root element itself is inserted.
  return root.name === parent.name ? root.children : [root];
}

/** Joins adjacent text nodes so Element.text() callers see one string, e.g. "./" + cmdline value. */
function mergeText(nodes: Node[]): Node[] {
  const out: Node[] = [];
  for (const n of nodes) {
    const last = out[out.length - 1];
    if (typeof n === 'string' && typeof last === 'string') out[out.length - 1] = last + n;
    else out.push(n);
  }
  return out;
}
