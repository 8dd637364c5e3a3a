/**
 * Fakes at the engine's seams, for unit tests of its policy without root: an agent
 * that can fail at chosen calls and restart with a new instance, a runtime whose
 * containers are real `sleep` processes (so liveness checks work), and sandboxes as a
 * set of names.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { VxnetError, recordProcess } from '@vxnet/common';
import type { AgentStatus, CreateEndpointRequest, ExposeResult } from '@vxnet/common/api';
import type { AgentApi, AgentEndpoint } from '../../src/agent-client.js';
import { AgentUnreachable, RuncFailed } from '../../src/errors.js';
import type { RunFiles, Started } from '../../src/runtime/runc.js';
import type { ContainerRuntime } from '../../src/runtime/runtime.js';
import type { SandboxManager } from '../../src/sandbox/sandbox.js';

type AgentMethod = 'createEndpoint' | 'deleteEndpoint' | 'listEndpoints' | 'status' | 'expose' | 'unexpose';

/** The fake host's underlay address: where ports without a host address are published. */
export const FAKE_UNDERLAY_IP = '192.0.2.1';

/**
 * What a call does instead of answering: `unreachable` (nothing done, no answer),
 * `lost-answer` (done, then the agent dies before answering: it stays down until
 * restart()), `timeout` (done, the answer lost, the agent still up), a VxnetError
 * (the agent refuses), or a function run before the call is carried out (e.g. to
 * block it).
 */
export type AgentFault = 'unreachable' | 'lost-answer' | 'timeout' | VxnetError | (() => Promise<void>);

export class FakeAgent implements AgentApi {
  readonly endpoints = new Map<string, AgentEndpoint>();
  /** Exposed networks: name -> this host's address on it. */
  readonly exposed = new Map<string, string>();
  instance = randomBytes(4).toString('hex');
  /** Every call answers unreachable while down. */
  down = false;
  readonly calls: Array<{ method: AgentMethod; arg?: string }> = [];
  private readonly faults: Array<{ method: AgentMethod; nth: number; fault: AgentFault }> = [];
  private readonly counts = new Map<AgentMethod, number>();
  private ipSeq = 2;

  /** Make the `nth` (1-based, counted from now) call of `method` fail with `fault`. */
  failAt(method: AgentMethod, nth: number, fault: AgentFault): void {
    this.faults.push({ method, nth: (this.counts.get(method) ?? 0) + nth, fault });
  }

  /** The agent process restarts: up again, a new instance, its endpoints kept (they are in its state file). */
  restart(): void {
    this.down = false;
    this.instance = randomBytes(4).toString('hex');
  }

  /** An endpoint someone else (or an older engine) made. */
  add(ep: Partial<AgentEndpoint> & { container: string }): AgentEndpoint {
    const full = this.endpoint({ network: ep.networkName ?? 'net1', sandbox: ep.sandbox ?? '/run/netns/x', name: ep.name ?? 'x', container: ep.container }, ep);
    this.endpoints.set(full.id, full);
    return full;
  }

  async createEndpoint(req: CreateEndpointRequest): Promise<AgentEndpoint> {
    const lost = await this.enter('createEndpoint', req.network);
    // a network by name, or by the id the fake gives it ("id-NAME")
    const network = req.network.replace(/^id-/, '');
    if (network === 'missing') throw new VxnetError('VXNET_NETWORK_NOT_FOUND', 404, `network "${req.network}" not found`);
    // as the agent: no ports on an internal network, none on a port in use on this host
    if (req.ports?.length && network === 'internal') {
      throw new VxnetError('VXNET_NETWORK_INTERNAL', 400, `network "${network}" is internal: no ports can be published on it`);
    }
    const ports = (req.ports ?? []).map((p) => ({ hostIp: p.hostIp ?? FAKE_UNDERLAY_IP, hostPort: p.hostPort, containerPort: p.containerPort, protocol: p.protocol }));
    for (const p of ports) {
      const user = [...this.endpoints.values()].find((e) => e.ports?.some((q) => q.hostIp === p.hostIp && q.hostPort === p.hostPort && q.protocol === p.protocol));
      if (user) throw new VxnetError('VXNET_PORT_IN_USE', 409, `port ${p.hostIp}:${p.hostPort}/${p.protocol} is in use by endpoint "${user.name}"`);
    }
    const ep = this.endpoint({ ...req, network }, { ...(req.owner !== undefined ? { owner: req.owner } : {}), ...(ports.length ? { ports } : {}) });
    this.endpoints.set(ep.id, ep);
    if (lost) this.loseAnswer(lost);
    return ep;
  }

  async deleteEndpoint(id: string): Promise<void> {
    const lost = await this.enter('deleteEndpoint', id);
    this.endpoints.delete(id);
    if (lost) this.loseAnswer(lost);
  }

  async listEndpoints(): Promise<AgentEndpoint[]> {
    const lost = await this.enter('listEndpoints');
    if (lost) this.loseAnswer(lost);
    return [...this.endpoints.values()].map((e) => ({ ...e }));
  }

  async status(): Promise<AgentStatus> {
    await this.enter('status');
    return { host: 'h1', instance: this.instance, networks: [], alivePeers: [], egress: { available: true, reason: null } };
  }

