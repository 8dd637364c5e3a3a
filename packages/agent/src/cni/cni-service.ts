/**
 * CNI in the agent: the work behind each call of the `vxnet` CNI executable
 * (@vxnet/cni), done with the same endpoint code as the engine's and the Docker
 * plugin's, so a CNI container is an ordinary vxnet endpoint: an address from this
 * host's lease, a name every host's DNS serves, isolation by network. The agent's
 * one work queue orders everything, so parallel ADDs on one host are safe.
 *
 *   ADD     attach (network, CNI_CONTAINERID, CNI_IFNAME) in CNI_NETNS; the name is
 *           K8S_POD_NAME, else the first `aliases` entry, else the short container
 *           id; a second ADD for the same container and interface fails
 *   DEL     idempotent; frees the address even when the namespace is gone and there
 *           is no prevResult (trap C2)
 *   CHECK   compares prevResult and the kernel (address, MAC, routes, host end)
 *   STATUS  0 when the network exists for this agent, else 50
 *   GC      removes every CNI endpoint of the network on this host that is not in
 *           `cni.dev/valid-attachments` (never the engine's or Docker's)
 *
 * Endpoints made here have owner "cni"; their sandboxes are also checked every few
 * seconds (Agent.checkSandboxes), for runtimes that lose a container without DEL.
 */
import { VXNET_DNS_ADDRESS, isUserError, parseIpv4, type Logger } from '@vxnet/common';
import { nameProblem, type LocalEndpoint } from '@vxnet/common/api';
import {
  CNI_OWNER, CniCode, CniError, formatResult, readPrevResult, type CniAnswer, type CniCall, type CniResult,
} from '@vxnet/cni';
import type { Agent } from '../agent.js';

export interface CniServiceOptions {
  agent: Agent;
  host: string;
  log: Logger;
}

export class CniService {
  constructor(private readonly o: CniServiceOptions) {}

  /** One call: the answer to send back (never throws). */
  async handle(call: CniCall): Promise<{ status: number; answer: CniAnswer }> {
    const version = call.config.cniVersion;
    const started = Date.now();
    try {
      const result = await this.dispatch(call);
      this.o.log.info({ cni: summary(call), ms: Date.now() - started }, 'CNI call done');
      return { status: 200, answer: result ? { result: formatResult(result, version) } : {} };
    } catch (err) {
      const e = this.toCniError(err, call);
      const level = e.code === CniCode.Failed ? 'error' : 'info';
      this.o.log[level]({ cni: summary(call), code: e.code, msg: e.msg, ...(e.code === CniCode.Failed ? { err } : {}) }, 'CNI call refused');
      return { status: e.code === CniCode.TryAgainLater || e.code === CniCode.NotAvailable ? 503 : e.code === CniCode.Failed ? 500 : 400, answer: { error: e.body(version) } };
    }
  }

  private dispatch(call: CniCall): Promise<CniResult | undefined> {
    switch (call.command) {
      case 'ADD':
        return this.add(call);
      case 'DEL':
        return this.del(call).then(() => undefined);
      case 'CHECK':
        return this.check(call).then(() => undefined);
      case 'STATUS':
        return this.status(call).then(() => undefined);
      case 'GC':
        return this.gc(call).then(() => undefined);
      default:
        throw new CniError(CniCode.InvalidEnvironment, `CNI_COMMAND ${call.command} is answered by the executable, not the agent`);
    }
  }

  /** The CNI endpoints of this host for (container, ifname), on any network. */
  private attachments(containerId: string, ifname: string): LocalEndpoint[] {
    return this.o.agent.endpoints().filter((e) => e.owner === CNI_OWNER && e.container === containerId && e.ifname === ifname);
  }

  /** Whether endpoint `ep` belongs to the call's network (by id when the network still exists, else by name). */
  private onNetwork(ep: LocalEndpoint, call: CniCall): boolean {
    const net = this.o.agent.networks.get(ep.networkId);
    const ref = call.config.network;
    return ep.networkName === ref || ep.networkId === ref || (net !== undefined && (net.name === ref || net.id.startsWith(ref)));
  }

  private async add(call: CniCall): Promise<CniResult> {
    const containerId = call.containerId as string; // parseCall checked ADD's variables
    const ifname = call.ifname as string;
    const netns = call.netns as string;
    const net = this.network(call);
    const existing = this.attachments(containerId, ifname)[0];
    if (existing) {
      throw new CniError(CniCode.InterfaceExists, `container ${containerId.slice(0, 12)} already has interface ${ifname} (address ${existing.ip} on network "${existing.networkName}"); DEL it first`);
    }
    if (!this.o.agent.sandboxExists(netns)) throw new CniError(CniCode.InvalidEnvironment, `CNI_NETNS ${netns} is not a network namespace`);
    const { name, aliases } = this.names(call);
    const ip = this.requestedIp(call);
    const ep = await this.o.agent.createEndpoint({
      network: net.id, sandbox: netns, name, aliases, container: containerId, ifname, owner: CNI_OWNER, ...(ip !== undefined ? { ip } : {}),
    });
    return resultOf(ep, net.subnet);
  }

