/**
 * The devices of a (host, network) namespace: the namespace itself, the VXLAN
 * device `vxlan0` (the VTEP) and the bridge `br0` (the gateway), reconciled as
 * flannel's ensureLink does: create; if present, compare; repair drift in place
 * (down, MTU, addresses); delete and recreate what is incompatible.
 *
 * The VTEP can be made alone (ensureVtep) because its MAC must be known before
 * the subnet lease is taken: the lease carries it, so peers never see a lease
 * without one (flannel's RegisterNetwork order).
 */
import { closeSync, readFileSync, writeFileSync } from 'node:fs';

import { ifla } from 'netlink';
import { VXNET_DNS_ADDRESS, parseCidr, type Logger } from '@vxnet/common';
import { deleteNetns, ensureNetns, inNetns, openNetns } from '@vxnet/netns';

import { DataPlaneConflict, DataPlaneFailed } from '../errors.js';
import { BRIDGE_NAME, UPLINK_NAME, VXLAN_NAME, VXLAN_PORT, type NetworkPlaneSpec, type VtepSpec } from './data-plane.js';
import { deleteEndpoint, listEndpoints } from './endpoints.js';
import {
  CREATE_EXCL,
  REQUEST_TIMEOUT_MS,
  ensureExactAddresses,
  ensureOnlyAddress,
  getLinkByName,
  ignoreMissing,
  ipv4Buffer,
  ipv4Text,
  linkInfo,
  linkInfoData,
  linkKind,
  macText,
  setLinkUp,
  streamToBuffer,
  type LinkMessage,
  type RtNetlinkSocket,
} from './rtnl.js';
import { errorText, type NetnsSockets, type NsHandle } from './sockets.js';

const T = { timeout: REQUEST_TIMEOUT_MS };

function checkVtepSpec(spec: VtepSpec): void {
  if (!Number.isInteger(spec.vni) || spec.vni < 1 || spec.vni > 0xffffff) throw new TypeError(`invalid VNI ${spec.vni}`);
  if (!Number.isInteger(spec.mtu) || spec.mtu < 68 || spec.mtu > 65535) throw new TypeError(`invalid MTU ${spec.mtu}`);
  ipv4Buffer(spec.underlayIp);
}

/** Equivalent to: ip netns add NS (idempotent); then the namespace's socket. */
function ensureNamespace(s: NetnsSockets, netns: string, what: string): NsHandle {
  try {
    ensureNetns(netns);
  } catch (err) {
    throw new DataPlaneFailed(what, netns, `creating the namespace failed: ${errorText(err)}`, err);
  }
  return s.handle(netns, what);
}

/** See DataPlane.ensureVtep. */
export async function ensureVtep(s: NetnsSockets, log: Logger | undefined, spec: VtepSpec): Promise<{ vtepMac: string }> {
  checkVtepSpec(spec);
  const what = `ensure VTEP vni ${spec.vni}`;
  const h = ensureNamespace(s, spec.netns, what);
  try {
    return { vtepMac: vtepMacOf(await ensureVxlan(s, log, h, spec)) };
  } catch (err) {
    if (err instanceof DataPlaneFailed) throw err;
    throw new DataPlaneFailed(what, spec.netns, errorText(err), err);
  }
}

/** See DataPlane.ensureNetwork. */
export async function ensureNetwork(s: NetnsSockets, log: Logger | undefined, spec: NetworkPlaneSpec): Promise<{ vtepMac: string }> {
  const subnet = parseCidr(spec.hostSubnet, 'host subnet');
  checkVtepSpec(spec);
  ipv4Buffer(spec.gateway);
  ipv4Buffer(spec.vtepIp);
  const what = `ensure network vni ${spec.vni}`;
  const h = ensureNamespace(s, spec.netns, what);
  try {
    // /proc/sys/net resolves against the opening thread's namespace, so a write
    // made inside inNetns sets the flag of this namespace only.
    inNetns(spec.netns, () => {
      const p = '/proc/sys/net/ipv4/ip_forward';
      if (readFileSync(p, 'utf8').trim() !== '1') writeFileSync(p, '1\n');
    });
    await ensureBridge(log, h.sock, spec, subnet.prefixLength);
    const vx = await ensureVxlan(s, log, h, spec);
    await ensureOnlyAddress(h.sock, vx.data.index ?? 0, spec.vtepIp, 32);
    return { vtepMac: vtepMacOf(vx) };
  } catch (err) {
    if (err instanceof DataPlaneFailed) throw err;
    throw new DataPlaneFailed(what, spec.netns, errorText(err), err);
  }
}

