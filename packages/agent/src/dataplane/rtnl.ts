/**
 * Thin helpers over npm `netlink` 0.3.0's rtnetlink socket: encoding of the
 * attributes it leaves as raw Buffers, error matching, and the few lookups the
 * data plane repeats. No policy here.
 *
 * Shapes of netlink 0.3.0 that its typings do not make obvious (verified on
 * kernel 6.18, see shared/notes/kernel.md):
 * - `RtNetlinkSocket` has no close(): close its `.socket` (a NetlinkSocket).
 * - `request()` always adds REQUEST|ACK; creation flags are the caller's.
 * - Kernel errors are plain `Error('Request rejected: ENODEV')`, no errno field.
 * - `linkinfo`, the VXLAN `port` (big endian) and `local`, and the veth `peer`
 *   (a 16-byte ifinfomsg followed by link attributes) are raw Buffers.
 * - A dump is not filtered by the kernel (no strict checking): filter here.
 * - IFLA_LINK comes back as a raw Buffer (u32), not a number.
 * - Concurrent requests on one socket break dumps (see openRtnl).
 */
import { AttrStream, FlagsGet, FlagsNew, createRtNetlink, ifla, rt, type RtNetlinkSocket } from 'netlink';
import { parseIpv4 } from '@vxnet/common';

import { inNetns } from '@vxnet/netns';

export type { RtNetlinkSocket };
export type LinkMessage = rt.LinkMessage;

/** Address families used in rtnetlink messages. */
export const AF_INET = 2;
export const AF_BRIDGE = 7;
/** Main routing table (RT_TABLE_MAIN). */
export const RT_TABLE_MAIN = 254;
/** RTNH_F_ONLINK: RouteFlags of netlink 0.3.0 has no name for it. */
export const RTNH_F_ONLINK = 4;

/** Flags for create-or-fail (`ip link add`) and create-or-replace (`… replace`). */
export const CREATE_EXCL = FlagsNew.CREATE | FlagsNew.EXCL;
export const CREATE_REPLACE = FlagsNew.CREATE | FlagsNew.REPLACE;

/**
 * Upper bound for one request, in ms. Netlink ACKs can be dropped when the receive
 * buffer overflows (ENOBUFS); without a timeout the promise would never settle.
 */
export const REQUEST_TIMEOUT_MS = 10_000;

/**
 * Opens an rtnetlink socket in `netns` (name or path), or in the calling thread's
 * namespace, with its requests gated so that a dump never overlaps another request.
 *
 * Why: netlink 0.3.0 collects a dump's parts in one per-socket buffer and ends it
 * at the next non-multipart message of any sequence number, so an ACK of a
 * concurrent request arriving between two parts of a dump fails the dump with
 * "Multipart message not terminated properly". Plain requests may still overlap
 * each other.
 */
export function openRtnl(netns?: string): RtNetlinkSocket {
  const sock = netns === undefined ? createRtNetlink() : inNetns(netns, () => createRtNetlink());
  gateRequests(sock);
  return sock;
}

/**
 * Most requests one socket has outstanding. netlink 0.3.0's native send throws
 * inside a libuv callback when the socket's buffers are exhausted, which aborts
 * the process ("terminate called after throwing an instance of 'Napi::Error'");
 * 1000 concurrent requests did that here, 96 did not.
 */
export const MAX_INFLIGHT = 64;

function gateRequests(sock: RtNetlinkSocket): void {
  // Dumps run one at a time, after every request issued before them; requests
  // issued after a dump wait for it. At most MAX_INFLIGHT requests are in flight.
  let dumpTail: Promise<unknown> = Promise.resolve();
  const inflight = new Set<Promise<unknown>>();
  let running = 0;
  const waiting: Array<() => void> = [];
  const request = sock.request.bind(sock);
  const limited: typeof request = async (type, data, options) => {
    // A finishing request hands its slot straight to the next waiter.
    if (running >= MAX_INFLIGHT) await new Promise<void>((resolve) => waiting.push(resolve));
    else running++;
    try {
      return await request(type, data, options);
    } finally {
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  };
  sock.request = (type, data, options) => {
    const isDump = (Number(options?.flags) & FlagsGet.DUMP) === FlagsGet.DUMP;
    if (isDump) {
      const run = Promise.allSettled([dumpTail, ...inflight]).then(() => limited(type, data, options));
      dumpTail = run.catch(() => undefined);
      return run;
    }
    const run = dumpTail.then(() => limited(type, data, options));
    const settled = run.catch(() => undefined);
    inflight.add(settled);
    void settled.then(() => inflight.delete(settled));
    return run;
  };
}

/** Closes an rtnetlink socket (RtNetlinkSocket itself has no close()). */
export function closeRtnl(sock: RtNetlinkSocket): void {
  sock.socket.close();
}

/** True when `err` is a kernel rejection with one of these errno names. */
export function rejected(err: unknown, ...codes: string[]): boolean {
  const msg = err instanceof Error ? err.message : '';
  return codes.some((c) => msg === `Request rejected: ${c}`);
}

/** Runs a delete request; "not found" answers (ENOENT, ESRCH, ENODEV, EADDRNOTAVAIL) are success. */
export async function ignoreMissing(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (!rejected(err, 'ENOENT', 'ESRCH', 'ENODEV', 'EADDRNOTAVAIL')) throw err;
  }
}

/** Serialises netlink's StreamData (Buffer | Buffer[] | writer fn) into one Buffer. */
export function streamToBuffer(data: Parameters<AttrStream['emit']>[0]): Buffer {
  const out = new AttrStream();
  out.emit(data);
  return Buffer.concat(out.bufs);
}

