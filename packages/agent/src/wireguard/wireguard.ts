/**
 * The host's WireGuard device (issue 13): one per agent, in the host namespace, UDP
 * 51820 on the underlay. Encrypted networks' VTEPs send from this host's tunnel
 * address to peers' tunnel addresses, which are routed through the device, so their
 * VXLAN packets leave the host only inside WireGuard.
 *
 * Backend: kernel WireGuard when `ip link add … type wireguard` works, else
 * Debian's userspace `wireguard-go` (a TUN device), started and supervised by the
 * agent; neither: encryption is unavailable and encrypted networks are refused
 * (never sent in plaintext). Configured the same way for both with `wg syncconf`
 * from a 0600 file in the state directory (argv only, no shell), read back with
 * `wg show IF dump`.
 *
 * wireguard-go outlives the agent on purpose (like the rest of the kernel state):
 * an agent restart must not cut encrypted traffic. A restarted agent adopts the
 * running device. Supervision is therefore by the device, not by the child: every
 * second (and at once when a child the agent started exits) the device is looked
 * up; missing, wireguard-go is started again and the whole config re-applied.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

import { isAlive, parseCidr, spawnDaemon, type HostWireGuard, type Logger, type ProcessRecord } from '@vxnet/common';

import { WireGuardFailed } from '../errors.js';
import { CREATE_EXCL, REQUEST_TIMEOUT_MS, closeRtnl, ensureOnlyAddress, getLinkByName, linkInfo, linkKind, openRtnl, setLinkUp } from '../dataplane/rtnl.js';
import { errorText as errorMessage } from '../dataplane/sockets.js';
import { writeSecretFile, type PrivateKey } from './keys.js';
import { deviceMatches, parseDump, renderConfig, type WgPeer } from './wg-config.js';

const run = promisify(execFile);

/** The UDP port WireGuard listens on (its IANA-style default, as flannel and Calico). */
export const WIREGUARD_PORT = 51820;
/** Bytes WireGuard adds to an IPv4 packet: outer IPv4 20 + UDP 8 + WireGuard header 16 + tag 16 = 60, padded: wg-quick uses 80. */
export const WIREGUARD_OVERHEAD = 80;

export type EncryptionStatus =
  | { available: true; backend: HostWireGuard['backend']; device: string; publicKey: string; tunnelIp: string; port: number }
  | { available: false; reason: string };

/** What the agent needs of the host's encryption (a fake in unit tests). */
export interface Encryption {
  /** Whether encrypted networks can be carried here, and the public identity when they can. */
  readonly status: EncryptionStatus;
  /**
   * Make the device's peers exactly `peers` (wg syncconf; existing sessions of
   * unchanged peers survive). Idempotent; kept and re-applied when the device is
   * recreated. Throws VXNET_WIREGUARD_FAILED when `wg` refuses.
   */
  setPeers(peers: WgPeer[]): Promise<void>;
  /** Stop supervising. The device and wireguard-go stay (traffic flows through an agent restart). */
  close(): void;
}

export interface WireGuardOptions {
  /** Device name in the host namespace, e.g. `vxwg0`. */
  device: string;
  privateKey: PrivateKey;
  /**
   * This host's tunnel address (claimTunnelAddress), asked for only when a backend
   * exists; the device holds it with the prefix length of `pool`.
   */
  tunnelIp: () => Promise<string>;
  pool: string;
  /** Underlay MTU; the device gets this minus WIREGUARD_OVERHEAD. */
  underlayMtu: number;
  /** State directory: the config file (0600) and wireguard-go's log go here. */
  stateDir: string;
  log: Logger;
  /** Supervision period, ms (default 1,000). */
  checkMs?: number;
  /** PATH to look for `wg` and `wireguard-go` in (default process.env.PATH). */
  path?: string;
}

/** The full path of executable `name` on `path`, or undefined. */
export function findExecutable(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const full = join(dir, name);
    try {
      accessSync(full, constants.X_OK);
      return full;
    } catch {
      // next
    }
  }
  return undefined;
}

/** Whether an rtnetlink refusal means "no such link kind" (no kernel WireGuard). */
function noKernelWireGuard(err: unknown): boolean {
  return /EOPNOTSUPP|ENOTSUP|EINVAL|Unknown device type|ENODEV/.test(errorMessage(err));
}

export class WireGuard implements Encryption {
  private peers: WgPeer[] = [];
  private timer: NodeJS.Timeout | undefined;
  private child: ProcessRecord | undefined;
  private closed = false;
  private checking: Promise<void> = Promise.resolve();
  private readonly wg: string;

  private constructor(
    private readonly o: Omit<WireGuardOptions, 'tunnelIp'> & { tunnelIp: string },
    readonly status: EncryptionStatus & { available: true },
    wg: string,
    private readonly wireguardGo: string | undefined,
  ) {
    this.wg = wg;
  }

