/**
 * Start and health-check an etcd server (Debian `etcd-server`), either on this
 * namespace's addresses or inside a named network namespace (through
 * `nsenter --net=`, not `ip netns exec`, see notes/kernel.md). Used by the lab and by
 * tests that need an etcd of their own.
 */
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { EtcdStartFailed } from './errors.js';
import { spawnDaemon, type ProcessRecord } from './process.js';

export interface EtcdServerOptions {
  /** Member name. */
  name: string;
  dataDir: string;
  /** URLs to listen for clients on, e.g. ['http://127.0.0.1:23790']. */
  listenClientUrls: string[];
  /** Client URLs advertised to the cluster; defaults to listenClientUrls. */
  advertiseClientUrls?: string[];
  /** Peer URL (single-member cluster), e.g. 'http://127.0.0.1:23800'; a cluster member's own peer URL. */
  peerUrl: string;
  /**
   * Every member of a cluster, name -> peer URL (this member included), for
   * `--initial-cluster`; absent: a single-member cluster of this member alone.
   */
  initialCluster?: Record<string, string>;
  /** `--initial-cluster-token`: keeps members of two clusters made from the same list apart. Default etcd's. */
  initialClusterToken?: string;
  /** File that receives etcd's stdout and stderr. */
  logFile: string;
  /** Path of a network namespace to run in, e.g. /run/netns/vx-lab.etcd. */
  netnsPath?: string;
  /** Keep the process out of our process group and do not keep Node alive for it. */
  detached?: boolean;
  /**
   * TLS on the client URLs (which must then be https://): etcd's certificate and key,
   * and the CA whose certificates clients must present (`--client-cert-auth`: a client
   * without one, or with one from another CA, is refused during the handshake).
   */
  clientTls?: EtcdServerTls;
  /**
   * TLS between members (the peer URL must then be https://): the member's certificate
   * (used as server and as client) and the CA every peer's certificate must come from
   * (`--peer-client-cert-auth`).
   */
  peerTls?: EtcdServerTls;
}

/** PEM files of an etcd server's client-facing TLS. */
export interface EtcdServerTls {
  certFile: string;
  keyFile: string;
  /** CA of the client certificates etcd accepts. */
  trustedCaFile: string;
}

/** PEM files etcdctl presents to a TLS etcd (`--cacert`, `--cert`, `--key`). */
export interface EtcdClientTls {
  caFile: string;
  certFile: string;
  keyFile: string;
}

/**
 * Spawn etcd. It does not wait for readiness: call waitEtcdHealthy. With a netns, the
 * pid is etcd's own (nsenter execs it without forking).
 */
export function spawnEtcd(opts: EtcdServerOptions): ProcessRecord {
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const args = [
    '--name', opts.name,
    '--data-dir', opts.dataDir,
    '--listen-client-urls', opts.listenClientUrls.join(','),
    '--advertise-client-urls', (opts.advertiseClientUrls ?? opts.listenClientUrls).join(','),
    '--listen-peer-urls', opts.peerUrl,
    '--initial-advertise-peer-urls', opts.peerUrl,
    '--initial-cluster', initialCluster(opts),
    ...(opts.initialClusterToken ? ['--initial-cluster-token', opts.initialClusterToken] : []),
    '--initial-cluster-state', 'new',
    '--log-outputs', 'stderr',
    ...(opts.clientTls ? [
      '--cert-file', opts.clientTls.certFile,
      '--key-file', opts.clientTls.keyFile,
      '--trusted-ca-file', opts.clientTls.trustedCaFile,
      '--client-cert-auth',
    ] : []),
    ...(opts.peerTls ? [
      '--peer-cert-file', opts.peerTls.certFile,
      '--peer-key-file', opts.peerTls.keyFile,
      '--peer-trusted-ca-file', opts.peerTls.trustedCaFile,
      '--peer-client-cert-auth',
    ] : []),
  ];
  if (opts.peerTls && !opts.peerUrl.startsWith('https://')) {
    throw new EtcdStartFailed(opts.name, `with peerTls the peer URL must be https:// (got ${opts.peerUrl})`);
  }
  if (opts.clientTls && opts.listenClientUrls.some((u) => !u.startsWith('https://'))) {
    throw new EtcdStartFailed(opts.name, `with clientTls every client URL must be https:// (got ${opts.listenClientUrls.join(', ')}): a plain-text port would bypass the client certificates`);
  }
  try {
    return spawnDaemon({ command: 'etcd', args, logFile: opts.logFile, ...(opts.netnsPath ? { netnsPath: opts.netnsPath } : {}), detached: opts.detached ?? false });
  } catch (err) {
    throw new EtcdStartFailed(opts.name, (err as Error).message, err);
  }
}