function vtepMacOf(vx: LinkMessage): string {
  const mac = macText(vx.attrs.address);
  if (!mac) throw new Error(`${VXLAN_NAME} has no MAC address`);
  return mac;
}

/** Locally administered MAC for a bridge from its address: 02:42 + the four IPv4 bytes. */
function bridgeMac(gateway: string): Buffer {
  return Buffer.concat([Buffer.from([0x02, 0x42]), ipv4Buffer(gateway)]);
}

/**
 * The bridge, holding the gateway and the DNS address (VXNET_DNS_ADDRESS/32, the same
 * on every network and host: see its comment), and nothing else.
 *
 * Equivalent to: ip -n NS link add br0 address MAC mtu MTU up type bridge; ip -n NS addr replace GW/LEN dev br0;
 * ip -n NS addr replace 169.254.169.53/32 dev br0
 */
async function ensureBridge(log: Logger | undefined, sock: RtNetlinkSocket, spec: NetworkPlaneSpec, prefixLength: number): Promise<void> {
  let br = await getLinkByName(sock, BRIDGE_NAME);
  if (br && linkKind(br) !== 'bridge') {
    log?.warn({ netns: spec.netns, device: BRIDGE_NAME, kind: linkKind(br) }, 'recreating incompatible device');
    await ignoreMissing(sock.delLink({ index: br.data.index }, {}, T));
    br = undefined;
  }
  if (!br) {
    // An explicit MAC keeps the bridge's address from following its lowest port's,
    // which would change the gateway's MAC under containers as endpoints come and go.
    await sock.newLink(
      { flags: { up: true }, change: { up: true } },
      { ifname: BRIDGE_NAME, mtu: spec.mtu, address: bridgeMac(spec.gateway), linkinfo: linkInfo('bridge') },
      { flags: CREATE_EXCL, ...T },
    );
    br = await getLinkByName(sock, BRIDGE_NAME);
    if (!br) throw new Error(`${BRIDGE_NAME} vanished after creation`);
  } else if (!br.data.flags?.up || br.attrs.mtu !== spec.mtu) {
    log?.info({ netns: spec.netns, device: BRIDGE_NAME, up: !!br.data.flags?.up, mtu: br.attrs.mtu }, 'repairing device');
    await setLinkUp(sock, br.data.index ?? 0, { mtu: spec.mtu });
  }
  await ensureExactAddresses(sock, br.data.index ?? 0, [{ ip: spec.gateway, prefixLength }, { ip: VXNET_DNS_ADDRESS, prefixLength: 32 }]);
}

/** Why an existing vxlan0 cannot be kept, or undefined when it is compatible. */
function vxlanMismatch(vx: LinkMessage, spec: VtepSpec, underlayIndex: number | undefined): string | undefined {
  if (linkKind(vx) !== 'vxlan') return `kind ${linkKind(vx)}, want vxlan`;
  const raw = linkInfoData(vx);
  const d = raw ? ifla.parseVxlan(raw) : {};
  const diffs: string[] = [];
  if (d.id !== spec.vni) diffs.push(`vni ${d.id}, want ${spec.vni}`);
  const port = d.port && d.port.length === 2 ? d.port.readUInt16BE(0) : undefined;
  if (port !== VXLAN_PORT) diffs.push(`dstport ${port}, want ${VXLAN_PORT}`);
  if (d.learning !== 0) diffs.push('learning on');
  if (ipv4Text(d.local) !== spec.underlayIp) diffs.push(`local ${ipv4Text(d.local)}, want ${spec.underlayIp}`);
  if ((d.link ?? 0) !== (underlayIndex ?? 0)) diffs.push(`dev index ${d.link}, want ${underlayIndex ?? 'none'} (${spec.underlayDevice ?? 'no dev'})`);
  // IFLA_LINK_NETNSID is reported only when the device's socket lives in another
  // namespace: without it the device was made inside and sends nowhere useful.
  if (vx.attrs.linkNetnsid === undefined) diffs.push('UDP socket not in the agent namespace');
  return diffs.length ? diffs.join('; ') : undefined;
}

/**
 * The VXLAN device, without its address (ensureNetwork adds VTEP/32 once the
 * subnet is leased).
 *
 * Equivalent to: ip link add vxlan0 netns NS mtu MTU up type vxlan id VNI dstport 4789 nolearning
 * local UNDERLAY_IP dev UNDERLAY_DEV      (encrypted: local TUNNEL_IP, no dev)
 */
