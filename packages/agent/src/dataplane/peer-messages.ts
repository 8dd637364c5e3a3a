/**
 * The rtnetlink messages of a peer (route, neighbour, FDB entry, and their
 * deletes), written by hand straight into a batch datagram.
 *
 * Why not netlink 0.3.0's rt.formatRouteMessage/formatNeighborMessage: they
 * build each message from a dozen small Buffers through AttrStream; for 3,000
 * messages that cost 15-50 ms of JS and garbage, more than the kernel needs to
 * apply them. These layouts are fixed (struct rtmsg / ndmsg, then 4-byte
 * aligned attributes, host byte order as the library writes them), and
 * test/dataplane/peer-messages.ts checks each one byte for byte against the
 * library's encoders given the same arguments.
 */
import { FlagsNew, rt } from 'netlink';

import type { BatchWriter } from './rtnl-batch.js';

/**
 * The metric of a peer's route: its subnet's network address as a u32 (so
 * 10.141.3.0/24 gets metric 177013504).
 *
 * Why not 0: the kernel shares `struct fib_info` between routes with equal
 * attributes and finds candidates in a hash keyed by protocol, scope, prefsrc,
 * priority and device, not by gateway (net/ipv4/fib_semantics.c,
 * fib_info_hashfn). Peer routes differ only by gateway, so with one metric they
 * all land in one bucket and every insert compares against every earlier route:
 * 1,000 routes took ~30 ms of kernel time (perf: fib_create_info and memcmp,
 * half of `ip -batch`'s time), and N routes cost O(N²). A distinct metric per
 * route spreads them over the hash (1,000 routes: ~10 ms). Routing is
 * unaffected: metrics only rank routes to the same prefix, and every peer has
 * its own prefix.
 */
export function routeMetric(network: number): number {
  return network >>> 0;
}

/** rtm_flags RTNH_F_ONLINK (netlink 0.3.0's RouteFlags has no name for it). */
const RTNH_F_ONLINK = 4;
const RTPROT_STATIC = 4;
const RTN_UNICAST = 1;
const RT_TABLE_MAIN = 254;
const RTA_DST = 1;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RTA_PRIORITY = 6;
const NDA_DST = 1;
const NDA_LLADDR = 2;
const NUD_PERMANENT = 0x80;
const NTF_SELF = 0x02;
const AF_INET = 2;
const AF_BRIDGE = 7;
const CREATE_REPLACE = FlagsNew.CREATE | FlagsNew.REPLACE;

/**
 * `ip route replace NETWORK/LEN via GATEWAY dev OIF onlink metric routeMetric(NETWORK)`
 * (table main, proto static, scope universe, unicast). Addresses as u32.
 */
export function writeRoute(w: BatchWriter, network: number, dstLen: number, gateway: number, oif: number): void {
  const h = w.begin(rt.MessageType.NEWROUTE, CREATE_REPLACE, 12);
  w.buf[h] = AF_INET;
  w.buf[h + 1] = dstLen;
  w.buf[h + 4] = RT_TABLE_MAIN;
  w.buf[h + 5] = RTPROT_STATIC;
  w.buf[h + 7] = RTN_UNICAST;
  w.buf.writeUInt32LE(RTNH_F_ONLINK, h + 8);
  w.ipv4(RTA_DST, network);
  w.ipv4(RTA_GATEWAY, gateway);
  w.u32(RTA_OIF, oif);
  w.u32(RTA_PRIORITY, routeMetric(network));
  w.end();
}

/** `ip route del NETWORK/LEN via GATEWAY dev OIF` (any metric). */
export function writeRouteDelete(w: BatchWriter, network: number, dstLen: number, gateway: number, oif: number): void {
  const h = w.begin(rt.MessageType.DELROUTE, 0, 12);
  w.buf[h] = AF_INET;
  w.buf[h + 1] = dstLen;
  w.buf[h + 4] = RT_TABLE_MAIN;
  w.ipv4(RTA_DST, network);
  w.ipv4(RTA_GATEWAY, gateway);
  w.u32(RTA_OIF, oif);
  w.end();
}