function initialCluster(opts: EtcdServerOptions): string {
  if (!opts.initialCluster) return `${opts.name}=${opts.peerUrl}`;
  if (opts.initialCluster[opts.name] !== opts.peerUrl) {
    throw new EtcdStartFailed(opts.name, `initialCluster must list this member at its peer URL ${opts.peerUrl}`);
  }
  return Object.entries(opts.initialCluster).map(([name, url]) => `${name}=${url}`).join(',');
}

/** One member as `etcdctl endpoint status` sees it; `error` set when it did not answer. */
export interface EtcdMemberStatus {
  endpoint: string;
  /** Its member id (hex), when it answered. */
  id?: string;
  /** True when this member is the leader (as it reports). */
  leader: boolean;
  /** Raft term and index it reports. */
  raftTerm?: number;
  raftIndex?: number;
  error?: string;
}

/**
 * Ask each endpoint for its status (`etcdctl endpoint status -w json`, one call per
 * endpoint so a dead member costs one timeout and hides nothing), inside `netnsPath`
 * when given. Never throws: a member that does not answer has `error`.
 */
export async function etcdMemberStatus(endpoints: string[], opts: { netnsPath?: string; timeoutMs?: number; tls?: EtcdClientTls } = {}): Promise<EtcdMemberStatus[]> {
  const secs = Math.max(1, Math.ceil((opts.timeoutMs ?? 1000) / 1000));
  return Promise.all(endpoints.map(async (endpoint): Promise<EtcdMemberStatus> => {
    const r = await etcdctl(['--endpoints', endpoint, `--command-timeout=${secs}s`, `--dial-timeout=${secs}s`, ...etcdctlTlsArgs(opts.tls), 'endpoint', 'status', '-w', 'json'], opts.netnsPath);
    if (!r.ok) return { endpoint, leader: false, error: r.output.trim().split('\n').pop() || 'no answer' };
    try {
      const [st] = JSON.parse(r.output.slice(r.output.indexOf('['))) as Array<{ Status: { header: { member_id: number | string }; leader: number | string; raftTerm: number; raftIndex: number } }>;
      if (!st) return { endpoint, leader: false, error: 'no status in the answer' };
      // member ids are 64-bit: JSON.parse rounds them, so compare the text
      const text = r.output;
      const member = /"member_id":(\d+)/.exec(text)?.[1];
      const leader = /"leader":(\d+)/.exec(text)?.[1];
      return {
        endpoint,
        ...(member ? { id: BigInt(member).toString(16) } : {}),
        leader: member !== undefined && member === leader,
        raftTerm: st.Status.raftTerm,
        raftIndex: st.Status.raftIndex,
      };
    } catch (err) {
      return { endpoint, leader: false, error: `unreadable status: ${(err as Error).message}` };
    }
  }));
}

/**
 * Poll `etcdctl endpoint health` (inside `netnsPath` when given) until it passes.
 * Throws EtcdStartFailed after `timeoutMs`.
 */
export async function waitEtcdHealthy(endpoint: string, opts: { netnsPath?: string; timeoutMs?: number; isAlive?: () => boolean; tls?: EtcdClientTls } = {}): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  let last = '';
  while (Date.now() < deadline) {
    if (opts.isAlive && !opts.isAlive()) throw new EtcdStartFailed(endpoint, 'the etcd process exited (see its log)');
    const r = await etcdctl(['--endpoints', endpoint, '--command-timeout=1s', ...etcdctlTlsArgs(opts.tls), 'endpoint', 'health'], opts.netnsPath);
    if (r.ok) return;
    last = r.output.trim().split('\n').pop() ?? '';
    await sleep(100);
  }
  throw new EtcdStartFailed(endpoint, `not healthy after ${opts.timeoutMs ?? 15_000} ms${last ? `: ${last}` : ''}`);
}

/** etcdctl's TLS flags for `tls` (none without). */
export function etcdctlTlsArgs(tls: EtcdClientTls | undefined): string[] {
  return tls ? ['--cacert', tls.caFile, '--cert', tls.certFile, '--key', tls.keyFile] : [];
}

function etcdctl(args: string[], netnsPath?: string): Promise<{ ok: boolean; output: string }> {
  const [cmd, argv] = netnsPath ? ['nsenter', [`--net=${netnsPath}`, '--', 'etcdctl', ...args]] : ['etcdctl', args];
  return new Promise((resolve) => {
    execFile(cmd, argv, { env: { ...process.env, ETCDCTL_API: '3' }, timeout: 5000 }, (err, stdout, stderr) => {
      resolve({ ok: !err, output: `${stdout}${stderr}` });
    });
  });
}