async function ensureVxlan(s: NetnsSockets, log: Logger | undefined, h: NsHandle, spec: VtepSpec): Promise<LinkMessage> {
  let underlayIndex: number | undefined;
  if (spec.underlayDevice !== null) {
    underlayIndex = (await getLinkByName(s.agent, spec.underlayDevice))?.data.index;
    if (underlayIndex === undefined) throw new Error(`underlay device ${spec.underlayDevice} not found in the agent namespace`);
  }
  let vx = await getLinkByName(h.sock, VXLAN_NAME);
  const mismatch = vx && vxlanMismatch(vx, spec, underlayIndex);
  if (vx && mismatch) {
    log?.warn({ netns: spec.netns, device: VXLAN_NAME, mismatch }, 'recreating incompatible device');
    await ignoreMissing(h.sock.delLink({ index: vx.data.index }, {}, T));
    vx = undefined;
  }
  if (!vx) {
    // Created through the agent namespace's socket with IFLA_NET_NS_FD: the
    // device is born in NS (no name clash in the agent namespace, nothing left
    // there on a crash) while its UDP socket belongs to the agent namespace
    // (the kernel binds it in the requester's namespace), as with
    // `ip link add … ; ip link set … netns NS`.
    const data = ifla.formatVxlan({
      id: spec.vni,
      local: ipv4Buffer(spec.underlayIp),
      ...(underlayIndex !== undefined ? { link: underlayIndex } : {}),
      port: Buffer.from([VXLAN_PORT >> 8, VXLAN_PORT & 0xff]),
      learning: 0,
    });
    const fd = openNetns(spec.netns);
    try {
      await s.agent.newLink(
        { flags: { up: true }, change: { up: true } },
        { ifname: VXLAN_NAME, mtu: spec.mtu, netNsFd: fd, linkinfo: linkInfo('vxlan', streamToBuffer(data)) },
        { flags: CREATE_EXCL, ...T },
      );
    } finally {
      closeSync(fd);
    }
    vx = await getLinkByName(h.sock, VXLAN_NAME);
    if (!vx) throw new Error(`${VXLAN_NAME} vanished after creation`);
  } else if (!vx.data.flags?.up || vx.attrs.mtu !== spec.mtu) {
    log?.info({ netns: spec.netns, device: VXLAN_NAME, up: !!vx.data.flags?.up, mtu: vx.attrs.mtu }, 'repairing device');
    await setLinkUp(h.sock, vx.data.index ?? 0, { mtu: spec.mtu });
  }
  h.vxlanIndex = vx.data.index;
  return vx;
}

/** See DataPlane.deleteNetwork. */
export async function deleteNetwork(s: NetnsSockets, netns: string): Promise<void> {
  const what = 'delete network';
  if (!s.exists(netns)) {
    s.drop(netns);
    return;
  }
  try {
    // Explicit deletes make teardown synchronous: the namespace itself is freed
    // by a kernel worker later, and the container ends of veths, the uplink's host
    // end and the VXLAN socket in the agent namespace would linger until then.
    const h = s.handle(netns, what);
    for (const ifname of await listEndpoints(s, netns)) await deleteEndpoint(s, netns, ifname);
    const up = await getLinkByName(h.sock, UPLINK_NAME);
    if (up && linkKind(up) === 'veth') await ignoreMissing(h.sock.delLink({ index: up.data.index }, {}, T));
    const vx = await getLinkByName(h.sock, VXLAN_NAME);
    if (vx) await ignoreMissing(h.sock.delLink({ index: vx.data.index }, {}, T));
  } catch (err) {
    throw err instanceof DataPlaneFailed || err instanceof DataPlaneConflict ? err : new DataPlaneFailed(what, netns, errorText(err), err);
  }
  s.drop(netns);
  try {
    deleteNetns(netns);
  } catch (err) {
    throw new DataPlaneFailed(what, netns, `removing the namespace failed: ${errorText(err)}`, err);
  }
}

/** Index of vxlan0 in the namespace of `h`, cached. Throws when it is missing. */
export async function vxlanIndex(h: NsHandle, netns: string): Promise<number> {
  if (h.vxlanIndex !== undefined) return h.vxlanIndex;
  const vx = await getLinkByName(h.sock, VXLAN_NAME);
  if (vx?.data.index === undefined) throw new DataPlaneFailed('find the VXLAN device', netns, `${VXLAN_NAME} is missing (ensureNetwork first)`);
  h.vxlanIndex = vx.data.index;
  return vx.data.index;
}
