/**
 * Container attachments: a veth pair per endpoint, host end on br0 in the network
 * namespace, container end created directly in the sandbox (never passing through
 * the agent's namespace, so a crash cannot leave it there). For a runtime that
 * moves the container end itself (Docker), the container end is instead left in the
 * agent's namespace under the name the runtime is told (ensureHandoffEndpoint).
 */
import { closeSync } from 'node:fs';

import { formatIpv4, parseCidr } from '@vxnet/common';
import type { Logger } from '@vxnet/common';
import { openNetns } from '@vxnet/netns';

import { DataPlaneConflict, DataPlaneFailed } from '../errors.js';
import { BRIDGE_NAME, type EndpointSpec, type HandoffEndpointSpec, type SandboxInterface } from './data-plane.js';
import {
  AF_INET,
  CREATE_EXCL,
  CREATE_REPLACE,
  REQUEST_TIMEOUT_MS,
  RT_TABLE_MAIN,
  closeRtnl,
  ensureOnlyAddress,
  IFNAME,
  getLinkByName,
  ignoreMissing,
  ipv4Buffer,
  ipv4Text,
  linkInfo,
  linkKind,
  macBuffer,
  macText,
  openRtnl,
  peerIndex,
  setLinkUp,
  vethPeerData,
  type LinkMessage,
  type RtNetlinkSocket,
} from './rtnl.js';
import { errorText, type NetnsSockets } from './sockets.js';

const T = { timeout: REQUEST_TIMEOUT_MS };

/** See DataPlane.ensureEndpoint. */
export async function ensureEndpoint(s: NetnsSockets, log: Logger | undefined, netns: string, ep: EndpointSpec): Promise<void> {
  const what = `attach ${ep.hostIfname}`;
  if (!IFNAME.test(ep.hostIfname)) throw new TypeError(`invalid host interface name "${ep.hostIfname}" (1-15 characters)`);
  if (!IFNAME.test(ep.ifname)) throw new TypeError(`invalid interface name "${ep.ifname}" (1-15 characters)`);
  ipv4Buffer(ep.ip);
  const gateway = ipv4Buffer(ep.gateway);
  const mac = macBuffer(ep.mac);
  const h = s.handle(netns, what);

  let sandbox: RtNetlinkSocket;
  try {
    sandbox = openRtnl(ep.sandboxNetnsPath);
  } catch (err) {
    throw new DataPlaneFailed(what, netns, `cannot enter sandbox ${ep.sandboxNetnsPath}: ${errorText(err)}`, err);
  }
  const undo: Array<() => Promise<void>> = [];
  try {
    const br = await getLinkByName(h.sock, BRIDGE_NAME);
    if (!br) throw new DataPlaneFailed(what, netns, `${BRIDGE_NAME} is missing (ensureNetwork first)`);
    const brIndex = br.data.index ?? 0;
    let host = await getLinkByName(h.sock, ep.hostIfname);
    let inner = await getLinkByName(sandbox, ep.ifname);
    if (host) {
      const paired =
        linkKind(host) === 'veth' &&
        inner !== undefined &&
        linkKind(inner) === 'veth' &&
        peerIndex(host) === inner.data.index &&
        peerIndex(inner) === host.data.index;
      if (!paired || !inner) {
        throw new DataPlaneConflict(what, netns, `${ep.hostIfname} already exists and is not paired with ${ep.ifname} in ${ep.sandboxNetnsPath}`);
      }
    } else {
      if (inner) throw new DataPlaneConflict(what, netns, `sandbox ${ep.sandboxNetnsPath} already has an interface ${ep.ifname}`);
      const sandboxFd = openNetns(ep.sandboxNetnsPath);
      try {
        await h.sock.newLink(
          {},
          {
            ifname: ep.hostIfname,
            mtu: ep.mtu,
            master: brIndex,
            linkinfo: linkInfo('veth', vethPeerData({ ifname: ep.ifname, netNsFd: sandboxFd, mtu: ep.mtu, address: mac })),
          },
          { flags: CREATE_EXCL, ...T },
        );
      } finally {
        closeSync(sandboxFd);
      }
      undo.push(() => ignoreMissing(h.sock.delLink({}, { ifname: ep.hostIfname }, T)));
      host = await getLinkByName(h.sock, ep.hostIfname);
      inner = await getLinkByName(sandbox, ep.ifname);
      if (!host || !inner) throw new Error(`veth ${ep.hostIfname}/${ep.ifname} vanished after creation`);
    }
    await setLinkUp(h.sock, host.data.index ?? 0, { mtu: ep.mtu, master: brIndex });
    const innerIndex = inner.data.index ?? 0;
    await setLinkUp(sandbox, innerIndex, { mtu: ep.mtu, address: mac });
    await ensureOnlyAddress(sandbox, innerIndex, ep.ip, ep.prefixLength);
    const route = parseCidr(ep.route ?? '0.0.0.0/0', 'endpoint route');
    await sandbox.newRoute(
      { family: AF_INET, dstLen: route.prefixLength, table: RT_TABLE_MAIN, protocol: 'BOOT', scope: 'UNIVERSE', type: 'UNICAST' },
      { ...(route.prefixLength > 0 ? { dst: ipv4Buffer(formatIpv4(route.network)) } : {}), gateway, oif: innerIndex },
      { flags: CREATE_REPLACE, ...T },
    );
  } catch (err) {
    for (const step of undo.reverse()) {
      try {
        await step();
      } catch (undoErr) {
        log?.error({ netns, endpoint: ep.hostIfname, err: undoErr }, 'rollback step failed');
      }
    }
    if (err instanceof DataPlaneFailed || err instanceof DataPlaneConflict) throw err;
    throw new DataPlaneFailed(what, netns, errorText(err), err);
  } finally {
    closeRtnl(sandbox);
  }
}