  private async del(call: CniCall): Promise<void> {
    const eps = this.attachments(call.containerId as string, call.ifname as string).filter((e) => this.onNetwork(e, call));
    for (const ep of eps) {
      try {
        await this.o.agent.deleteEndpoint(ep.id);
      } catch (err) {
        if (!(isUserError(err) && err.code === 'VXNET_ENDPOINT_NOT_FOUND')) throw err; // a parallel DEL or GC won
      }
    }
  }

  private async check(call: CniCall): Promise<void> {
    if (call.config.prevResult === undefined) throw new CniError(CniCode.InvalidConfig, 'CHECK needs prevResult (the result of ADD)');
    const containerId = call.containerId as string;
    const ifname = call.ifname as string;
    const ep = this.attachments(containerId, ifname).find((e) => this.onNetwork(e, call));
    if (!ep) throw new CniError(CniCode.UnknownContainer, `no vxnet endpoint for container ${containerId.slice(0, 12)} interface ${ifname} on network "${call.config.network}" on host ${this.o.host}`);
    const fail = (what: string) => new CniError(CniCode.CheckFailed, `CHECK of container ${containerId.slice(0, 12)} ${ifname}: ${what}`);
    if (ep.sandbox !== call.netns) throw fail(`the endpoint is in ${ep.sandbox}, not ${call.netns}`);
    const prev = readPrevResult(call.config.prevResult);
    const address = `${ep.ip}/${ep.prefixLength}`;
    if (!prev.ips.some((i) => i.address === address)) throw fail(`prevResult does not have ${address}, the endpoint's address`);
    const prevIf = prev.interfaces.find((i) => i.sandbox !== undefined && i.name === ifname);
    if (prevIf?.mac !== undefined && prevIf.mac.toLowerCase() !== ep.mac.toLowerCase()) throw fail(`prevResult says MAC ${prevIf.mac}, the endpoint has ${ep.mac}`);
    const { sandbox, hostEnd } = await this.o.agent.inspectEndpoint(ep);
    if (!sandbox) throw fail(`${ifname} is missing from ${ep.sandbox}`);
    if (!sandbox.up) throw fail(`${ifname} is down`);
    if (sandbox.mac.toLowerCase() !== ep.mac.toLowerCase()) throw fail(`${ifname} has MAC ${sandbox.mac}, expected ${ep.mac}`);
    if (!sandbox.addresses.includes(address)) throw fail(`${ifname} does not have ${address} (it has ${sandbox.addresses.join(', ') || 'no IPv4 address'})`);
    for (const r of routesOf(ep, this.o.agent.networks.get(ep.networkId)?.subnet)) {
      if (!sandbox.routes.some((k) => k.dst === r.dst && k.gw === r.gw)) throw fail(`route ${r.dst} via ${r.gw} is missing`);
    }
    if (!hostEnd) throw fail(`the host end ${ep.hostIfname} is missing from the network's bridge`);
  }

  private async status(call: CniCall): Promise<void> {
    if (!this.o.agent.networks.size && !this.o.agent.alive.has(this.o.host)) {
      throw new CniError(CniCode.NotAvailable, `the vxnet agent on host ${this.o.host} has not loaded the cluster from the store yet`);
    }
    try {
      this.o.agent.resolveNetwork(call.config.network);
    } catch {
      throw new CniError(CniCode.NotAvailable, `network "${call.config.network}" does not exist in vxnet (create it with: vxnet net create ${call.config.network})`);
    }
  }

  private async gc(call: CniCall): Promise<void> {
    const valid = new Set((call.config['cni.dev/valid-attachments'] ?? []).map((a) => `${a.containerID}\n${a.ifname}`));
    const stale = this.o.agent.endpoints().filter((e) => e.owner === CNI_OWNER && this.onNetwork(e, call) && !valid.has(`${e.container}\n${e.ifname}`));
    for (const ep of stale) {
      try {
        await this.o.agent.deleteEndpoint(ep.id);
        this.o.log.info({ endpoint: { id: ep.id, name: ep.name, container: ep.container, ifname: ep.ifname, ip: ep.ip } }, 'CNI GC removed an endpoint not in the valid attachments');
      } catch (err) {
        if (!(isUserError(err) && err.code === 'VXNET_ENDPOINT_NOT_FOUND')) throw err;
      }
    }
  }

  private network(call: CniCall) {
    try {
      return this.o.agent.resolveNetwork(call.config.network);
    } catch {
      throw new CniError(CniCode.InvalidConfig, `network "${call.config.network}" does not exist in vxnet (create it with: vxnet net create ${call.config.network})`);
    }
  }