  /**
   * Bring the device up (made, adopted or repaired) with its key, port, address and
   * MTU, and start supervising it. Resolves an Encryption whose status says
   * unavailable (with the reason) when this host has neither kernel WireGuard nor
   * wireguard-go, or no `wg`, or when the device cannot be made (logged); the agent
   * then runs and refuses encrypted networks. A device that exists already (a
   * wireguard-go left running by the last agent) is adopted with its peers, which
   * the agent's first setPeers then corrects: no gap in encrypted traffic.
   */
  static async start(o: WireGuardOptions): Promise<Encryption> {
    try {
      return await WireGuard.open(o);
    } catch (err) {
      const reason = `the WireGuard device ${o.device} could not be made: ${errorMessage(err)}`;
      o.log.error({ err: safeError(err), device: o.device }, 'WireGuard unavailable');
      return unavailable(reason);
    }
  }

  private static async open(o: WireGuardOptions): Promise<Encryption> {
    const wg = findExecutable('wg', o.path);
    if (wg === undefined) return unavailable('`wg` (Debian wireguard-tools) is not installed');
    const backend = await kernelWireGuard(o.device);
    const wireguardGo = backend === 'kernel' ? undefined : findExecutable('wireguard-go', o.path);
    if (backend !== 'kernel' && wireguardGo === undefined) {
      return unavailable('the kernel has no WireGuard and `wireguard-go` (Debian wireguard-go) is not installed');
    }
    const tunnelIp = await o.tunnelIp();
    const status = {
      available: true as const, backend: backend === 'kernel' ? 'kernel' as const : 'wireguard-go' as const, device: o.device,
      publicKey: o.privateKey.publicKey(), tunnelIp, port: WIREGUARD_PORT,
    };
    const w = new WireGuard({ ...o, tunnelIp }, status, wg, wireguardGo);
    await w.ensureDevice();
    // adopted with our key and port: keep its peers until the agent sets them
    const dump = await w.dump();
    if (dump.publicKey !== status.publicKey || dump.listenPort !== WIREGUARD_PORT) await w.apply();
    const every = o.checkMs ?? 1000;
    if (every > 0) {
      w.timer = setInterval(() => void w.check(), every);
      w.timer.unref();
    }
    o.log.info({ wireguard: { backend: status.backend, device: o.device, publicKey: status.publicKey, tunnelIp, port: WIREGUARD_PORT } }, 'WireGuard device ready');
    return w;
  }

  async setPeers(peers: WgPeer[]): Promise<void> {
    this.peers = [...peers];
    await this.apply();
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
  }

  /** Supervision: device gone (wireguard-go died, someone deleted it): make it again and re-apply. */
  private check(): Promise<void> {
    this.checking = this.checking.then(async () => {
      if (this.closed) return;
      try {
        const sock = openRtnl();
        let present: boolean;
        try {
          present = (await getLinkByName(sock, this.o.device)) !== undefined;
        } finally {
          closeRtnl(sock);
        }
        if (present) return;
        this.o.log.warn({ device: this.o.device, backend: this.status.backend }, 'WireGuard device gone; making it again');
        await this.ensureDevice();
        await this.apply();
        this.o.log.info({ device: this.o.device, peers: this.peers.length }, 'WireGuard device restored');
      } catch (err) {
        this.o.log.error({ err: safeError(err), device: this.o.device }, 'WireGuard device check failed; retrying');
      }
    });
    return this.checking;
  }

  /**
   * The device, up, with tunnelIp/poolLength and MTU. Kernel: ip link add DEV type
   * wireguard. Userspace: wireguard-go -f DEV (a TUN device named DEV, its UAPI socket
   * /run/wireguard/DEV.sock), unless a running one already has it.
   *
   * Equivalent to: ip link add DEV type wireguard | wireguard-go -f DEV;
   * ip addr replace TUNNEL_IP/LEN dev DEV; ip link set DEV mtu UNDERLAY-80 up
   */
  private async ensureDevice(): Promise<void> {
    const sock = openRtnl();
    try {
      let link = await getLinkByName(sock, this.o.device);
      if (!link && this.status.backend === 'kernel') {
        await sock.newLink({}, { ifname: this.o.device, linkinfo: linkInfo('wireguard') }, { flags: CREATE_EXCL, timeout: REQUEST_TIMEOUT_MS });
        link = await getLinkByName(sock, this.o.device);
      } else if (!link) {
        link = await this.startWireguardGo(sock);
      }
      if (link?.data.index === undefined) throw new WireGuardFailed('make', this.o.device, 'it did not appear');
      const prefix = parseCidr(this.o.pool, 'WireGuard pool').prefixLength;
      await ensureOnlyAddress(sock, link.data.index, this.o.tunnelIp, prefix);
      const mtu = this.o.underlayMtu - WIREGUARD_OVERHEAD;
      if (!link.data.flags?.up || link.attrs.mtu !== mtu) await setLinkUp(sock, link.data.index, { mtu });
    } catch (err) {
      if (err instanceof WireGuardFailed) throw err;
      throw new WireGuardFailed('make', this.o.device, errorMessage(err), safeError(err));
    } finally {
      closeRtnl(sock);
    }
  }