/** `ip neigh replace IP lladdr MAC dev IFINDEX nud permanent`, or with no MAC `ip neigh del IP dev IFINDEX`. */
export function writeNeighbour(w: BatchWriter, ip: number, ifindex: number, mac: Buffer | undefined): void {
  const h = w.begin(mac ? rt.MessageType.NEWNEIGH : rt.MessageType.DELNEIGH, mac ? CREATE_REPLACE : 0, 12);
  w.buf[h] = AF_INET;
  w.buf.writeInt32LE(ifindex, h + 4);
  if (mac) w.buf.writeUInt16LE(NUD_PERMANENT, h + 8);
  w.ipv4(NDA_DST, ip);
  if (mac) w.bytes(NDA_LLADDR, mac);
  w.end();
}

/**
 * `bridge fdb replace MAC dev IFINDEX dst UNDERLAY self permanent`, or with no
 * underlay `bridge fdb del MAC dev IFINDEX self`.
 */
export function writeFdb(w: BatchWriter, mac: Buffer, ifindex: number, underlay: number | undefined): void {
  const add = underlay !== undefined;
  const h = w.begin(add ? rt.MessageType.NEWNEIGH : rt.MessageType.DELNEIGH, add ? CREATE_REPLACE : 0, 12);
  w.buf[h] = AF_BRIDGE;
  w.buf.writeInt32LE(ifindex, h + 4);
  if (add) w.buf.writeUInt16LE(NUD_PERMANENT, h + 8);
  w.buf[h + 10] = NTF_SELF;
  w.bytes(NDA_LLADDR, mac);
  if (add) w.ipv4(NDA_DST, underlay);
  w.end();
}

/*
 * Peer fields to numbers without allocating: at 1,000 peers the shared
 * parsers (parseCidr builds canonical text, macBuffer a regex and a hex
 * string) cost more than the kernel needs for the whole batch. Same rules:
 * these return undefined where parseIpv4 / parseCidr / macBuffer would reject,
 * and the caller then calls those for their error.
 */

/** Dotted-quad IPv4 text (no leading zeros, octets 0-255) in text[start, end) to u32. */
export function ipv4ToU32(text: string, start = 0, end = text.length): number | undefined {
  let n = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || ++dots > 3) return undefined;
      n = n * 256 + octet;
      octet = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits === 1 && octet === 0) return undefined;
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return undefined;
    } else return undefined;
  }
  return dots === 3 && digits > 0 ? n * 256 + octet : undefined;
}

/** Canonical CIDR text ("10.1.2.0/24", host bits clear) to network u32 and prefix length. */
export function cidrToU32(text: string): { network: number; prefixLength: number } | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const network = ipv4ToU32(text, 0, slash);
  const lenText = text.length - slash - 1;
  if (network === undefined || lenText < 1 || lenText > 2) return undefined;
  let prefixLength = 0;
  for (let i = slash + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57 || (i === slash + 1 && c === 48 && lenText > 1)) return undefined;
    prefixLength = prefixLength * 10 + (c - 48);
  }
  if (prefixLength > 32) return undefined;
  const mask = prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
  return ((network & mask) >>> 0) === network ? { network, prefixLength } : undefined;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** "aa:bb:cc:dd:ee:ff" (either case) to 6 bytes. */
export function macToBuffer(text: string): Buffer | undefined {
  if (text.length !== 17) return undefined;
  const out = Buffer.allocUnsafe(6);
  for (let i = 0; i < 6; i++) {
    const o = i * 3;
    if (i < 5 && text.charCodeAt(o + 2) !== 58) return undefined;
    const hi = hexValue(text.charCodeAt(o));
    const lo = hexValue(text.charCodeAt(o + 1));
    if (hi < 0 || lo < 0) return undefined;
    out[i] = hi * 16 + lo;
  }
  return out;
}