/** IPv4 text -> 4-byte Buffer; throws TypeError on anything else. */
export function ipv4Buffer(text: string): Buffer {
  const n = parseIpv4(text);
  if (n === undefined) throw new TypeError(`invalid IPv4 address "${text}"`);
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/** 4-byte Buffer -> IPv4 text. */
export function ipv4Text(buf: Buffer | undefined): string | undefined {
  return buf && buf.length === 4 ? `${buf[0]}.${buf[1]}.${buf[2]}.${buf[3]}` : undefined;
}

/** "02:42:0a:80:03:02" -> 6-byte Buffer; throws TypeError on anything else. */
export function macBuffer(text: string): Buffer {
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(text)) throw new TypeError(`invalid MAC address "${text}"`);
  return Buffer.from(text.replace(/:/g, ''), 'hex');
}

/** 6-byte Buffer -> lower-case colon MAC text. */
export function macText(buf: Buffer | undefined): string | undefined {
  return buf && buf.length === 6 ? [...buf].map((b) => b.toString(16).padStart(2, '0')).join(':') : undefined;
}

/** A valid interface name: 1-15 characters the kernel and `ip` take without quoting. */
export const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

/** u32 IFLA_LINK (a veth's peer index), which netlink 0.3.0 hands over as a raw (host-endian) Buffer. */
export function peerIndex(link: LinkMessage): number | undefined {
  const b = link.attrs.link;
  return b && b.length >= 4 ? b.readUInt32LE(0) : undefined;
}

/** The link named `ifname`, or undefined. Equivalent to: ip link show IFNAME */
export async function getLinkByName(sock: RtNetlinkSocket, ifname: string): Promise<LinkMessage | undefined> {
  try {
    const [link] = await sock.getLink({}, { ifname }, { timeout: REQUEST_TIMEOUT_MS });
    return link;
  } catch (err) {
    if (rejected(err, 'ENODEV')) return undefined;
    throw err;
  }
}

/** The kind in a link's IFLA_LINKINFO ('bridge', 'vxlan', 'veth', …), or undefined. */
export function linkKind(link: LinkMessage): string | undefined {
  return link.attrs.linkinfo ? ifla.parseInfo(link.attrs.linkinfo).kind : undefined;
}

/** The kind-specific IFLA_INFO_DATA of a link, raw. */
export function linkInfoData(link: LinkMessage): Buffer | undefined {
  return link.attrs.linkinfo ? ifla.parseInfo(link.attrs.linkinfo).data : undefined;
}

/** IFLA_LINKINFO for a device of `kind`, with optional kind-specific data. */
export function linkInfo(kind: string, data?: Buffer): Buffer {
  return streamToBuffer(ifla.formatInfo(data ? { kind, data } : { kind }));
}

/**
 * IFLA_INFO_DATA for a veth whose peer gets these attributes (e.g. ifname and
 * netNsFd, to create the peer directly in another namespace).
 */
export function vethPeerData(peer: ifla.LinkAttrs): Buffer {
  const peerMsg = Buffer.concat([rt.formatLink({}), streamToBuffer(ifla.formatLinkAttrs(peer))]);
  return streamToBuffer(ifla.formatVethInfo({ peer: peerMsg }));
}

/** Brings a link up and sets attributes in one RTM_SETLINK. Equivalent to: ip link set DEV up mtu N … */
export async function setLinkUp(sock: RtNetlinkSocket, index: number, attrs: ifla.LinkAttrs = {}): Promise<void> {
  await sock.setLink({ index, flags: { up: true }, change: { up: true } }, attrs, { timeout: REQUEST_TIMEOUT_MS });
}

/**
 * Makes `ip/prefixLength` the only IPv4 address of link `index`: adds it if
 * missing, removes any other (drift, or a previous subnet).
 *
 * Equivalent to: ip addr replace IP/PREFIX dev DEV; ip addr del OTHER dev DEV
 */
export async function ensureOnlyAddress(sock: RtNetlinkSocket, index: number, ip: string, prefixLength: number): Promise<void> {
  await ensureExactAddresses(sock, index, [{ ip, prefixLength }]);
}

/**
 * Makes `want` exactly the IPv4 addresses of link `index`: adds the missing ones,
 * removes any other (drift, or a previous subnet).
 *
 * Equivalent to: ip addr replace IP/PREFIX dev DEV …; ip addr del OTHER dev DEV
 */
export async function ensureExactAddresses(sock: RtNetlinkSocket, index: number, want: Array<{ ip: string; prefixLength: number }>): Promise<void> {
  const wanted = want.map((w) => ({ ...w, buf: ipv4Buffer(w.ip), present: false }));
  const addrs = (await sock.getAddresses({ family: AF_INET }, {}, { timeout: REQUEST_TIMEOUT_MS })).filter((a) => a.data.index === index);
  for (const a of addrs) {
    const local = a.attrs.local ?? a.attrs.address;
    const match = wanted.find((w) => local?.equals(w.buf) && a.data.prefixlen === w.prefixLength);
    if (match) {
      match.present = true;
      continue;
    }
    await ignoreMissing(
      sock.delAddress({ family: AF_INET, index, prefixlen: a.data.prefixlen }, { local, address: a.attrs.address }, { timeout: REQUEST_TIMEOUT_MS }),
    );
  }
  for (const w of wanted) {
    if (w.present) continue;
    await sock.newAddress({ family: AF_INET, index, prefixlen: w.prefixLength }, { local: w.buf, address: w.buf }, { flags: CREATE_REPLACE, timeout: REQUEST_TIMEOUT_MS });
  }
}
