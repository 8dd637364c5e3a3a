/**
 * A throwaway Redis for tests: loopback only, a free port, a data dir under
 * os.tmpdir(), appendonly with fsync always. Stopped or killed by the pid we started
 * it with; restartable on the same data dir and port.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAlive, stopProcess, type ProcessRecord } from '../process.js';
import { redisCli, spawnRedis, waitRedisReady } from '../redis-server.js';
import { freePort } from './etcd.js';

export interface TestRedis {
  /** redis://127.0.0.1:PORT/0 */
  readonly url: string;
  readonly dataDir: string;
  /** The password clients need, if the server was started with one. */
  readonly password: string | undefined;
  /** The running server's process, undefined while stopped. */
  readonly proc: ProcessRecord | undefined;
  /** SIGTERM the server (SIGKILL after 5 s) and wait until it is gone. */
  stop(): Promise<void>;
  /** Start it again on the same data dir and port, and wait until it answers PING. */
  start(): Promise<void>;
  /** SIGKILL the server (no shutdown, as a crash) and wait until it is gone. */
  kill9(): Promise<void>;
  /** FLUSHALL: the data set is gone, the server stays up. */
  flushAll(): Promise<void>;
  /** Run a redis-cli command against it, e.g. ['CONFIG', 'SET', 'appendonly', 'no']; its output. */
  cli(args: string[]): Promise<string>;
  /** Stop the server and remove its data dir. Idempotent. */
  destroy(): Promise<void>;
}

/** Why Redis tests must be skipped on this machine, or undefined when they can run. */
export function redisMissing(): string | undefined {
  for (const bin of ['redis-server', 'redis-cli']) {
    const found = (process.env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && existsSync(join(dir, bin)));
    if (!found) return `the ${bin} binary is not on PATH (Debian: apt-get install redis-server)`;
  }
  return undefined;
}

export async function startTestRedis(name = 'vxnet-test', opts: { password?: string } = {}): Promise<TestRedis> {
  const dataDir = await mkdtemp(join(tmpdir(), 'vxnet-test-redis-'));
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}/0`;
  const { password } = opts;
  const cli = async (args: string[]): Promise<string> => (await redisCli(['-h', '127.0.0.1', '-p', String(port), ...args], password)).trim();
  let proc: ProcessRecord | undefined;
  const start = async (): Promise<void> => {
    const rec = spawnRedis({
      name,
      dataDir: join(dataDir, 'data'),
      bind: '127.0.0.1',
      port,
      logFile: join(dataDir, 'redis.log'),
      ...(password !== undefined ? { password } : {}),
    });
    proc = rec;
    await waitRedisReady(url, { timeoutMs: 15_000, isAlive: () => isAlive(rec), ...(password !== undefined ? { password } : {}) });
  };
  const stop = async (): Promise<void> => {
    if (proc === undefined) return;
    const rec = proc;
    proc = undefined;
    await stopProcess(rec);
  };
  const kill9 = async (): Promise<void> => {
    if (proc === undefined) return;
    const rec = proc;
    proc = undefined;
    if (isAlive(rec)) process.kill(rec.pid, 'SIGKILL');
    while (isAlive(rec)) await sleep(10);
  };
  await start();
  return {
    url,
    dataDir,
    password,
    get proc() {
      return proc;
    },
    start,
    stop,
    kill9,
    flushAll: async () => {
      const out = await cli(['FLUSHALL']);
      if (out !== 'OK') throw new Error(`FLUSHALL on ${url} failed: ${out}`);
    },
    cli,
    destroy: async () => {
      await stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