  /** Start wireguard-go for the device and wait (5 s at most) for its TUN device and UAPI socket. */
  private async startWireguardGo(sock: ReturnType<typeof openRtnl>): Promise<Awaited<ReturnType<typeof getLinkByName>>> {
    if (this.child && isAlive(this.child)) {
      // a previous start is still coming up
    } else {
      // detached: its own process group, so a signal to the agent's group leaves it running
      this.child = spawnDaemon({
        command: this.wireguardGo ?? 'wireguard-go', args: ['-f', this.o.device], logFile: join(this.o.stateDir, 'wireguard-go.log'), detached: true,
        env: { ...process.env, LOG_LEVEL: 'error' },
      });
      this.o.log.info({ device: this.o.device, pid: this.child.pid }, 'wireguard-go started');
    }
    const socket = `/run/wireguard/${this.o.device}.sock`;
    for (let waited = 0; waited < 5000; waited += 20) {
      const link = await getLinkByName(sock, this.o.device);
      if (link && existsSync(socket)) return link;
      if (!isAlive(this.child)) throw new WireGuardFailed('start wireguard-go for', this.o.device, `it exited (see ${join(this.o.stateDir, 'wireguard-go.log')})`);
      await sleep(20);
    }
    throw new WireGuardFailed('start wireguard-go for', this.o.device, 'its device or UAPI socket did not appear within 5 s');
  }

  /**
   * Apply key, port and peers with `wg syncconf DEV FILE` (FILE 0600 in the state
   * directory), unless `wg show DEV dump` shows them already; then read back.
   */
  private async apply(): Promise<void> {
    const want = { publicKey: this.status.publicKey, listenPort: WIREGUARD_PORT, peers: this.peers };
    if (deviceMatches(await this.dump(), want)) return;
    const file = join(this.o.stateDir, `${this.o.device}.conf`);
    writeSecretFile(file, renderConfig({ privateKey: this.o.privateKey, listenPort: WIREGUARD_PORT, peers: this.peers }));
    try {
      await run(this.wg, ['syncconf', this.o.device, file], { timeout: REQUEST_TIMEOUT_MS });
    } catch (err) {
      throw new WireGuardFailed('configure', this.o.device, `wg syncconf failed: ${stderrOf(err)}`);
    }
    const state = await this.dump();
    if (!deviceMatches(state, want)) throw new WireGuardFailed('configure', this.o.device, 'wg show reads back a different configuration');
    this.o.log.info({ device: this.o.device, peers: this.peers.map((p) => ({ tunnelIp: p.tunnelIp, endpoint: p.endpoint.ip, publicKey: p.publicKey })) }, 'WireGuard peers applied');
  }

  /** `wg show DEV dump`, parsed (the private key in its first line is dropped unread). */
  private async dump(): Promise<ReturnType<typeof parseDump>> {
    let stdout: string;
    try {
      ({ stdout } = await run(this.wg, ['show', this.o.device, 'dump'], { timeout: REQUEST_TIMEOUT_MS }));
    } catch (err) {
      throw new WireGuardFailed('read', this.o.device, `wg show failed: ${stderrOf(err)}`);
    }
    return parseDump(stdout);
  }
}

function unavailable(reason: string): Encryption {
  return { status: { available: false, reason }, setPeers: async () => undefined, close: () => undefined };
}

/**
 * 'kernel' when a WireGuard link exists or can be made here (left in place: it is the
 * device); 'none' when the kernel does not know the link kind.
 */
async function kernelWireGuard(device: string): Promise<'kernel' | 'none'> {
  const sock = openRtnl();
  try {
    const link = await getLinkByName(sock, device);
    if (link) return linkKind(link) === 'wireguard' ? 'kernel' : 'none';
    try {
      await sock.newLink({}, { ifname: device, linkinfo: linkInfo('wireguard') }, { flags: CREATE_EXCL, timeout: REQUEST_TIMEOUT_MS });
      return 'kernel';
    } catch (err) {
      if (noKernelWireGuard(err)) return 'none';
      throw new WireGuardFailed('probe', device, errorMessage(err));
    }
  } finally {
    closeRtnl(sock);
  }
}

/** stderr of a failed execFile (wg's messages hold no keys), else its message. */
function stderrOf(err: unknown): string {
  const e = err as { stderr?: string; message?: string };
  return (e.stderr?.trim() || e.message || String(err)).split('\n')[0] ?? '';
}

/**
 * An error safe to log: execFile errors carry stdout, which for `wg show dump` holds
 * the private key. Only the message and code are kept.
 */
function safeError(err: unknown): Error {
  const e = new Error(errorMessage(err));
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') (e as NodeJS.ErrnoException).code = code;
  return e;
}
