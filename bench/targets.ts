// The servers a run can measure: Yak (this tree's dist/), and the peers
// Debian ships, Prosody and ejabberd, each started fresh per scenario run
// from a config template in bench/ (bench/yak-bench.xml, bench/peers/).
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, writeFileSync, chownSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, launch, tempDir, type RunningServer, type ServerTarget, type StartOptions } from './server-process.js';

/** The repository root (this file runs from dist/bench/). */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BENCH_DIR = path.join(ROOT, 'bench');
export const JABBERD = path.join(ROOT, 'dist', 'src', 'cli', 'jabberd.js');
export const DOMAIN = 'localhost';

/** Writes `dest` from a template under bench/, with each @NAME@ replaced by values[NAME]. */
function writeFromTemplate(dest: string, template: string, values: Record<string, string | number>): void {
  let out = readFileSync(path.join(BENCH_DIR, template), 'utf8');
  for (const [k, v] of Object.entries(values)) out = out.split(`@${k}@`).join(String(v));
  writeFileSync(dest, out);
}

function run(cmd: string, args: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

function debVersion(pkg: string): string {
  return run('dpkg-query', ['-W', '-f=${Version}', pkg]) || 'unknown';
}

// ---------------------------------------------------------------- Yak

/** Yak from `jabberd` (default: this tree's build). */
export function yakTarget(jabberd: string = JABBERD): ServerTarget {
  return {
    name: 'yak',
    version() {
      // The tree the daemon was built from: dist/src/cli/jabberd.js -> its root.
      const root = path.resolve(path.dirname(jabberd), '..', '..', '..');
      const pkgFile = path.join(root, 'package.json');
      const pkg = existsSync(pkgFile) ? (JSON.parse(readFileSync(pkgFile, 'utf8')) as { version: string }) : { version: '?' };
      const commit = run('git', ['-C', root, 'rev-parse', '--short', 'HEAD']);
      // Only changes to what the daemon is built from count, not to bench/ or the tests.
      const dirty = run('git', ['-C', root, 'status', '--porcelain', '--', 'src', 'package.json', 'package-lock.json', 'tsconfig.json']);
      const where = jabberd === JABBERD ? '' : `, ${jabberd}`;
      return `${pkg.version}${commit ? ` (commit ${commit}${dirty ? ' plus uncommitted changes' : ''}${where})` : where ? ` (${jabberd})` : ''}`;
    },
    async start(opts: StartOptions): Promise<RunningServer> {
      if (!existsSync(jabberd)) throw new Error(`${jabberd} is missing: build first (npm run build)`);
      const dir = await tempDir('yak-bench-');
      const port = await freePort();
      const config = path.join(dir, 'jabber.xml');
      const log = path.join(dir, 'yak.log');
      writeFromTemplate(config, 'yak-bench.xml', { PORT: port, SPOOL: path.join(dir, 'spool'), LOG: log });
      return launch({
        name: 'yak',
        command: process.execPath,
        args: [...(opts.nodeArgs ?? []), jabberd, '-c', config],
        cpu: opts.cpu,
        dir,
        port,
        domain: DOMAIN,
        readyTimeoutMs: 20_000,
        logFiles: [log],
        keep: opts.keep,
      });
    },
  };
}

export const yak = yakTarget();

// ---------------------------------------------------------------- peers

/** Debian packages of the peers. */
export const PEER_PACKAGES: Record<string, string> = { prosody: 'prosody', ejabberd: 'ejabberd' };

/** What --peers accepts: the packaged peers, and the calibration floors 'null' and 'floor' (bench/null-server.ts). */
export const PEERS = [...Object.keys(PEER_PACKAGES), 'null', 'floor'];

function installed(peer: string): boolean {
  if (peer === 'prosody') return existsSync('/usr/bin/prosody');
  if (peer === 'ejabberd') return existsSync('/usr/sbin/ejabberdctl');
  return false;
}

/**
 * Installs the missing peers with apt-get (as root). Services are kept
 * from starting on install (policy-rc.d), so nothing listens on the
 * default ports. Returns a message per peer that could not be installed.
 */
export function ensurePeersInstalled(peers: string[], log: (msg: string) => void): Map<string, string> {
  const problems = new Map<string, string>();
  const missing = peers.filter((p) => p in PEER_PACKAGES && !installed(p));
  if (missing.length === 0) return problems;
  if (process.getuid?.() !== 0) {
    for (const p of missing) problems.set(p, `${p} is not installed and installing needs root (apt-get install ${PEER_PACKAGES[p]})`);
    return problems;
  }
  const policy = '/usr/sbin/policy-rc.d';
  const ownPolicy = !existsSync(policy);
  if (ownPolicy) writeFileSync(policy, '#!/bin/sh\n# Written by Yak bench/run.ts while installing peers: do not start services.\nexit 101\n', { mode: 0o755 });
  try {
    log(`installing ${missing.join(', ')} with apt-get (services kept stopped)...`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const update = spawnSync('apt-get', ['update'], { stdio: ['ignore', 'ignore', 'pipe'], env, timeout: 300_000 });
    if (update.status !== 0) log(`apt-get update failed (${update.stderr?.toString().trim().split('\n').pop() ?? update.status}); trying the install anyway`);
    const inst = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...missing.map((p) => PEER_PACKAGES[p]!)], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env,
      timeout: 900_000,
    });
    if (inst.status !== 0) {
      const why = inst.stderr?.toString().trim().split('\n').slice(-3).join(' ') || `exit ${inst.status}`;
      for (const p of missing) if (!installed(p)) problems.set(p, `apt-get install ${PEER_PACKAGES[p]} failed: ${why}`);
    }
  } finally {
    if (ownPolicy) spawnSync('rm', ['-f', policy]);
  }
  for (const p of missing) if (!installed(p) && !problems.has(p)) problems.set(p, `${p} still missing after apt-get install`);
  return problems;
}