/** See DataPlane.ensureHandoffEndpoint. */
export async function ensureHandoffEndpoint(s: NetnsSockets, log: Logger | undefined, netns: string, ep: HandoffEndpointSpec): Promise<void> {
  const what = `attach ${ep.hostIfname} for handoff as ${ep.handoffIfname}`;
  if (!IFNAME.test(ep.hostIfname)) throw new TypeError(`invalid host interface name "${ep.hostIfname}" (1-15 characters)`);
  if (!IFNAME.test(ep.handoffIfname)) throw new TypeError(`invalid interface name "${ep.handoffIfname}" (1-15 characters)`);
  if (!Number.isInteger(ep.mtu) || ep.mtu < 68 || ep.mtu > 65535) throw new TypeError(`invalid MTU ${ep.mtu}`);
  const mac = macBuffer(ep.mac);
  const h = s.handle(netns, what);
  const undo: Array<() => Promise<void>> = [];
  try {
    const br = await getLinkByName(h.sock, BRIDGE_NAME);
    if (!br) throw new DataPlaneFailed(what, netns, `${BRIDGE_NAME} is missing (ensureNetwork first)`);
    const brIndex = br.data.index ?? 0;
    let host = await getLinkByName(h.sock, ep.hostIfname);
    let out = await getLinkByName(s.agent, ep.handoffIfname);
    // IFLA_LINK of each end is the other's index in the other's namespace
    const paired = (a: LinkMessage | undefined, b: LinkMessage | undefined) =>
      a !== undefined && b !== undefined && linkKind(a) === 'veth' && linkKind(b) === 'veth' && peerIndex(a) === b.data.index && peerIndex(b) === a.data.index;
    if (host && !paired(host, out)) {
      throw new DataPlaneConflict(what, netns, `${ep.hostIfname} already exists and its peer is not ${ep.handoffIfname} in the agent namespace (handed over already, or not made by vxnet)`);
    }
    if (!host && out) {
      throw new DataPlaneConflict(what, netns, `the agent namespace already has an interface ${ep.handoffIfname} (not made by vxnet: left alone)`);
    }
    if (!host) {
      const fd = openNetns(netns);
      try {
        // created from the agent namespace, the host end born directly in the network's
        await s.agent.newLink(
          {},
          { ifname: ep.handoffIfname, mtu: ep.mtu, address: mac, linkinfo: linkInfo('veth', vethPeerData({ ifname: ep.hostIfname, netNsFd: fd, mtu: ep.mtu })) },
          { flags: CREATE_EXCL, ...T },
        );
      } finally {
        closeSync(fd);
      }
      undo.push(() => ignoreMissing(s.agent.delLink({}, { ifname: ep.handoffIfname }, T)));
      host = await getLinkByName(h.sock, ep.hostIfname);
      out = await getLinkByName(s.agent, ep.handoffIfname);
      if (!host || !out) throw new Error(`veth ${ep.hostIfname}/${ep.handoffIfname} vanished after creation`);
    }
    await setLinkUp(h.sock, host.data.index ?? 0, { mtu: ep.mtu, master: brIndex });
    // left down: the runtime brings it up inside the sandbox
    await s.agent.setLink({ index: out?.data.index ?? 0 }, { mtu: ep.mtu, address: mac }, T);
  } catch (err) {
    for (const step of undo.reverse()) {
      try {
        await step();
      } catch (undoErr) {
        log?.error({ netns, endpoint: ep.hostIfname, err: undoErr }, 'rollback step failed');
      }
    }
    if (err instanceof DataPlaneFailed || err instanceof DataPlaneConflict) throw err;
    throw new DataPlaneFailed(what, netns, errorText(err), err);
  }
}

