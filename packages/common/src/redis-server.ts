/**
 * Start and health-check a Redis server (Debian `redis-server`) for the Redis store,
 * either on this namespace's addresses or inside a named network namespace (through
 * `nsenter --net=`, as etcd-server.ts). Used by the lab and by tests that need a Redis
 * of their own. Does not load ioredis: health checks use `redis-cli`.
 *
 * Settings, and why:
 * - `appendonly yes` + `appendfsync always`: an acknowledged write is on disk, so a
 *   kill -9 loses nothing (RedisStore warns about anything weaker); `save ''`: no RDB
 *   snapshots besides (the AOF is the data set).
 * - The password goes in a config file written 0600 in the data dir, never on the
 *   command line, where `ps` would show it to every user of the machine. redis-cli gets
 *   it through REDISCLI_AUTH, for the same reason.
 * - Protected mode: with it on, a Redis whose default user has no password accepts
 *   loopback clients only, whatever `bind` says (Redis 7, see redis.conf). So a server
 *   bound to another address needs a password to be of any use to other hosts, and
 *   with one, protected mode changes nothing: we say `--protected-mode no` then, and
 *   refuse a non-loopback bind without a password rather than expose an
 *   unauthenticated Redis (CONFIG SET alone is enough to take over its host).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { InvalidArgument, RedisStartFailed } from './errors.js';
import { spawnDaemon, type ProcessRecord } from './process.js';

export interface RedisServerOptions {
  /** A name for messages, e.g. the lab's. */
  name: string;
  /** Where the AOF and the config file go; created 0700. */
  dataDir: string;
  /** One address to listen on, e.g. '127.0.0.1'. */
  bind: string;
  port: number;
  /** File that receives Redis's log (stdout and stderr). */
  logFile: string;
  /** Path of a network namespace to run in, e.g. /run/netns/vx-lab.store. */
  netnsPath?: string;
  /** Keep the process out of our process group and do not keep Node alive for it. */
  detached?: boolean;
  /** requirepass: clients authenticate as the default user with it. Required unless bind is loopback. */
  password?: string;
  /**
   * TLS only (`tls-port` = port, plain `port 0`) with client certificates of
   * `caFile` required (`tls-auth-clients yes`).
   */
  tls?: { certFile: string; keyFile: string; caFile: string };
}

/** PEM files redis-cli presents to a TLS Redis. */
export interface RedisClientTls {
  caFile: string;
  certFile: string;
  keyFile: string;
}

/**
 * Spawn redis-server. It does not wait for readiness: call waitRedisReady. With a
 * netns, the pid is redis-server's own (nsenter execs it without forking).
 */
export function spawnRedis(opts: RedisServerOptions): ProcessRecord {
  const loopback = isLoopback(opts.bind);
  if (!loopback && opts.password === undefined) {
    throw new InvalidArgument(
      `refusing to start redis ${opts.name} on ${opts.bind} without a password: protected mode would refuse every other host, and turning it off would expose an unauthenticated Redis`,
    );
  }
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const config = join(opts.dataDir, 'redis.conf');
  const lines = ['# Written by vxnet (spawnRedis); settings that must not show in ps.'];
  if (opts.password !== undefined) lines.push(`requirepass ${configQuote(opts.password)}`);
  writeFileSync(config, `${lines.join('\n')}\n`, { mode: 0o600 });
  const args = [
    config,
    ...(opts.tls
      ? ['--port', '0', '--tls-port', String(opts.port), '--tls-cert-file', opts.tls.certFile, '--tls-key-file', opts.tls.keyFile,
        '--tls-ca-cert-file', opts.tls.caFile, '--tls-auth-clients', 'yes']
      : ['--port', String(opts.port)]),
    '--bind', opts.bind,
    '--dir', opts.dataDir,
    '--appendonly', 'yes',
    '--appendfsync', 'always',
    '--save', '',
    '--daemonize', 'no',
    '--protected-mode', loopback ? 'yes' : 'no',
  ];
  try {
    return spawnDaemon({ command: 'redis-server', args, logFile: opts.logFile, ...(opts.netnsPath ? { netnsPath: opts.netnsPath } : {}), detached: opts.detached ?? false });
  } catch (err) {
    throw new RedisStartFailed(opts.name, (err as Error).message, err);
  }
}

/**
 * Poll `redis-cli PING` (inside `netnsPath` when given) until it answers PONG (not
 * LOADING, not a refusal). Throws RedisStartFailed after `timeoutMs`.
 */
export async function waitRedisReady(
  url: string,
  opts: { password?: string; netnsPath?: string; timeoutMs?: number; isAlive?: () => boolean; tls?: RedisClientTls } = {},
): Promise<void> {
  const u = new URL(url);
  if (u.protocol !== (opts.tls ? 'rediss:' : 'redis:')) throw new InvalidArgument(`waitRedisReady takes a ${opts.tls ? 'rediss' : 'redis'}:// URL${opts.tls ? ' with tls' : ''}, got ${u.protocol}//`);
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = u.port === '' ? '6379' : u.port;
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (opts.isAlive && !opts.isAlive()) throw new RedisStartFailed(url, 'the redis-server process exited (see its log)');
    const tlsArgs = opts.tls ? ['--tls', '--cacert', opts.tls.caFile, '--cert', opts.tls.certFile, '--key', opts.tls.keyFile] : [];
    const r = await redisCli(['-h', host, '-p', port, ...tlsArgs, 'PING'], opts.password, opts.netnsPath);
    if (r.trim() === 'PONG') return;
    last = r.trim().split('\n').pop() ?? '';
    await sleep(50);
  }
  throw new RedisStartFailed(url, `no PONG after ${timeoutMs} ms${last ? `: ${last}` : ''}`);
}

/**
 * Run redis-cli with fixed arguments; the password travels in the environment. Resolves
 * with its output, errors included (redis-cli exits 0 on an error reply).
 */
export function redisCli(args: string[], password?: string, netnsPath?: string): Promise<string> {
  const argv = ['--no-auth-warning', ...args];
  const [cmd, cmdArgs] = netnsPath ? ['nsenter', [`--net=${netnsPath}`, '--', 'redis-cli', ...argv]] : ['redis-cli', argv];
  const env = { ...process.env };
  delete env.REDISCLI_AUTH;
  if (password !== undefined) env.REDISCLI_AUTH = password;
  return new Promise((resolve) => {
    execFile(cmd, cmdArgs, { env, timeout: 5000 }, (err, stdout, stderr) => {
      resolve(`${stdout}${stderr}${err && !stdout && !stderr ? err.message : ''}`);
    });
  });
}

function isLoopback(addr: string): boolean {
  const a = addr.replace(/^\[(.*)\]$/, '$1');
  if (a === 'localhost' || a === '::1') return true;
  return isIP(a) === 4 && a.startsWith('127.');
}

/** A value for redis.conf: double-quoted, with the escapes Redis's parser (sdssplitargs) reads. */
function configQuote(value: string): string {
  let out = '"';
  for (const b of Buffer.from(value, 'utf8')) {
    const c = String.fromCharCode(b);
    if (c === '"' || c === '\\') out += `\\${c}`;
    else if (b < 0x20 || b >= 0x7f) out += `\\x${b.toString(16).padStart(2, '0')}`;
    else out += c;
  }
  return `${out}"`;
}