export const prosody: ServerTarget = {
  name: 'prosody',
  version: () => debVersion('prosody'),
  async start(opts: StartOptions): Promise<RunningServer> {
    const dir = await tempDir('prosody-bench-');
    const port = await freePort();
    const config = path.join(dir, 'prosody.cfg.lua');
    writeFromTemplate(config, 'peers/prosody.cfg.lua', { PORT: port, DATA: dir });
    return launch({
      name: 'prosody',
      command: 'prosody',
      args: ['--config', config, '-F'],
      cpu: opts.cpu,
      dir,
      port,
      domain: DOMAIN,
      readyTimeoutMs: 30_000,
      logFiles: [path.join(dir, 'prosody.log')],
      keep: opts.keep,
    });
  },
};

function userIds(name: string): { uid: number; gid: number } | undefined {
  const uid = Number(run('id', ['-u', name]));
  const gid = Number(run('id', ['-g', name]));
  return Number.isInteger(uid) && Number.isInteger(gid) && run('id', ['-u', name]) ? { uid, gid } : undefined;
}

function chownTree(dir: string, uid: number, gid: number): void {
  chownSync(dir, uid, gid);
  for (const e of readdirSync(dir)) {
    const p = path.join(dir, e);
    if (statSync(p).isDirectory()) chownTree(p, uid, gid);
    else chownSync(p, uid, gid);
  }
}

export const ejabberd: ServerTarget = {
  name: 'ejabberd',
  version: () => debVersion('ejabberd'),
  async start(opts: StartOptions): Promise<RunningServer> {
    const dir = await tempDir('ejabberd-bench-');
    const port = await freePort();
    let distPort = await freePort();
    while (distPort === port) distPort = await freePort();
    for (const sub of ['db', 'log']) mkdirSync(path.join(dir, sub));
    writeFromTemplate(path.join(dir, 'ejabberd.yml'), 'peers/ejabberd.yml', { PORT: port, DATA: dir });
    writeFromTemplate(path.join(dir, 'ejabberdctl.cfg'), 'peers/ejabberdctl.cfg', { DIST_PORT: distPort, DATA: dir });
    if (existsSync('/etc/ejabberd/inetrc')) copyFileSync('/etc/ejabberd/inetrc', path.join(dir, 'inetrc'));
    else writeFileSync(path.join(dir, 'inetrc'), '{lookup,["file","native"]}.\n');
    // ejabberdctl switches to its own user with su when started as root,
    // and su's session limits would cap open files at 1024; starting it as
    // that user directly keeps the harness's raised limit.
    const ids = process.getuid?.() === 0 ? userIds('ejabberd') : undefined;
    if (ids) chownTree(dir, ids.uid, ids.gid);
    return launch({
      name: 'ejabberd',
      command: 'ejabberdctl',
      args: [
        '--config-dir', dir,
        '--ctl-config', path.join(dir, 'ejabberdctl.cfg'),
        '--config', path.join(dir, 'ejabberd.yml'),
        '--spool', path.join(dir, 'db'),
        '--logs', path.join(dir, 'log'),
        '--node', `ejabberd-bench-${port}@localhost`,
        'foreground',
      ],
      cpu: opts.cpu,
      dir,
      port,
      domain: DOMAIN,
      readyTimeoutMs: 60_000,
      spawnOptions: ids ? { uid: ids.uid, gid: ids.gid, env: { ...process.env, HOME: dir } } : { env: { ...process.env, HOME: dir } },
      logFiles: [path.join(dir, 'log', 'ejabberd.log'), path.join(dir, 'log', 'error.log')],
      keep: opts.keep,
    });
  },
};

/**
 * The calibration servers (see bench/null-server.ts): 'null' answers
 * without parsing; 'floor' (--parse) adds Yak's parser, the password
 * check, the client's address and a login's two log lines.
 */
function calibrationServer(name: 'null' | 'floor'): ServerTarget {
  return {
    name,
    version: () => `bench/null-server.ts${name === 'floor' ? ' --parse' : ''} on Node ${process.version}`,
    async start(opts: StartOptions): Promise<RunningServer> {
      const dir = await tempDir(`${name}-bench-`);
      const port = await freePort();
      const parse = name === 'floor' ? ['--parse', path.join(dir, 'floor.log')] : [];
      return launch({
        name,
        command: process.execPath,
        args: [...(opts.nodeArgs ?? []), path.join(ROOT, 'dist', 'bench', 'null-server.js'), String(port), ...parse],
        cpu: opts.cpu,
        dir,
        port,
        domain: DOMAIN,
        readyTimeoutMs: 10_000,
        keep: opts.keep,
      });
    },
  };
}

export const TARGETS: Record<string, ServerTarget> = { yak, prosody, ejabberd, null: calibrationServer('null'), floor: calibrationServer('floor') };
