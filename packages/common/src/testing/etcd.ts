/**
 * A throwaway etcd for tests: loopback only, free ports, a data dir under os.tmpdir().
 * Stopped by the pid we started it with; restartable on the same data dir and ports.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { spawnEtcd, waitEtcdHealthy } from '../etcd-server.js';
import { isAlive, stopProcess, type ProcessRecord } from '../process.js';

export interface TestEtcd {
  /** http://127.0.0.1:PORT */
  readonly endpoint: string;
  /** etcd://127.0.0.1:PORT, the daemons' `store` setting for it. */
  readonly storeUrl: string;
  readonly dataDir: string;
  /** The running server's process, undefined while stopped. */
  readonly proc: ProcessRecord | undefined;
  /** SIGTERM the server (SIGKILL after 5 s) and wait until it is gone. */
  stop(): Promise<void>;
  /** Start it again on the same data dir and ports, and wait until healthy. */
  start(): Promise<void>;
  /** `etcdctl compact REV` (physical: waits until the history is gone). */
  compact(revision: number): Promise<void>;
  /** Stop the server and remove its data dir. Idempotent. */
  destroy(): Promise<void>;
}

/** Why etcd tests must be skipped on this machine, or undefined when they can run. */
export function etcdMissing(): string | undefined {
  for (const bin of ['etcd', 'etcdctl']) {
    const found = (process.env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && existsSync(join(dir, bin)));
    if (!found) return `the ${bin} binary is not on PATH (Debian: apt-get install etcd-server etcd-client)`;
  }
  return undefined;
}

/** A TCP port nobody listens on right now, on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', resolve);
  });
  const addr = srv.address();
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  if (addr === null || typeof addr === 'string') throw new Error('no port from listen(0)');
  return addr.port;
}

export async function startTestEtcd(name = 'vxnet-test'): Promise<TestEtcd> {
  const dataDir = await mkdtemp(join(tmpdir(), 'vxnet-test-etcd-'));
  const clientPort = await freePort();
  const peerPort = await freePort();
  const endpoint = `http://127.0.0.1:${clientPort}`;
  let proc: ProcessRecord | undefined;
  const start = async (): Promise<void> => {
    const rec = spawnEtcd({
      name,
      dataDir: join(dataDir, 'data'),
      listenClientUrls: [endpoint],
      peerUrl: `http://127.0.0.1:${peerPort}`,
      logFile: join(dataDir, 'etcd.log'),
    });
    proc = rec;
    await waitEtcdHealthy(endpoint, { timeoutMs: 15_000, isAlive: () => isAlive(rec) });
  };
  const stop = async (): Promise<void> => {
    if (proc === undefined) return;
    const rec = proc;
    proc = undefined;
    await stopProcess(rec);
  };
  await start();
  return {
    endpoint,
    storeUrl: `etcd://127.0.0.1:${clientPort}`,
    dataDir,
    get proc() {
      return proc;
    },
    start,
    stop,
    compact: (revision) =>
      new Promise<void>((resolve, reject) => {
        execFile('etcdctl', ['--endpoints', endpoint, 'compact', String(revision), '--physical'], { env: { ...process.env, ETCDCTL_API: '3' }, timeout: 10_000 }, (err, _out, stderr) =>
          err ? reject(new Error(`etcdctl compact ${revision} failed: ${stderr}`, { cause: err })) : resolve(),
        );
      }),
    destroy: async () => {
      await stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