  /** DNS name and aliases: K8S_POD_NAME, else the first alias, else the short container id; aliases from the `aliases` capability. */
  private names(call: CniCall): { name: string; aliases: string[] } {
    const fromRuntime = call.config.runtimeConfig?.aliases?.[call.config.name] ?? [];
    if (!Array.isArray(fromRuntime) || !fromRuntime.every((a) => typeof a === 'string')) throw new CniError(CniCode.InvalidConfig, `runtimeConfig.aliases["${call.config.name}"] must be a list of names`);
    const name = call.args.K8S_POD_NAME || fromRuntime[0] || (call.containerId as string).slice(0, 12);
    const aliases = [...new Set(fromRuntime)].filter((a) => a !== name);
    for (const [kind, value] of [['container name', name], ...aliases.map((a) => ['alias', a])] as Array<[string, string]>) {
      const problem = nameProblem(kind, value);
      if (problem) throw new CniError(CniCode.InvalidConfig, problem);
    }
    return { name, aliases };
  }

  /**
   * The static address asked for, if any: the `ips` capability (one IPv4 address per
   * interface), or CNI_ARGS `IP=` (host-local's convention; podman's --ip). Both given
   * must agree.
   */
  private requestedIp(call: CniCall): string | undefined {
    const ips = call.config.runtimeConfig?.ips;
    let fromCap: string | undefined;
    if (ips !== undefined && !(Array.isArray(ips) && ips.length === 0)) {
      if (!Array.isArray(ips) || ips.length !== 1 || typeof ips[0] !== 'string') throw new CniError(CniCode.InvalidConfig, 'runtimeConfig.ips must hold one IPv4 address (vxnet gives one address per interface)');
      fromCap = ips[0].split('/')[0] ?? '';
      if (parseIpv4(fromCap) === undefined) throw new CniError(CniCode.InvalidConfig, `runtimeConfig.ips: "${ips[0]}" is not an IPv4 address`);
    }
    const fromArgs = call.args.IP;
    if (fromArgs !== undefined && parseIpv4(fromArgs) === undefined) throw new CniError(CniCode.InvalidEnvironment, `CNI_ARGS IP="${fromArgs}" is not one IPv4 address (vxnet gives one address per interface)`);
    if (fromCap !== undefined && fromArgs !== undefined && fromCap !== fromArgs) throw new CniError(CniCode.InvalidConfig, `two different static addresses asked for: ${fromCap} (runtimeConfig.ips) and ${fromArgs} (CNI_ARGS IP)`);
    return fromCap ?? fromArgs;
  }

  /** The vxnet error of a failed call as a CNI error: the agent's message, with a code a runtime can act on. */
  private toCniError(err: unknown, call: CniCall): CniError {
    if (err instanceof CniError) return err;
    if (isUserError(err)) {
      const code = ({
        VXNET_ENDPOINT_NAME_TAKEN: CniCode.NameTaken,
        VXNET_ADDRESS_UNAVAILABLE: CniCode.AddressUnavailable,
        VXNET_SUBNET_EXHAUSTED: CniCode.AddressUnavailable,
        VXNET_DATAPLANE_CONFLICT: CniCode.InterfaceExists,
        VXNET_NETWORK_NOT_FOUND: CniCode.InvalidConfig,
      } as Record<string, number>)[err.code];
      if (code !== undefined) return new CniError(code, err.message);
      if (err.statusCode === 503) return new CniError(CniCode.TryAgainLater, `${err.message} (host ${this.o.host})`);
      if (err.statusCode < 500) return new CniError(CniCode.InvalidConfig, err.message);
    }
    return new CniError(CniCode.Failed, `vxnet agent on host ${this.o.host} could not ${call.command} container ${(call.containerId ?? '').slice(0, 12)}: ${(err as Error)?.message ?? String(err)}`);
  }
}

/** The routes ensureEndpoint installs: the default route for eth0, else the network's range; always via the gateway (trap C5). */
function routesOf(ep: LocalEndpoint, networkCidr: string | undefined): Array<{ dst: string; gw: string }> {
  return [{ dst: ep.ifname === 'eth0' || networkCidr === undefined ? '0.0.0.0/0' : networkCidr, gw: ep.gateway }];
}

function resultOf(ep: LocalEndpoint, networkCidr: string): CniResult {
  return {
    interfaces: [{ name: ep.ifname, mac: ep.mac, mtu: ep.mtu, sandbox: ep.sandbox }],
    ips: [{ address: `${ep.ip}/${ep.prefixLength}`, gateway: ep.gateway, interface: 0 }],
    routes: routesOf(ep, networkCidr),
    dns: { nameservers: [VXNET_DNS_ADDRESS] },
  };
}

function summary(call: CniCall): Record<string, unknown> {
  return { command: call.command, container: call.containerId?.slice(0, 12), ifname: call.ifname, netns: call.netns, network: call.config.network, version: call.config.cniVersion };
}