  async expose(network: string): Promise<ExposeResult> {
    await this.enter('expose', network);
    if (network === 'missing') throw new VxnetError('VXNET_NETWORK_NOT_FOUND', 404, `network "${network}" not found`);
    const ip = this.exposed.get(network) ?? `10.9.0.${this.ipSeq++}`;
    this.exposed.set(network, ip);
    return { network: `id-${network}`, networkName: network, ip, prefixLength: 24 };
  }

  async unexpose(network: string): Promise<ExposeResult> {
    await this.enter('unexpose', network);
    const ip = this.exposed.get(network);
    if (ip === undefined) throw new VxnetError('VXNET_NOT_EXPOSED', 404, `network "${network}" is not exposed on this host`);
    this.exposed.delete(network);
    return { network: `id-${network}`, networkName: network, ip, prefixLength: 24 };
  }

  /** Endpoints whose container is `id`. */
  of(container: string): AgentEndpoint[] {
    return [...this.endpoints.values()].filter((e) => e.container === container);
  }

  /** Count the call, apply its fault; a string: carry it out, then do not answer. */
  private async enter(method: AgentMethod, arg?: string): Promise<'lost-answer' | 'timeout' | undefined> {
    const n = (this.counts.get(method) ?? 0) + 1;
    this.counts.set(method, n);
    this.calls.push({ method, ...(arg !== undefined ? { arg } : {}) });
    if (this.down) throw this.unreachable();
    const i = this.faults.findIndex((f) => f.method === method && f.nth === n);
    if (i < 0) return undefined;
    const { fault } = this.faults.splice(i, 1)[0] as { fault: AgentFault };
    if (fault === 'unreachable') throw this.unreachable();
    if (fault === 'lost-answer' || fault === 'timeout') return fault;
    if (fault instanceof VxnetError) throw fault;
    await fault();
    return undefined;
  }

  private loseAnswer(how: 'lost-answer' | 'timeout'): never {
    if (how === 'lost-answer') this.down = true;
    throw this.unreachable();
  }

  private unreachable(): VxnetError {
    return new AgentUnreachable('/fake/agent.sock', 'connect ECONNREFUSED');
  }

  private endpoint(req: CreateEndpointRequest, extra: Partial<AgentEndpoint>): AgentEndpoint {
    const n = this.ipSeq++;
    return {
      id: randomBytes(8).toString('hex'), networkId: `id-${req.network}`, networkName: req.network, name: req.name, aliases: req.aliases ?? [],
      ip: req.ip ?? `10.9.0.${n}`, mac: '02:00:00:00:00:01', host: 'h1', container: req.container ?? req.name, createdAt: new Date().toISOString(),
      sandbox: req.sandbox, hostIfname: `veth${n}`, ifname: req.ifname ?? 'eth0', prefixLength: 24, gateway: '10.9.0.1', mtu: 1450,
      ...extra,
    };
  }
}

/** A runtime whose containers are `sleep` processes; `delete` is what runc's would be. */
export class FakeRuntime implements ContainerRuntime {
  /** Containers the runtime has state for, by id. */
  readonly state = new Map<string, ChildProcess>();
  /** The next run fails (as runc would: nothing left). */
  failNextRun = false;
  readonly deleted: string[] = [];
  /** Runs started, by container id (restarts included). */
  readonly runs = new Map<string, number>();
  private readonly exitFiles = new Map<string, string>();

  async run(id: string, files: RunFiles): Promise<Started> {
    if (this.failNextRun) {
      this.failNextRun = false;
      throw new RuncFailed('run', 'fake: exec format error');
    }
    this.runs.set(id, (this.runs.get(id) ?? 0) + 1);
    this.exitFiles.set(id, files.exitFile);
    const child = spawn('sleep', ['3600'], { stdio: 'ignore' });
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    const pid = child.pid as number;
    this.state.set(id, child);
    return { shim: recordProcess(pid, 'sleep'), pid, exited };
  }

  /** The container's process ends by itself with `code` (its shim records it, as runc's does). */
  exit(id: string, code: number): void {
    const file = this.exitFiles.get(id);
    if (file) writeFileSync(file, `${code}\n`);
    this.state.get(id)?.kill('SIGKILL');
  }

  async pause(): Promise<void> {}

  async resume(): Promise<void> {}

  async kill(id: string, signal: string): Promise<void> {
    this.state.get(id)?.kill(`SIG${signal}` as NodeJS.Signals);
  }

  async delete(id: string): Promise<void> {
    this.deleted.push(id);
    this.state.get(id)?.kill('SIGKILL');
    this.state.delete(id);
  }

  runDetached(): Promise<void> {
    return Promise.reject(new Error('the fake runtime has no terminals'));
  }

  execProcess(): ChildProcess {
    throw new Error('the fake runtime does not exec');
  }

  /** Kill every process it started (teardown). */
  killAll(): void {
    for (const c of this.state.values()) c.kill('SIGKILL');
  }
}

export class FakeSandboxes implements SandboxManager {
  readonly existing = new Set<string>();
  readonly deleted: string[] = [];
  /** The next ensure makes the namespace, then fails (bringing lo up, say). */
  failNextEnsure = false;

  name(containerId: string): string {
    return `vxnet-s-${containerId.slice(0, 12)}`;
  }

  async ensure(name: string): Promise<string> {
    this.existing.add(name);
    if (this.failNextEnsure) {
      this.failNextEnsure = false;
      throw new Error('fake: could not bring lo up');
    }
    return `/run/netns/${name}`;
  }

  delete(name: string): void {
    this.deleted.push(name);
    this.existing.delete(name);
  }
}
