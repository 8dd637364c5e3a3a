/**
 * DataPlane over rtnetlink (npm `netlink`), with no `ip`/`bridge` processes. One
 * file per concern: sockets.ts (a cached socket per namespace), devices.ts
 * (namespace, vxlan0, br0), peers.ts (route/neighbour/FDB triples, batched),
 * endpoints.ts (veth pairs), uplinks.ts (the way out). This class only binds them to one socket cache.
 */
import type { Logger } from '@vxnet/common';
import { isNetnsFile } from '@vxnet/netns';

import type { DataPlane, EndpointSpec, HandoffEndpointSpec, HostAddress, NetworkPlaneSpec, Peer, SandboxInterface, UplinkSpec, VtepSpec } from './data-plane.js';
import { deleteNetwork, ensureNetwork, ensureVtep } from './devices.js';
import { deleteEndpoint, ensureEndpoint, ensureHandoffEndpoint, listEndpoints, sandboxInterface } from './endpoints.js';
import { deletePeers, ensurePeers, listPeers } from './peers.js';
import { NetnsSockets } from './sockets.js';
import { deleteUplink, ensureUplink, listHostAddresses, listUplinks } from './uplinks.js';

export interface NetlinkDataPlaneOptions {
  /**
   * The namespace the agent runs in (a name under /run/netns or a path), where
   * VXLAN sockets live and underlayDevice is looked up. Default: the calling
   * thread's namespace at construction. Tests pass a simulated host's namespace.
   */
  agentNetns?: string;
  /** Logger for repairs (drift fixed, devices recreated). */
  log?: Logger;
}

export class NetlinkDataPlane implements DataPlane {
  private readonly sockets: NetnsSockets;
  private readonly log: Logger | undefined;

  constructor(opts: NetlinkDataPlaneOptions = {}) {
    this.sockets = new NetnsSockets(opts.agentNetns);
    this.log = opts.log;
  }

  ensureVtep(spec: VtepSpec): Promise<{ vtepMac: string }> {
    return ensureVtep(this.sockets, this.log, spec);
  }

  ensureNetwork(spec: NetworkPlaneSpec): Promise<{ vtepMac: string }> {
    return ensureNetwork(this.sockets, this.log, spec);
  }

  deleteNetwork(netns: string): Promise<void> {
    return deleteNetwork(this.sockets, netns);
  }

  ensurePeers(netns: string, peers: Peer[]): Promise<void> {
    return ensurePeers(this.sockets, netns, peers);
  }

  deletePeers(netns: string, peers: Peer[]): Promise<void> {
    return deletePeers(this.sockets, netns, peers);
  }

  listPeers(netns: string): Promise<Peer[]> {
    return listPeers(this.sockets, netns);
  }

  ensureEndpoint(netns: string, ep: EndpointSpec): Promise<void> {
    return ensureEndpoint(this.sockets, this.log, netns, ep);
  }

  ensureHandoffEndpoint(netns: string, ep: HandoffEndpointSpec): Promise<void> {
    return ensureHandoffEndpoint(this.sockets, this.log, netns, ep);
  }

  deleteEndpoint(netns: string, hostIfname: string): Promise<void> {
    return deleteEndpoint(this.sockets, netns, hostIfname);
  }

  listEndpoints(netns: string): Promise<string[]> {
    return listEndpoints(this.sockets, netns);
  }

  ensureUplink(spec: UplinkSpec): Promise<void> {
    return ensureUplink(this.sockets, this.log, spec);
  }

  deleteUplink(hostIfname: string): Promise<void> {
    return deleteUplink(this.sockets, hostIfname);
  }

  listUplinks(): Promise<string[]> {
    return listUplinks(this.sockets);
  }

  listHostAddresses(): Promise<HostAddress[]> {
    return listHostAddresses(this.sockets);
  }

  sandboxInterface(path: string, ifname: string): Promise<SandboxInterface | undefined> {
    return sandboxInterface(path, ifname);
  }

  sandboxExists(path: string): boolean {
    return isNetnsFile(path);
  }

  close(): void {
    this.sockets.close();
  }
}
