/**
 * The Agent with fakes at its seams, for its unit tests: a fake data plane (a map
 * standing for the kernel, every call recorded, a failure injectable at any step),
 * the real LeaseManager and HostRegistration on a MemoryStore that records writes
 * and can fail one, and optionally the real Firewall over a fake nft and a port
 * probe with ports marked in use. `restart()` builds a new agent on the same state
 * files, store, fake kernel and fake table, as a restarted process would find them.
 */
import type { AgentMetricsSink } from '../../src/metrics/agent-metrics.js';
import type { Test } from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ManualClock, MemoryStore, keys, silentLogger,
  type CompareResult, type CreateResult, type NetworkSpec, type SubnetLease, type WriteOptions,
} from '@vxnet/common';
import { Agent } from '../../src/agent.js';
import type { DataPlane, EndpointSpec, HandoffEndpointSpec, HostAddress, NetworkPlaneSpec, Peer, UplinkSpec, VtepSpec } from '../../src/dataplane/index.js';
import { DataPlaneFailed } from '../../src/errors.js';
import { Firewall } from '../../src/firewall/index.js';
import type { Encryption } from '../../src/wireguard/index.js';
import { LeaseManager } from '../../src/lease/lease-manager.js';
import type { BindTarget, PortProbe } from '../../src/ports/port-probe.js';
import { HostRegistration } from '../../src/registration/host-registration.js';
import { FakeNft } from './fake-nft.js';

export const k = keys('/t/');
export const HOST = 'h1';
export const SANDBOX = '/run/netns/vxt-sandbox-1';

export const network = (c: string, over: Partial<NetworkSpec> = {}): NetworkSpec => ({
  id: c.repeat(64), name: `net-${c}`, driver: 'overlay', subnet: '10.128.0.0/16', hostSubnetLength: 24, vni: 4096, mtu: null,
  internal: false, labels: {}, options: {}, createdAt: new Date(0).toISOString(), ...over,
});
export const NET = network('a');
export const nsOf = (net: NetworkSpec) => `vxnet-${net.id.slice(0, 12)}`;

/** One network namespace as the fake kernel holds it. */
export interface FakeNs {
  vtepMac: string;
  /** The last VTEP spec given (local address, device, MTU). */
  vtep?: VtepSpec;
  subnet?: string;
  veths: Set<string>;
  peers: Map<string, Peer>;
}

type Method = Exclude<keyof DataPlane, 'close' | 'sandboxExists'>;

/** The agent namespace's addresses as the fake kernel has them. */
const HOST_ADDRESSES: HostAddress[] = [
  { ip: '127.0.0.1', prefixLength: 8, ifname: 'lo' },
  { ip: '192.0.2.1', prefixLength: 24, ifname: 'eth0' },
  { ip: '192.0.2.100', prefixLength: 24, ifname: 'eth0' },
];

/** A data plane over a map: records every call; `failNext` makes one call throw, before or after its effect. */
export class FakeDataPlane implements DataPlane {
  readonly calls: string[] = [];
  readonly kernel = new Map<string, FakeNs>();
  readonly sandboxes = new Set<string>([SANDBOX]);
  /** Uplinks in the agent namespace, by host-end name. */
  readonly uplinks = new Map<string, UplinkSpec>();
  /** Handed-off veth ends in the agent namespace, by name. */
  readonly handoffs = new Map<string, HandoffEndpointSpec & { netns: string }>();
  private fail: { method: Method; after: boolean } | undefined;
  private macs = 0;

  failNext(method: Method, after = false): void {
    this.fail = { method, after };
  }

  private async step<T>(method: Method, netns: string, effect: () => T): Promise<T> {
    this.calls.push(`${method} ${netns}`);
    const fail = this.fail?.method === method ? this.fail : undefined;
    if (fail) this.fail = undefined;
    if (fail && !fail.after) throw new DataPlaneFailed(method, netns, 'injected failure');
    const out = effect();
    if (fail) throw new DataPlaneFailed(method, netns, 'injected failure after the change');
    return out;
  }

  private ns(netns: string): FakeNs {
    const ns = this.kernel.get(netns);
    if (!ns) throw new Error(`fake kernel: no namespace ${netns}`);
    return ns;
  }

