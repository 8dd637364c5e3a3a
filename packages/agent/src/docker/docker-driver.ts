/**
 * vxnet as Docker's network driver and IPAM driver (issue 11): the policy of every
 * method, with no HTTP (plugin-server.ts) and no kernel or store of its own: it
 * works through the agent, like the engine does, so Docker's containers get the
 * same leases, addresses, veths, store records and DNS names as vxnet's own.
 *
 * Binding. The driver's scope is "local" (each dockerd keeps its own copy of a
 * network; trap notes: "global" needs a cluster store 20.10 no longer really has),
 * its connectivity "global": the copies on every host are one vxnet network. A
 * Docker network binds to the vxnet network whose CIDR is its `--subnet` (CIDRs are
 * unique in vxnet), or that `--ipam-opt vxnet.network=NAME` names; `-o
 * vxnet.network=NAME` is checked against it. The pool answered is the vxnet network's
 * CIDR; this host's gateway and addresses come from its own subnet lease, so no two
 * hosts ever hand out the same address (trap D4: Docker's default IPAM would).
 *
 * Addresses. RequestAddress reserves in the agent (reserved.json) an address of this
 * host's lease, `ip/<lease prefix>`: the container sees only its host's subnet as
 * on-link and reaches the rest of the network through the gateway (a StaticRoute
 * for the network's CIDR, plus the default route through vxnet's own uplink: no
 * docker_gwbridge). The gateway is the lease's, reported in RequestPool's Data so
 * dockerd asks for none; ReleaseAddress of it is a no-op (trap D5).
 *
 * Endpoints. CreateEndpoint only records (address, MAC: returned only when dockerd
 * gave none, trap D2). Join makes the agent endpoint (owner "docker", id = Docker's
 * EndpointID): a veth whose host end is on the network's bridge and whose other end
 * is left in the agent's (= dockerd's) namespace as `vxd<12 hex>` for dockerd to
 * move into the sandbox, which does not exist yet (trap D3). Leave removes it.
 *
 * Answers never wait on the store for long (plugin-server.ts bounds every call to
 * 10 s, trap D7). Leave and DeleteEndpoint succeed once the Docker record says so,
 * after waiting removeWaitMs at most for the agent: dockerd can do nothing with an
 * error there. An agent endpoint that could not be removed then (store down), or
 * that a Join finished after dockerd gave up, is removed by the sweep (at start and
 * every sweepMs), which deletes every endpoint owned by "docker" that no joined
 * record explains. Deletes and releases of unknown ids succeed (trap D6).
 */
import { addressAt, parseCidr, parseIpv4, type Logger, type NetworkSpec } from '@vxnet/common';
import type { LocalEndpoint } from '@vxnet/common/api';

import type { Agent } from '../agent.js';
import { DockerBadRequest, DockerRefused, EndpointNotFound } from '../errors.js';
import { macForIp } from '../ipam/ipam.js';
import { DockerState } from './docker-state.js';
import {
  DOCKER_OWNER, GLOBAL_ADDRESS_SPACE, LOCAL_ADDRESS_SPACE, OPT,
  type CreateEndpointResponse, type JoinResponse, type RequestAddressResponse, type RequestPoolResponse,
} from './protocol.js';

/** What the driver needs of the agent (the Agent itself; tests may pass it over fakes). */
export type DockerAgent = Pick<Agent,
  'networks' | 'ensureJoined' | 'leaseOf' | 'reserveAddress' | 'releaseAddress' | 'createEndpoint' | 'deleteEndpoint' | 'endpoints' | 'setEndpointNames'>;

export interface DockerDriverOptions {
  agent: DockerAgent;
  /** docker.json in the agent's state dir. */
  stateFile: string;
  host: string;
  log: Logger;
  /** Period of the sweep of leftover Docker endpoints, ms (default 10,000; 0: only at start and when called). */
  sweepMs?: number;
  /**
   * How long Leave and DeleteEndpoint wait for the agent to remove the endpoint
   * before they answer success anyway, ms (default 5,000: within the server's 10 s
   * bound). The removal goes on, in order with the agent's other work; the sweep
   * retries one that fails.
   */
  removeWaitMs?: number;
}

/** A request body as dockerd sent it: an object, or null/absent for the empty ones. */
export type Body = Record<string, unknown>;