/** See DataPlane.deleteEndpoint. */
export async function deleteEndpoint(s: NetnsSockets, netns: string, hostIfname: string): Promise<void> {
  const what = `detach ${hostIfname}`;
  if (!s.exists(netns)) return;
  const h = s.handle(netns, what);
  try {
    const link = await getLinkByName(h.sock, hostIfname);
    if (!link) return;
    if (linkKind(link) !== 'veth') throw new DataPlaneConflict(what, netns, `${hostIfname} is a ${linkKind(link) ?? 'device'}, not an endpoint veth`);
    await ignoreMissing(h.sock.delLink({ index: link.data.index }, {}, T));
  } catch (err) {
    if (err instanceof DataPlaneConflict) throw err;
    throw new DataPlaneFailed(what, netns, errorText(err), err);
  }
}

/** See DataPlane.listEndpoints. */
export async function listEndpoints(s: NetnsSockets, netns: string): Promise<string[]> {
  const what = 'list endpoints';
  const h = s.handle(netns, what);
  try {
    const links = await h.sock.getLinks({}, {}, T);
    const br = links.find((l) => l.attrs.ifname === BRIDGE_NAME);
    if (!br) return [];
    return links
      .filter((l) => l.attrs.master === br.data.index && linkKind(l) === 'veth')
      .map((l) => l.attrs.ifname ?? '')
      .sort();
  } catch (err) {
    throw new DataPlaneFailed(what, netns, errorText(err), err);
  }
}

/** See DataPlane.sandboxInterface. */
export async function sandboxInterface(path: string, ifname: string): Promise<SandboxInterface | undefined> {
  const sock = openRtnl(path);
  try {
    const link = await getLinkByName(sock, ifname);
    if (!link) return undefined;
    const index = link.data.index ?? 0;
    const addresses = (await sock.getAddresses({ family: AF_INET }, {}, T))
      .filter((a) => a.data.index === index)
      .map((a) => `${ipv4Text(a.attrs.local ?? a.attrs.address) ?? '?'}/${a.data.prefixlen ?? 0}`);
    const routes = (await sock.getRoutes({ family: AF_INET }, {}, T))
      .filter((r) => r.attrs.oif === index && (r.attrs.table ?? r.data.table) === RT_TABLE_MAIN)
      .map((r) => {
        const gw = ipv4Text(r.attrs.gateway);
        return { dst: `${ipv4Text(r.attrs.dst) ?? '0.0.0.0'}/${r.data.dstLen ?? 0}`, ...(gw !== undefined ? { gw } : {}) };
      });
    return { mac: macText(link.attrs.address) ?? '', mtu: link.attrs.mtu ?? 0, up: link.data.flags?.up === true, addresses, routes };
  } finally {
    closeRtnl(sock);
  }
}