  private make(netns: string): FakeNs {
    let ns = this.kernel.get(netns);
    if (!ns) this.kernel.set(netns, (ns = { vtepMac: `02:00:00:00:00:${(++this.macs).toString(16).padStart(2, '0')}`, veths: new Set(), peers: new Map() }));
    return ns;
  }

  ensureVtep(spec: VtepSpec) {
    return this.step('ensureVtep', spec.netns, () => {
      const ns = this.make(spec.netns);
      ns.vtep = { netns: spec.netns, vni: spec.vni, mtu: spec.mtu, underlayIp: spec.underlayIp, underlayDevice: spec.underlayDevice };
      return { vtepMac: ns.vtepMac };
    });
  }

  ensureNetwork(spec: NetworkPlaneSpec) {
    return this.step('ensureNetwork', spec.netns, () => {
      const ns = this.make(spec.netns);
      ns.subnet = spec.hostSubnet;
      return { vtepMac: ns.vtepMac };
    });
  }

  deleteNetwork(netns: string) {
    return this.step('deleteNetwork', netns, () => {
      this.kernel.delete(netns);
      for (const [name, h] of this.handoffs) if (h.netns === netns) this.handoffs.delete(name);
      // the uplink's other end was in the namespace: the pair goes with it
      for (const [name, u] of this.uplinks) if (u.netns === netns) this.uplinks.delete(name);
    });
  }

  ensurePeers(netns: string, peers: Peer[]) {
    return this.step('ensurePeers', netns, () => peers.forEach((p) => this.ns(netns).peers.set(p.subnet, p)));
  }

  deletePeers(netns: string, peers: Peer[]) {
    return this.step('deletePeers', netns, () => peers.forEach((p) => this.kernel.get(netns)?.peers.delete(p.subnet)));
  }

  listPeers(netns: string) {
    return this.step('listPeers', netns, () => [...this.ns(netns).peers.values()]);
  }

  ensureEndpoint(netns: string, ep: EndpointSpec) {
    return this.step('ensureEndpoint', netns, () => {
      if (!this.sandboxes.has(ep.sandboxNetnsPath)) throw new DataPlaneFailed('attach', netns, `cannot enter sandbox ${ep.sandboxNetnsPath}`);
      this.ns(netns).veths.add(ep.hostIfname);
    });
  }

  ensureHandoffEndpoint(netns: string, ep: HandoffEndpointSpec) {
    return this.step('ensureHandoffEndpoint', netns, () => {
      const ns = this.ns(netns);
      const out = this.handoffs.get(ep.handoffIfname);
      if (out && (out.netns !== netns || out.hostIfname !== ep.hostIfname)) throw new DataPlaneFailed('attach', netns, `${ep.handoffIfname} exists`);
      ns.veths.add(ep.hostIfname);
      this.handoffs.set(ep.handoffIfname, { ...ep, netns });
    });
  }

  deleteEndpoint(netns: string, hostIfname: string) {
    return this.step('deleteEndpoint', netns, () => {
      this.kernel.get(netns)?.veths.delete(hostIfname);
      for (const [name, h] of this.handoffs) if (h.netns === netns && h.hostIfname === hostIfname) this.handoffs.delete(name);
    });
  }

  listEndpoints(netns: string) {
    return this.step('listEndpoints', netns, () => [...this.ns(netns).veths].sort());
  }

  ensureUplink(spec: UplinkSpec) {
    return this.step('ensureUplink', spec.netns, () => {
      this.ns(spec.netns);
      this.uplinks.set(spec.hostIfname, spec);
    });
  }

  deleteUplink(hostIfname: string) {
    return this.step('deleteUplink', hostIfname, () => void this.uplinks.delete(hostIfname));
  }

  listUplinks() {
    return this.step('listUplinks', '', () => [...this.uplinks.keys()].sort());
  }

  listHostAddresses() {
    return this.step('listHostAddresses', '', () => [
      ...HOST_ADDRESSES,
      ...[...this.uplinks.values()].flatMap((u) => [{ ip: '169.254.1.1', prefixLength: 32, ifname: u.hostIfname }, ...(u.expose ? [{ ip: u.expose.ip, prefixLength: 32, ifname: u.hostIfname }] : [])]),
    ]);
  }

  sandboxInterface(path: string, _ifname: string) {
    // the fake keeps no sandbox interfaces: CHECK is tested on the kernel (test/cni.ts)
    return this.step('sandboxInterface', path, () => undefined);
  }