/** Names dockerd's events give an endpoint's container. */
export interface ContainerNames {
  name: string;
  aliases: string[];
  container: string;
}

const POOL_PREFIX = 'vxnet';
const HEX64 = /^[0-9a-f]{64}$/;

/** `vxnet/<network id>/<cidr>`: the pool id says which network, so IPAM calls need no state. */
export function poolIdOf(net: NetworkSpec): string {
  return `${POOL_PREFIX}/${net.id}/${net.subnet}`;
}

/** The network id and CIDR in a pool id vxnet made, or undefined. */
export function parsePoolId(poolId: string): { networkId: string; cidr: string } | undefined {
  const [prefix, networkId, ...rest] = poolId.split('/');
  if (prefix !== POOL_PREFIX || networkId === undefined || !HEX64.test(networkId) || rest.length !== 2) return undefined;
  return { networkId, cidr: rest.join('/') };
}

/** The name of the veth end handed to dockerd: `vxd` + 12 hex of the endpoint id (15 characters, the kernel's limit). */
export function handoffName(endpointId: string): string {
  return `vxd${endpointId.slice(0, 12)}`;
}

export class DockerDriver {
  readonly state: DockerState;
  /** Endpoints with a Join or Leave under way: the sweep leaves them alone. */
  private readonly busy = new Set<string>();
  /** Docker endpoints the agent had when docker.json was missing: no record explains them, yet they are not leftovers to sweep. */
  private readonly unexplained = new Set<string>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;

  constructor(private readonly o: DockerDriverOptions) {
    this.state = new DockerState(o.stateFile);
  }

  /** Read docker.json: before the agent starts, so that an unreadable one (VXNET_STATE_UNREADABLE) stops it before it changes anything. */
  load(): void {
    this.state.load();
  }

  /**
   * Sweep once, then every sweepMs. The agent must be started, and load() done.
   * Without docker.json (a state dir reset, say) the Docker endpoints the agent has
   * are left alone, never swept (their containers may be running): dockerd's Leave
   * still removes them.
   */
  async start(): Promise<void> {
    if (!this.state.existed) {
      for (const e of this.o.agent.endpoints()) if (e.owner === DOCKER_OWNER) this.unexplained.add(e.id);
      if (this.unexplained.size > 0) {
        this.o.log.warn({ file: this.o.stateFile, endpoints: this.unexplained.size }, 'no Docker state, yet Docker endpoints: they are kept (never swept) until dockerd removes them');
      }
    }
    await this.sweep();
    const every = this.o.sweepMs ?? 10_000;
    if (every > 0) {
      this.sweepTimer = setInterval(() => void this.sweep(), every);
      this.sweepTimer.unref();
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.sweepTimer);
    await this.sweeping;
  }

  // ---- Plugin, capabilities --------------------------------------------------

  activate(): { Implements: string[] } {
    return { Implements: ['NetworkDriver', 'IpamDriver'] };
  }

  networkCapabilities(): { Scope: 'local'; ConnectivityScope: 'global' } {
    return { Scope: 'local', ConnectivityScope: 'global' };
  }

  ipamCapabilities(): { RequiresMACAddress: boolean; RequiresRequestReplay: boolean } {
    return { RequiresMACAddress: false, RequiresRequestReplay: false };
  }

  defaultAddressSpaces(): { LocalDefaultAddressSpace: string; GlobalDefaultAddressSpace: string } {
    return { LocalDefaultAddressSpace: LOCAL_ADDRESS_SPACE, GlobalDefaultAddressSpace: GLOBAL_ADDRESS_SPACE };
  }

  // ---- IpamDriver ------------------------------------------------------------

  /**
   * Bind to a vxnet network (by `Pool` = its CIDR, or Options[vxnet.network]), join
   * it on this host, and answer its CIDR with this host's gateway.
   */
  async requestPool(body: Body): Promise<RequestPoolResponse> {
    const r = reader('RequestPool', body);
    const pool = r.str('Pool', false);
    const subPool = r.str('SubPool', false);
    const named = r.strMap('Options')[OPT.network];
    const what = pool ? `give Docker the pool ${pool}` : `give Docker a pool${named ? ` for vxnet network "${named}"` : ''}`;
    if (r.bool('V6')) throw new DockerRefused(what, 'vxnet networks are IPv4 only: create the Docker network without --ipv6');
    const net = this.bind(what, pool, named);
    if (subPool && subPool !== net.subnet) {
      throw new DockerRefused(what, `--ip-range is not supported: each host gives addresses from its own subnet of ${net.subnet}; leave --ip-range out`);
    }
    const poolId = poolIdOf(net);
    // trap D5: dockerd asks again for a pool it chose itself while holding the first
    // (its route check sees this host's routes into the network): never the same one twice
    if (!pool && this.state.holds(poolId) > 0) {
      throw new DockerRefused(what, `vxnet network "${net.name}" is already bound to a Docker network on this host; give its subnet with --subnet ${net.subnet}`);
    }
    const { lease } = await this.o.agent.ensureJoined(net.id);
    this.state.holdPool(poolId);
    const gateway = gatewayOf(lease.subnet);
    this.o.log.info({ network: { id: net.id, name: net.name }, poolId, gateway }, 'Docker pool bound to a vxnet network');
    return { PoolID: poolId, Pool: net.subnet, Data: { [OPT.gateway]: gateway } };
  }

  /** One hold of the pool less. Unknown pools: success. The host keeps its lease (as after `vxnet run --rm`). */
  releasePool(body: Body): Record<string, never> {
    const poolId = reader('ReleasePool', body).str('PoolID', false);
    this.state.releasePool(poolId);
    return {};
  }

  /**
   * The gateway (this host's, fixed), or a container's address from this host's
   * lease: the requested one if it is inside the lease and free, else the next free.
   */
  async requestAddress(body: Body): Promise<RequestAddressResponse> {
    const r = reader('RequestAddress', body);
    const poolId = r.str('PoolID');
    const wanted = stripPrefix(r.str('Address', false));
    const gatewayRequest = r.strMap('Options')[OPT.requestAddressType] === OPT.gateway;
    const what = wanted ? `give Docker the address ${wanted}` : 'give Docker an address';
    const net = this.poolNetwork(what, poolId);
    if (wanted && parseIpv4(wanted) === undefined) throw new DockerRefused(what, `"${wanted}" is not an IPv4 address`);
    if (gatewayRequest) {
      const { lease } = await this.o.agent.ensureJoined(net.id);
      const gateway = gatewayIp(lease.subnet);
      if (wanted && wanted !== gateway) {
        throw new DockerRefused(what, `the gateway of vxnet network "${net.name}" on host ${this.o.host} is ${gateway} (each host has its own, in its subnet ${lease.subnet}); leave --gateway out`);
      }
      return { Address: gatewayOf(lease.subnet), Data: {} };
    }
    const got = await this.o.agent.reserveAddress(net.id, wanted || undefined, DOCKER_OWNER);
    return { Address: `${got.ip}/${got.prefixLength}`, Data: {} };
  }

  /** Give back an address. The gateway (never reserved), unknown pools and addresses: success. */
  async releaseAddress(body: Body): Promise<Record<string, never>> {
    const r = reader('ReleaseAddress', body);
    const pool = parsePoolId(r.str('PoolID', false));
    const ip = stripPrefix(r.str('Address', false));
    if (pool && ip) await this.o.agent.releaseAddress(pool.networkId, ip);
    return {};
  }

  // ---- NetworkDriver: networks -----------------------------------------------