  sandboxExists(path: string): boolean {
    return this.sandboxes.has(path);
  }

  close(): void {}
}

type WriteOp = 'put' | 'create' | 'compareAndPut' | 'delete';

/** MemoryStore that records writes and can fail one write under a key prefix, before or after applying it. */
export class TestStore extends MemoryStore {
  readonly writes: Array<{ op: WriteOp; key: string; value?: string }> = [];
  private fail: { op: WriteOp; prefix: string; after: boolean } | undefined;
  private stalled: Promise<void> | undefined;
  private unstall: (() => void) | undefined;

  /** Until `resume()`, every write and list waits (a store that does not answer). */
  stall(): void {
    this.stalled ??= new Promise((resolve) => {
      this.unstall = resolve;
    });
  }

  resume(): void {
    this.unstall?.();
    this.stalled = undefined;
  }

  /** Every prefix watched, in order. */
  readonly watched: string[] = [];

  override async list(prefix: string) {
    await this.stalled;
    return super.list(prefix);
  }

  /** Prefixes watched now (a watch closed is gone). */
  readonly openWatches: string[] = [];

  override async watch(...args: Parameters<MemoryStore['watch']>) {
    const prefix = args[0];
    this.watched.push(prefix);
    const w = await super.watch(...args);
    this.openWatches.push(prefix);
    const close = w.close.bind(w);
    let closed = false;
    return {
      get revision() {
        return w.revision;
      },
      close: async () => {
        if (!closed) this.openWatches.splice(this.openWatches.indexOf(prefix), 1);
        closed = true;
        await close();
      },
    };
  }

  failNext(op: WriteOp, prefix: string, after = false): void {
    this.fail = { op, prefix, after };
  }

  private async recordWrite<T>(op: WriteOp, key: string, value: string | undefined, apply: () => Promise<T>): Promise<T> {
    await this.stalled;
    this.writes.push({ op, key, ...(value !== undefined ? { value } : {}) });
    const fail = this.fail?.op === op && key.startsWith(this.fail.prefix) ? this.fail : undefined;
    if (fail) this.fail = undefined;
    if (fail && !fail.after) throw new Error(`injected ${op} failure`);
    const out = await apply();
    if (fail) throw new Error(`injected ${op} failure after it was applied (a timeout, say)`);
    return out;
  }

  override put(key: string, value: string, o?: WriteOptions): Promise<number> {
    return this.recordWrite('put', key, value, () => super.put(key, value, o));
  }

  override create(key: string, value: string, o?: WriteOptions): Promise<CreateResult> {
    return this.recordWrite('create', key, value, () => super.create(key, value, o));
  }

  override compareAndPut(key: string, value: string, rev: number, o?: WriteOptions): Promise<CompareResult> {
    return this.recordWrite('compareAndPut', key, value, () => super.compareAndPut(key, value, rev, o));
  }

  override delete(key: string, rev?: number): Promise<boolean> {
    return this.recordWrite('delete', key, undefined, () => super.delete(key, rev));
  }
}

export interface FixtureOptions {
  /** A real Firewall over a FakeNft: 'ok', or 'broken' (nft's check fails: egress unavailable). None by default. */
  firewall?: 'ok' | 'broken';
  /** The host's WireGuard (a fake Encryption); none by default: encrypted networks are refused. */
  encryption?: Encryption;
  /** Where the agent counts events (metrics/agent-metrics.ts); none by default. */
  metrics?: AgentMetricsSink;
}

export interface Fixture {
  agent: Agent;
  dp: FakeDataPlane;
  store: TestStore;
  files: { endpoints: string; namespaces: string; subnets: string; uplinks: string; exposed: string; reserved: string; docker: string };
  /** The current agent's lease manager. */
  leases: LeaseManager;
  /** The fake table (with a firewall). */
  nft: FakeNft;
  /** Bind-probe answers: `ip:port/proto` -> error code; every call's targets recorded. */
  portsInUse: Map<string, string>;
  probed: BindTarget[][];
  /** Stops the agent (kernel, table and files stay) and builds a new one on the same state: not started. */
  restart(): Promise<Agent>;
}

/** An agent for host h1 over fresh fakes; `networks` are in the store before it starts (not started here). */
export async function fixture(t: Test, networks: NetworkSpec[] = [NET], opts: FixtureOptions = {}): Promise<Fixture> {
  const clock = new ManualClock(Date.parse('2026-01-01T00:00:00Z'));
  const store = new TestStore({ clock });
  for (const n of networks) await store.put(k.network(n.id), JSON.stringify(n));
  const dir = mkdtempSync(join(tmpdir(), 'vxnet-agent-'));
  const files = {
    endpoints: join(dir, 'endpoints.json'), namespaces: join(dir, 'namespaces.json'), subnets: join(dir, 'subnets.json'),
    uplinks: join(dir, 'uplinks.json'), exposed: join(dir, 'exposed.json'), reserved: join(dir, 'reserved.json'), docker: join(dir, 'docker.json'),
  };
  const log = silentLogger();
  const dp = new FakeDataPlane();
  const nft = new FakeNft();
  if (opts.firewall === 'broken') nft.failCheck = 'could not run nft: nft not found';
  const portsInUse = new Map<string, string>();
  const probed: BindTarget[][] = [];
  const portProbe: PortProbe = {
    check: async (targets) => {
      probed.push(targets);
      return targets.map((x) => portsInUse.get(`${x.ip}:${x.port}/${x.protocol}`));
    },
  };
  const make = () => {
    const leases = new LeaseManager({ store, keys: k, host: HOST, underlayIp: '192.0.2.1', ttlSeconds: 86_400, renewMarginSeconds: 3600, stateFile: files.subnets, log, clock });
    const registration = new HostRegistration({ store, keys: k, host: HOST, underlayIp: '192.0.2.1', underlayInterface: 'eth0', agentVersion: 'test', ttlSeconds: 10, log, readRoutes: async () => [] });
    return { leases, agent: new Agent({
      store, keys: k, host: HOST, underlayIp: '192.0.2.1', underlayDevice: 'eth0', underlayMtu: 1500,
      endpointsFile: files.endpoints, namespacesFile: files.namespaces, uplinksFile: files.uplinks, exposedFile: files.exposed, reservedFile: files.reserved,
      dataplane: dp, leases, registration, log, ...(opts.encryption ? { encryption: opts.encryption } : {}), ...(opts.metrics ? { metrics: opts.metrics } : {}),
      ...(opts.firewall ? { firewall: new Firewall({ nft, forwarding: { ensure: () => false }, log }), portProbe, firewallCheckMs: 0 } : {}),
    }) };
  };
  const f: Fixture = {
    ...make(), dp, store, files, nft, portsInUse, probed,
    restart: async () => {
      await f.agent.stop();
      Object.assign(f, make());
      return f.agent;
    },
  };
  t.teardown(async () => {
    await f.agent.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });
  return f;
}

export const readJson = (file: string): unknown => {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
};
export const recordedNamespaces = (f: Fixture) => ((readJson(f.files.namespaces) as Array<{ name: string }> | undefined) ?? []).map((n) => n.name);
export const storeKeys = async (f: Fixture, prefix: string) => (await f.store.list(prefix)).items.map((kv) => kv.key);
export const leasesOf = async (f: Fixture, host: string) =>
  (await f.store.list(k.leases)).items.map((kv) => JSON.parse(kv.value) as SubnetLease).filter((l) => l.host === host).map((l) => l.subnet);

/** Nothing of a failed first attach is left: kernel, namespace record, lease, endpoint records, local state. */
export async function nothingLeaked(t: Test, f: Fixture): Promise<void> {
  t.same([...f.dp.kernel.keys()], [], 'no namespace left in the kernel');
  t.same(recordedNamespaces(f), [], 'no namespace record left');
  t.same(await leasesOf(f, HOST), [], 'no lease of this host left in the store');
  t.same(await storeKeys(f, k.endpoints), [], 'no endpoint record left in the store');
  t.same(f.agent.endpoints(), [], 'no local endpoint');
  t.same(readJson(f.files.endpoints) ?? [], [], 'no endpoint in the state file');
  const host = JSON.parse((await f.store.get(k.host(HOST)))!.value) as { networks: string[] };
  t.same(host.networks, [], 'the host record lists no network');
}

export const attach = (f: Fixture, name = 'c1', over: object = {}) => f.agent.createEndpoint({ network: NET.name, sandbox: SANDBOX, name, container: `ctr-${name}`, owner: 'engine', ...over });