  /**
   * Remember which vxnet network a Docker network is bound to. Refuses IPv4Data
   * that vxnet's IPAM did not give (trap D4), IPv6, an MTU above the network's, and
   * `-o vxnet.network` naming another network than the pool's.
   */
  async createNetwork(body: Body): Promise<Record<string, never>> {
    const r = reader('CreateNetwork', body);
    const id = r.str('NetworkID');
    const what = `create Docker network ${id.slice(0, 12)} on vxnet`;
    if (r.list('IPv6Data').length > 0) throw new DockerRefused(what, 'vxnet networks are IPv4 only: create the Docker network without --ipv6');
    const v4 = r.list('IPv4Data');
    const data = v4.length === 1 ? reader('CreateNetwork', v4[0] as Body) : undefined;
    const space = data?.str('AddressSpace', false);
    const ours = (s: string | undefined) => s === LOCAL_ADDRESS_SPACE || s === GLOBAL_ADDRESS_SPACE;
    if (!data || !ours(space)) {
      throw new DockerRefused(what, 'its addresses do not come from vxnet; add --ipam-driver vxnet (with --subnet CIDR of a vxnet network): '
        + "Docker's default IPAM would give containers on different hosts the same addresses");
    }
    const pool = data.str('Pool');
    const net = [...this.o.agent.networks.values()].find((n) => n.subnet === pool);
    if (!net) throw new DockerRefused(what, `no vxnet network has the subnet ${pool} (any more); ${this.networkList()}`);
    const { lease, mtu: netMtu } = await this.o.agent.ensureJoined(net.id);
    const gateway = gatewayOf(lease.subnet);
    if (data.str('Gateway', false) !== gateway) {
      throw new DockerRefused(what, `its gateway ${data.str('Gateway', false) || '(none)'} is not this host's on vxnet network "${net.name}" (${gateway}); leave --gateway out`);
    }
    const generic = r.obj('Options')[OPT.generic];
    const opts = typeof generic === 'object' && generic !== null ? (generic as Record<string, unknown>) : {};
    const named = opts[OPT.network];
    if (named !== undefined && named !== net.name && named !== net.id) {
      throw new DockerRefused(what, `-o ${OPT.network}=${String(named)} names another network than the pool's ("${net.name}", ${net.subnet})`);
    }
    let mtu = netMtu;
    if (opts[OPT.mtu] !== undefined) {
      mtu = Number(opts[OPT.mtu]);
      if (!Number.isInteger(mtu) || mtu < 1280 || mtu > netMtu) {
        throw new DockerRefused(what, `-o ${OPT.mtu}=${String(opts[OPT.mtu])}: must be 1280-${netMtu} (vxnet network "${net.name}" has MTU ${netMtu})`);
      }
    }
    this.state.setNetwork({ id, networkId: net.id, mtu, createdAt: new Date().toISOString() });
    this.o.log.info({ docker: { network: id }, network: { id: net.id, name: net.name }, mtu }, 'Docker network bound');
    return {};
  }

  /** Forget a Docker network. Unknown ids: success. */
  deleteNetwork(body: Body): Record<string, never> {
    const id = reader('DeleteNetwork', body).str('NetworkID', false);
    if (this.state.removeNetwork(id)) this.o.log.info({ docker: { network: id } }, 'Docker network forgotten');
    return {};
  }

  /** Only swarm asks; vxnet networks are local to each dockerd. */
  allocateNetwork(): never {
    throw new DockerRefused('allocate a swarm network', 'vxnet networks need no swarm: run `docker network create -d vxnet --ipam-driver vxnet --subnet CIDR NAME` on each host');
  }

  // ---- NetworkDriver: endpoints ----------------------------------------------

  /** Record the endpoint (address from vxnet's IPAM, inside this host's lease). No kernel work until Join. */
  createEndpoint(body: Body): CreateEndpointResponse {
    const r = reader('CreateEndpoint', body);
    const netId = r.str('NetworkID');
    const id = r.str('EndpointID');
    const what = `create Docker endpoint ${id.slice(0, 12)}`;
    if (!HEX64.test(id)) throw new DockerBadRequest('CreateEndpoint', `EndpointID "${id}" is not 64 hex digits`);
    const dnet = this.dockerNetwork(what, netId);
    const iface = r.obj('Interface');
    const ir = reader('CreateEndpoint', iface);
    if (ir.str('AddressIPv6', false)) throw new DockerRefused(what, 'vxnet networks are IPv4 only');
    const address = ir.str('Address', false);
    if (!address) throw new DockerRefused(what, 'it has no IPv4 address (the network must use --ipam-driver vxnet)');
    const [ip = '', len] = address.split('/');
    const lease = this.o.agent.leaseOf(dnet.networkId);
    const cidr = lease && parseCidr(lease.subnet);
    if (!cidr || parseIpv4(ip) === undefined || Number(len) !== cidr.prefixLength || !inside(ip, lease.subnet)) {
      throw new DockerRefused(what, `address ${address} is not in this host's subnet of the network (${lease?.subnet ?? 'none'})`);
    }
    const ports = r.obj('Options')[OPT.portMap];
    if (Array.isArray(ports) && ports.length > 0) {
      throw new DockerRefused(what, 'publishing ports (-p, -P) on a vxnet network is not supported yet; reach the container over the overlay, or publish it with vxnet (vxnet run -p)');
    }
    const given = ir.str('MacAddress', false);
    const mac = given || macForIp(ip);
    const known = this.state.endpoint(id);
    if (!(known && known.ip === ip && known.mac === mac)) {
      this.state.setEndpoint({ id, dockerNetworkId: netId, networkId: dnet.networkId, ip, prefixLength: cidr.prefixLength, mac, joined: false, createdAt: new Date().toISOString() });
    }
    // trap D2: never echo what dockerd gave
    return given ? {} : { Interface: { MacAddress: mac } };
  }

  /** Forget the endpoint, removing its agent endpoint if Leave did not. Unknown ids: success. */
  async deleteEndpoint(body: Body): Promise<Record<string, never>> {
    const id = reader('DeleteEndpoint', body).str('EndpointID', false);
    const ep = this.state.endpoint(id);
    if (!ep) return {};
    this.state.removeEndpoint(id);
    await this.removeAgentEndpoint(id, 'DeleteEndpoint');
    return {};
  }

  endpointOperInfo(body: Body): { Value: Record<string, string> } {
    const id = reader('EndpointOperInfo', body).str('EndpointID', false);
    const ep = this.state.endpoint(id);
    const net = ep && this.o.agent.networks.get(ep.networkId);
    if (!ep) return { Value: {} };
    return { Value: { 'vxnet.network': net?.name ?? ep.networkId, 'vxnet.ip': ep.ip, 'vxnet.host': this.o.host } };
  }

  /**
   * Make the agent endpoint: a veth with one end on the network's bridge and the
   * other left for dockerd as `vxd<12 hex>`; answer its name, this host's gateway
   * and the route to the network's CIDR. SandboxKey is never touched (trap D3).
   */
  async join(body: Body): Promise<JoinResponse> {
    const r = reader('Join', body);
    const id = r.str('EndpointID');
    const sandboxKey = r.str('SandboxKey', false);
    const what = `join Docker endpoint ${id.slice(0, 12)}`;
    const ep = this.state.endpoint(id);
    if (!ep) throw new DockerRefused(what, 'vxnet on this host has no such endpoint (it was not created through vxnet, or was deleted)');
    const dnet = this.state.network(ep.dockerNetworkId);
    const net = this.o.agent.networks.get(ep.networkId);
    if (!net) throw new DockerRefused(what, `its vxnet network ${ep.networkId.slice(0, 12)} was removed`);
    this.busy.add(id);
    try {
      let local = this.o.agent.endpoints().find((e) => e.id === id);
      if (!local) {
        this.state.setEndpoint({ ...ep, joined: true });
        try {
          local = await this.o.agent.createEndpoint({
            id, network: ep.networkId, sandbox: sandboxKey || `(docker sandbox of endpoint ${id.slice(0, 12)})`,
            name: ep.names?.name ?? '', aliases: ep.names?.aliases ?? [], container: ep.names?.container ?? id,
            ip: ep.ip, mac: ep.mac, owner: DOCKER_OWNER, handoff: handoffName(id), mtu: dnet?.mtu,
          });
        } catch (err) {
          const now = this.state.endpoint(id);
          if (now) this.state.setEndpoint({ ...now, joined: false });
          throw err;
        }
      }
      return joinAnswer(local, net);
    } finally {
      this.busy.delete(id);
    }
  }

  /** Remove the agent endpoint (veth, records). Unknown ids: success. */
  async leave(body: Body): Promise<Record<string, never>> {
    const id = reader('Leave', body).str('EndpointID', false);
    const ep = this.state.endpoint(id);
    if (ep?.joined) this.state.setEndpoint({ ...ep, joined: false });
    await this.removeAgentEndpoint(id, 'Leave');
    return {};
  }

  // ---- names (from dockerd's events) -------------------------------------------

  /** True for an endpoint this driver made: one dockerd's events should name. */
  knows(endpointId: string): boolean {
    return this.state.endpoint(endpointId) !== undefined;
  }

  /** Endpoints that are joined and have no names yet. */
  unnamed(): string[] {
    return this.state.endpoints().filter((e) => e.joined && !e.names).map((e) => e.id);
  }

  /**
   * Give an endpoint its container's DNS name, aliases and id: recorded here (a Join
   * still to come uses them) and, when joined, on the agent endpoint (the store
   * record every host's DNS serves). Names that are no DNS labels vxnet accepts are
   * dropped by the caller. Unknown endpoints: nothing.
   */
  async nameEndpoint(endpointId: string, names: ContainerNames): Promise<void> {
    const ep = this.state.endpoint(endpointId);
    if (!ep) return;
    if (ep.joined) {
      try {
        await this.o.agent.setEndpointNames(endpointId, names);
      } catch (err) {
        // not made yet: the Join takes the names. Otherwise not recorded, so still unnamed: tried again
        if (!(err instanceof EndpointNotFound)) throw err;
      }
    }
    const now = this.state.endpoint(endpointId);
    const same = now?.names && now.names.name === names.name && now.names.container === names.container && now.names.aliases.join() === names.aliases.join();
    if (now && !same) this.state.setEndpoint({ ...now, names });
  }

  // ---- leftovers ---------------------------------------------------------------

  /**
   * Delete every agent endpoint owned by "docker" that no joined record explains
   * and no Join or Leave is working on: what a Leave or DeleteEndpoint could not
   * finish (store down), a Join that finished after dockerd gave up on it. Failures
   * are logged; the next sweep tries again. One sweep at a time.
   */
  sweep(): Promise<void> {
    this.sweeping ??= this.sweepOnce().finally(() => {
      this.sweeping = undefined;
    });
    return this.sweeping;
  }

  private async sweepOnce(): Promise<void> {
    for (const e of this.o.agent.endpoints()) {
      if (e.owner !== DOCKER_OWNER || this.busy.has(e.id) || this.unexplained.has(e.id) || this.state.endpoint(e.id)?.joined) continue;
      this.o.log.info({ endpoint: { id: e.id, name: e.name, ip: e.ip } }, 'removing a Docker endpoint that dockerd left or deleted');
      await this.removeAgentEndpoint(e.id, 'sweep');
    }
  }

  // ---- helpers -----------------------------------------------------------------

  /**
   * Delete the agent endpoint `id` if it exists, waiting removeWaitMs at most (the
   * sweep's own calls wait until done); a failure is logged, and left to the sweep.
   */
  private async removeAgentEndpoint(id: string, why: string): Promise<void> {
    if (!this.o.agent.endpoints().some((e) => e.id === id)) return;
    this.busy.add(id);
    const done = this.o.agent.deleteEndpoint(id).then(
      () => undefined,
      (err: unknown) => {
        if (!(err instanceof EndpointNotFound)) this.o.log.warn({ err, endpoint: { id }, during: why }, 'could not remove a Docker endpoint yet; the sweep retries');
      },
    ).finally(() => this.busy.delete(id));
    if (why === 'sweep') return done;
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), this.o.removeWaitMs ?? 5000);
    });
    if ((await Promise.race([done, waited])) === 'late') {
      this.o.log.warn({ endpoint: { id }, during: why }, 'removing a Docker endpoint takes long (store unreachable?); answered dockerd, the removal goes on');
    }
    clearTimeout(timer);
  }

  /** The vxnet network a pool request names, or a refusal listing the networks there are. */
  private bind(what: string, pool: string, named: string | undefined): NetworkSpec {
    const nets = [...this.o.agent.networks.values()];
    if (named) {
      const net = nets.find((n) => n.name === named || n.id === named);
      if (!net) throw new DockerRefused(what, `there is no vxnet network "${named}"; ${this.networkList()}`);
      if (pool && canonical(pool) !== net.subnet) throw new DockerRefused(what, `vxnet network "${net.name}" has the subnet ${net.subnet}, not ${pool}`);
      return net;
    }
    if (!pool) {
      throw new DockerRefused(what, `say which vxnet network: --subnet CIDR (or --ipam-opt ${OPT.network}=NAME); ${this.networkList()}`);
    }
    const c = canonical(pool);
    if (c === undefined) throw new DockerRefused(what, `"${pool}" is not an IPv4 CIDR`);
    const net = nets.find((n) => n.subnet === c);
    if (!net) throw new DockerRefused(what, `no vxnet network has the subnet ${pool}; ${this.networkList()}`);
    return net;
  }

  /** `vxnet networks: net1 10.20.0.0/16, …`, or how to make one. */
  private networkList(): string {
    const nets = [...this.o.agent.networks.values()].sort((a, b) => a.name.localeCompare(b.name));
    if (nets.length === 0) return 'there are no vxnet networks: create one with `vxnet net create NAME --subnet CIDR`';
    return `vxnet networks: ${nets.map((n) => `${n.name} ${n.subnet}`).join(', ')}`;
  }

  private poolNetwork(what: string, poolId: string): NetworkSpec {
    const p = parsePoolId(poolId);
    if (!p) throw new DockerRefused(what, `pool ${poolId} was not given by vxnet`);
    const net = this.o.agent.networks.get(p.networkId);
    if (!net || net.subnet !== p.cidr) throw new DockerRefused(what, `the vxnet network of pool ${poolId} was removed`);
    return net;
  }

  private dockerNetwork(what: string, id: string) {
    const dnet = this.state.network(id);
    if (!dnet) throw new DockerRefused(what, `Docker network ${id.slice(0, 12)} is not bound to vxnet on this host (created with another driver, or vxnet's state dir was reset: remove and create it again)`);
    return dnet;
  }
}

function joinAnswer(local: LocalEndpoint, net: NetworkSpec): JoinResponse {
  return {
    InterfaceName: { SrcName: local.handoff ?? handoffName(local.id), DstPrefix: 'eth' },
    // the default route through vxnet's gateway (its uplink is the way out): no docker_gwbridge
    Gateway: local.gateway,
    // for a container whose default route is another network's: the rest of this one
    StaticRoutes: [{ Destination: net.subnet, RouteType: 0, NextHop: local.gateway }],
    DisableGatewayService: false,
  };
}

/** The gateway of a host subnet: `10.20.3.0/24` -> `10.20.3.1`. */
function gatewayIp(subnet: string): string {
  return addressAt(parseCidr(subnet), 1);
}

/** The gateway with the subnet's length, as Docker's IPAM data carries it: `10.20.3.1/24`. */
function gatewayOf(subnet: string): string {
  return `${gatewayIp(subnet)}/${parseCidr(subnet).prefixLength}`;
}

function inside(ip: string, subnet: string): boolean {
  const n = parseIpv4(ip);
  const c = parseCidr(subnet);
  return n !== undefined && n >= c.network && n < c.network + 2 ** (32 - c.prefixLength);
}

function canonical(cidr: string): string | undefined {
  try {
    return parseCidr(cidr).text;
  } catch {
    return undefined;
  }
}

/** `10.20.3.7/24` -> `10.20.3.7`; "" stays "". */
function stripPrefix(address: string): string {
  return address.split('/')[0] ?? '';
}

/** Typed access to a request body, refusing wrong types with VXNET_DOCKER_BAD_REQUEST. */
function reader(method: string, body: unknown) {
  const o = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
  const bad = (key: string, want: string) => new DockerBadRequest(method, `${key} must be ${want}`);
  return {
    /** A string field; absent is "" unless `required`. */
    str(key: string, required = true): string {
      const v = o[key];
      if (v === undefined || v === null || v === '') {
        if (required) throw new DockerBadRequest(method, `${key} is missing`);
        return '';
      }
      if (typeof v !== 'string') throw bad(key, 'a string');
      return v;
    },
    bool(key: string): boolean {
      const v = o[key];
      if (v === undefined || v === null) return false;
      if (typeof v !== 'boolean') throw bad(key, 'true or false');
      return v;
    },
    obj(key: string): Record<string, unknown> {
      const v = o[key];
      if (v === undefined || v === null) return {};
      if (typeof v !== 'object' || Array.isArray(v)) throw bad(key, 'an object');
      return v as Record<string, unknown>;
    },
    strMap(key: string): Record<string, string> {
      const m = this.obj(key);
      for (const [k, v] of Object.entries(m)) if (typeof v !== 'string') throw bad(`${key}.${k}`, 'a string');
      return m as Record<string, string>;
    },
    list(key: string): unknown[] {
      const v = o[key];
      if (v === undefined || v === null) return [];
      if (!Array.isArray(v)) throw bad(key, 'a list');
      return v;
    },
  };
}

