/**
 * The lab: a whole vxnet cluster on one machine. Simulated hosts are network
 * namespaces joined by veths to an underlay switch (a bridge in a namespace of its
 * own, so no lab link ever appears in the root namespace); the store (etcd, or Redis
 * with `--store redis`) runs in one more namespace on the same underlay, and a router
 * leads to an "outside" host beyond the site (outside.ts).
 *
 *   vx-<lab>.sw     br0, with one port p-<host> per host, p-store, p-ctl and p-rt
 *   vx-<lab>.h1     eth0 = <underlay>.1 (h2 = .2, ...): a machine (machine.ts) running
 *                   an agent and an engine with their default settings (and with
 *                   `--docker` a dockerd, docker.ts; with `--podman` podman's
 *                   configuration and the host's own cgroup tree, podman.ts)
 *   vx-<lab>.etcd   eth0 = last usable address of the underlay; etcd on :2379, TLS only,
 *                   client certificates of the lab's CA required (pki.ts)
 *   (vx-<lab>.redis with --store redis: redis-server on :6379, TLS only with client
 *                   certificates like etcd, a password, appendonly with fsync always,
 *                   as docs/deploy.md asks of a real site)
 *   vx-<lab>.ctl    eth0 = the one before: a machine running the controller on :7070
 *                   (HTTPS, a client certificate of the lab's CA and the bearer token)
 *                   and on /run/vxnet/controller.sock for the CLI
 *   vx-<lab>.rt     eth0 = the one before that: the router, every machine's default
 *                   gateway; eth1 = <outside>.1 (198.51.100.0/24, or 203.0.113.0/24
 *                   when the underlay overlaps it)
 *   vx-<lab>.out    eth0 = <outside>.10: the outside host, routes only to the underlay,
 *                   running a TCP/UDP echo (7), discard (9) and HTTP (80) responder
 *   vx-<lab>.etcd2  with --store-members 3: members 2 and 3 of the etcd cluster, at the
 *   vx-<lab>.etcd3  addresses below the router's (member 1 stays vx-<lab>.etcd)
 *   vx-<lab>.ctl2   with --controllers 2: a second controller machine, below the etcd
 *                   members, with the first controller's token (one token per site)
 *
 * Lab names cannot contain '.', so the prefix `vx-<lab>.` belongs to one lab only and
 * several labs can be up at once, even on the same underlay CIDR; the daemons' own
 * namespaces live in their machine's /run/netns and never meet another machine's.
 */
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import {
  InvalidArgument, addressAt, parseIpv4, type Cidr, cidrSize, isAlive, parseCidr, recordProcess, spawnEtcd, spawnRedis, stopProcess, etcdMemberStatus,
  waitEtcdHealthy, waitRedisReady, type EtcdClientTls, type Logger, type ProcessRecord,
} from '@vxnet/common';
import { clearContextLab, labsDir, setContextLab } from '../context.js';
import { LabExists, LabHostNotFound, LabLeftover, LabNotFound, LabUpFailed, LabWithoutDocker, LabWithoutPodman, MissingTool, NotRoot } from '../errors.js';
import { removeCgroup } from './cgroup.js';
import { daemonCommand, startDaemon, stopDaemon, waitHealthy, type DaemonKind } from './daemons.js';
import {
  dockerSocketFromRoot, dockerTools, importImage, planDockerd, prepareDockerd, startDockerd, stopDockerd, waitDockerd,
} from './docker.js';
import { LAB_DOCKER_IMAGE, busyboxImageTar } from './docker-image.js';
import { addNetns, deleteNetns, ip, listNetns, netnsExists, netnsPath, pidsInNetns } from './ip.js';
import {
  LAB_STORE_KINDS, labDir, readLabState, writeLabState, type LabController, type LabDaemon, type LabDockerd, type LabHost, type LabMachine, type LabOutside, type LabPodman, type LabState, type LabStoreKind,
  type LabStoreMember,
} from './lab-state.js';
import { makeLabPki, type LabPki } from './pki.js';
import { enterArgs, machineDirs, setupMachine, startMachine, sweepMachine } from './machine.js';
import { LAB_PODMAN_IMAGE, importPodmanImage, planPodman, podmanTools, removePodmanContainers, setupPodmanHost } from './podman.js';
import { OUTSIDE_NETWORKS, OUTSIDE_SERVICES, buildOutside, missingSockets, outsideNetworkFor, planOutside, setDefaultRoute, startResponder, waitResponder } from './outside.js';

export const DEFAULT_UNDERLAY = '192.0.2.0/24';
export const DEFAULT_HOSTS = 3;
const LAB_NAME = /^[a-z0-9](?:[a-z0-9-]{0,22}[a-z0-9])?$/;
/** Underlay addresses kept for the lab's own services: the store, the controller and the router (from the top). */
const RESERVED_ADDRESSES = 3;
/** etcd cluster sizes a lab runs: odd, so that a majority survives the loss of a minority. */
const STORE_MEMBER_COUNTS = [1, 3, 5];
const MAX_CONTROLLERS = 3;
const ETCD_PEER_PORT = 2380;
const UNDERLAY_MTU = 1500;
const CONTROLLER_PORT = 7070;
/**
 * Every lab agent and engine serves GET /metrics (--metrics-addr) on its host's
 * underlay address, these ports: reachable from every lab namespace (a Prometheus run
 * in one, as the metrics test does), from nowhere else.
 */
export const LAB_AGENT_METRICS_PORT = 9650;
export const LAB_ENGINE_METRICS_PORT = 9651;
/** The controller's topology page (uiListen), on the controller machine's underlay address. */
export const CONTROLLER_UI_PORT = 7071;
const ETCD_PORT = 2379;
const REDIS_PORT = 6379;

export interface LabUpOptions {
  name: string;
  hosts: number;
  underlay: string;
  /** DNS servers the agents forward other names to (IP[:port], comma-separated), e.g. one on the underlay; default: none. */
  dnsUpstream?: string;
  /** The store to run: etcd (default) or redis. */
  store?: LabStoreKind;
  /** Also run a dockerd on every host (docker.ts), with the image vxnet-busybox:latest imported. */
  docker?: boolean;
  /** Also set podman up on every host (podman.ts), with the image localhost/vxnet-busybox:latest imported. */
  podman?: boolean;
  /** etcd members to run (1, 3 or 5; default 1), each in a namespace of its own. */
  storeMembers?: number;
  /** Controllers to run (1-3; default 1), each in a machine of its own. */
  controllers?: number;
}

/** Addresses the lab's services take from the top of the underlay, beyond the hosts'. */
function reservedAddresses(opts: Pick<LabUpOptions, 'storeMembers' | 'controllers'>): number {
  return RESERVED_ADDRESSES + ((opts.storeMembers ?? 1) - 1) + ((opts.controllers ?? 1) - 1);
}

const UPSTREAM = /^(\d{1,3}(\.\d{1,3}){3})(:\d{1,5})?$/;

export function netnsPrefix(lab: string): string {
  return `vx-${lab}.`;
}

/** Check every option at once; throws one InvalidArgument listing every problem. */
export function validateLabOptions(opts: LabUpOptions): void {
  const problems: string[] = [];
  if (!LAB_NAME.test(opts.name)) {
    problems.push(`invalid lab name "${opts.name}": use 1-24 characters a-z, 0-9 and '-', starting and ending with a letter or digit`);
  }
  if (!Number.isInteger(opts.hosts) || opts.hosts < 1) {
    problems.push(`invalid --hosts "${opts.hosts}": a lab needs at least 1 host`);
  }
  try {
    const cidr = parseCidr(opts.underlay, 'underlay CIDR');
    const usable = Math.max(0, cidrSize(cidr.prefixLength) - 2);
    const reserved = reservedAddresses(opts);
    if (Number.isInteger(opts.hosts) && opts.hosts >= 1 && opts.hosts + reserved > usable) {
      const more = [(opts.storeMembers ?? 1) > 1 ? ` + ${(opts.storeMembers ?? 1) - 1} more etcd members` : '', (opts.controllers ?? 1) > 1 ? ` + ${(opts.controllers ?? 1) - 1} more controllers` : ''].join('');
      problems.push(`underlay ${cidr.text} is too small for ${opts.hosts} hosts: it has ${usable} usable addresses and the lab needs ${opts.hosts + reserved} (hosts + store + controller + router${more})`);
    }
    if (!outsideNetworkFor(cidr)) problems.push(`underlay ${cidr.text} overlaps both networks the lab's outside can use (${OUTSIDE_NETWORKS.join(', ')}): choose a smaller underlay`);
  } catch (err) {
    problems.push((err as Error).message);
  }
  if (opts.store !== undefined && !LAB_STORE_KINDS.includes(opts.store)) {
    problems.push(`invalid --store "${opts.store as string}": expected ${LAB_STORE_KINDS.join(' or ')}`);
  }
  if (opts.storeMembers !== undefined) {
    if (!STORE_MEMBER_COUNTS.includes(opts.storeMembers)) {
      problems.push(`invalid --store-members "${opts.storeMembers}": expected ${STORE_MEMBER_COUNTS.join(', ')} (an odd count: a majority must survive losing a minority)`);
    } else if (opts.storeMembers > 1 && opts.store === 'redis') {
      problems.push(`--store-members ${opts.storeMembers} needs --store etcd: the lab runs one Redis (Redis Cluster is not supported)`);
    }
  }
  if (opts.controllers !== undefined && (!Number.isInteger(opts.controllers) || opts.controllers < 1 || opts.controllers > MAX_CONTROLLERS)) {
    problems.push(`invalid --controllers "${opts.controllers}": expected 1-${MAX_CONTROLLERS}`);
  }
  for (const u of opts.dnsUpstream?.split(',') ?? []) {
    if (!UPSTREAM.test(u) || parseIpv4(u.split(':')[0] ?? '') === undefined) problems.push(`invalid --dns-upstream "${u}": expected IP or IP:port`);
  }
  if (problems.length > 0) throw new InvalidArgument(problems.join('; '));
}

export function requireRoot(what: string): void {
  if (process.getuid?.() !== 0) throw new NotRoot(what);
}

function requireTools(tools: string[]): void {
  const path = (process.env.PATH ?? '').split(':').filter(Boolean);
  for (const tool of tools) {
    const found = path.some((dir) => {
      try {
        return readdirSync(dir).includes(tool);
      } catch {
        return false;
      }
    });
    if (!found) throw new MissingTool(tool);
  }
}

/**
 * Bring a lab up: namespaces, underlay, etcd (waited for until healthy), the
 * controller's machine, the hosts' machines with an agent and an engine each, and make
 * it the current lab. Not idempotent by design: a lab that is already up (or half
 * made) is refused and left untouched. On any failure everything made so far is removed.
 */
export async function labUp(opts: LabUpOptions, log: Logger): Promise<LabState> {
  validateLabOptions(opts);
  requireRoot('vxnet lab up');
  const storeKind = opts.store ?? 'etcd';
  requireTools(['ip', 'nsenter', 'unshare', 'mount', 'openssl', ...(storeKind === 'etcd' ? ['etcd', 'etcdctl'] : ['redis-server', 'redis-cli'])]);
  if (opts.docker) dockerTools();
  if (opts.podman) podmanTools();
  mkdirSync(labsDir(), { recursive: true });
  const dir = labDir(opts.name);
  try {
    mkdirSync(dir); // atomic claim of the name: two racing `lab up` cannot both pass
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const existing = readLabState(opts.name);
    if (existing?.phase === 'up') throw new LabExists(opts.name, opts.name);
    throw new LabLeftover(opts.name, existing?.phase ?? 'unknown', opts.name);
  }

  const underlay = parseCidr(opts.underlay, 'underlay CIDR');
  const prefix = netnsPrefix(opts.name);
  const storeIp = addressAt(underlay, -2);
  const controllerIp = addressAt(underlay, -3);
  const routerIp = addressAt(underlay, -4);
  const machine = (name: string, underlayIp: string): LabMachine => ({ name, netns: `${prefix}${name}`, underlayIp, dir: join(dir, name) });
  // paths as seen from the root namespace: <machine>/run is the machine's /run/vxnet, <machine>/lib its /var/lib/vxnet
  const daemon = (m: LabMachine, kind: DaemonKind, socket: string): LabDaemon => ({
    config: join(m.dir, `${kind}.json`),
    command: [],
    logFile: join(m.dir, `${kind}.log`),
    socket: join(m.dir, 'run', socket),
    stateDir: join(m.dir, 'lib', kind),
  });
  const ctl = machine('ctl', controllerIp);
  const controllerOf = (m: LabMachine): LabController => ({
    ...m,
    ...daemon(m, 'controller', 'controller.sock'),
    url: `unix://${join(m.dir, 'run', 'controller.sock')}`,
    tcpUrl: `https://${m.underlayIp}:${CONTROLLER_PORT}`,
    uiUrl: `https://${m.underlayIp}:${CONTROLLER_UI_PORT}/ui/`,
    tokenFile: join(m.dir, 'lib', 'controller', 'token'),
  });
  // more members and controllers take the addresses below the router's, so a
  // one-member, one-controller lab keeps the addresses it always had
  const memberCount = storeKind === 'etcd' ? opts.storeMembers ?? 1 : 1;
  const members: LabStoreMember[] | undefined = memberCount > 1
    ? Array.from({ length: memberCount }, (_, i) => {
      const ip = i === 0 ? storeIp : addressAt(underlay, -4 - i);
      return {
        name: `vxnet-${opts.name}-${i + 1}`, index: i + 1, netns: i === 0 ? `${prefix}etcd` : `${prefix}etcd${i + 1}`, underlayIp: ip,
        clientUrl: `https://${ip}:${ETCD_PORT}`, peerUrl: `https://${ip}:${ETCD_PEER_PORT}`,
        dataDir: join(dir, i === 0 ? 'etcd' : `etcd${i + 1}`), logFile: join(dir, i === 0 ? 'etcd.log' : `etcd${i + 1}.log`),
      };
    })
    : undefined;
  const moreControllers = Array.from({ length: (opts.controllers ?? 1) - 1 }, (_, i) => controllerOf(machine(`ctl${i + 2}`, addressAt(underlay, -4 - memberCount - i))));
  const state: LabState = {
    name: opts.name,
    phase: 'creating',
    createdAt: new Date().toISOString(),
    underlay: underlay.text,
    ...(opts.dnsUpstream ? { dnsUpstream: opts.dnsUpstream } : {}),
    mtu: UNDERLAY_MTU,
    netnsPrefix: prefix,
    switchNetns: `${prefix}sw`,
    namespaces: [],
    hosts: Array.from({ length: opts.hosts }, (_, i) => {
      const m = machine(`h${i + 1}`, addressAt(underlay, i + 1));
      return {
        ...m, agent: daemon(m, 'agent', 'agent.sock'), engine: daemon(m, 'engine', 'engine.sock'),
        ...(opts.docker ? { docker: planDockerd(opts.name, m.name, m.dir) } : {}),
        ...(opts.podman ? { podman: planPodman(opts.name, m.name, m.dir) } : {}),
      };
    }),
    store: storeKind === 'etcd'
      ? {
        kind: 'etcd', netns: `${prefix}etcd`, underlayIp: storeIp,
        url: `etcds://${(members ?? [{ underlayIp: storeIp }]).map((m) => `${m.underlayIp}:${ETCD_PORT}`).join(',')}`,
        endpoints: members ? members.map((m) => m.clientUrl) : [`https://${storeIp}:${ETCD_PORT}`], dataDir: join(dir, 'etcd'), logFile: join(dir, 'etcd.log'),
        ...(members ? { members } : {}),
      }
      : {
        kind: 'redis', netns: `${prefix}redis`, underlayIp: storeIp, url: `rediss://${storeIp}:${REDIS_PORT}/0`,
        endpoints: [`rediss://${storeIp}:${REDIS_PORT}/0`], passwordFile: join(dir, 'redis', 'password'), dataDir: join(dir, 'redis'), logFile: join(dir, 'redis.log'),
      },
    controller: controllerOf(ctl),
    ...(moreControllers.length > 0 ? { moreControllers } : {}),
    outside: planOutside(prefix, outsideNetworkFor(underlay) as Cidr, routerIp, join(dir, 'outside.log')),
  };
  writeLabState(state);
  const llog = log.child({ component: 'lab', lab: opts.name });
  const started = Date.now();
  try {
    await build(state, underlay.prefixLength, llog);
  } catch (err) {
    llog.error({ err }, 'lab up failed, removing what was made');
    await removeLab(opts.name, llog);
    throw new LabUpFailed(opts.name, (err as Error).message, err);
  }
  state.phase = 'up';
  writeLabState(state);
  setContextLab(opts.name);
  llog.info({ hosts: opts.hosts, underlay: state.underlay, ms: Date.now() - started }, 'lab up');
  return state;
}

async function build(state: LabState, prefixLength: number, log: Logger): Promise<void> {
  const recordNetns = (name: string) => {
    state.namespaces.push(name);
    writeLabState(state);
    addNetns(name);
  };
  const sw = state.switchNetns;
  recordNetns(sw);
  ip(['-n', sw, 'link', 'add', 'br0', 'type', 'bridge']);
  ip(['-n', sw, 'link', 'set', 'br0', 'up']);

  const attach = (netns: string, port: string, address: string) => {
    recordNetns(netns);
    // ip -n SW link add PORT type veth peer name eth0 netns NETNS: the host end is born
    // inside the host namespace, so no link ever appears in the root namespace.
    ip(['-n', sw, 'link', 'add', port, 'mtu', String(state.mtu), 'type', 'veth', 'peer', 'name', 'eth0', 'mtu', String(state.mtu), 'netns', netns]);
    ip(['-n', sw, 'link', 'set', port, 'master', 'br0', 'up']);
    ip(['-n', netns, 'addr', 'add', `${address}/${prefixLength}`, 'dev', 'eth0']);
    ip(['-n', netns, 'link', 'set', 'eth0', 'up']);
  };
  for (const host of state.hosts) attach(host.netns, `p-${host.name}`, host.underlayIp);
  attach(state.store.netns, 'p-store', state.store.underlayIp);
  for (const m of state.store.members?.slice(1) ?? []) attach(m.netns, `p-store${m.index}`, m.underlayIp);
  attach(state.controller.netns, 'p-ctl', state.controller.underlayIp);
  for (const [i, c] of (state.moreControllers ?? []).entries()) attach(c.netns, `p-ctl${i + 2}`, c.underlayIp);
  const outside = state.outside as LabOutside;
  attach(outside.routerNetns, 'p-rt', outside.routerUnderlayIp);
  buildOutside(outside, state.underlay, state.mtu, recordNetns);
  for (const m of [...controllers(state), ...state.hosts]) setDefaultRoute(m.netns, outside.routerUnderlayIp);
  log.debug({ namespaces: state.namespaces.length }, 'underlay and outside ready');

  // the CA and every certificate, before anything that uses them starts
  const pki = makeLabPki(join(labDir(state.name), 'pki'), {
    // one server certificate for the store: etcd's members (all their addresses) or Redis
    etcdIps: state.store.members ? state.store.members.map((m) => m.underlayIp) : [state.store.underlayIp],
    controllerIps: controllers(state).map((c) => c.underlayIp),
    hosts: state.hosts.map((h) => h.name),
  });
  state.pki = pki;
  writeLabState(state);
  const { store } = state;
  const proc = startStore(state);
  const responder = startOutside(state, outside);

  // the machines, while the store starts
  for (const m of [...controllers(state), ...state.hosts]) {
    const dirs = machineDirs(labDir(state.name), m.name);
    m.keeper = startMachine(m.name, m.netns, dirs, join(m.dir, 'machine.log'));
    writeLabState(state);
    await setupMachine(m.name, m.keeper, dirs);
  }
  // before the daemons start, so every process of a machine sees the same cgroup view
  for (const h of state.hosts) if (h.podman) setupPodmanHost(h, h.podman);
  await waitStore(state, proc);
  log.debug({ pid: proc.pid, store: store.kind }, 'store healthy');
  await waitResponder(outside, responder);
  log.debug({ pid: responder.pid, ip: outside.ip }, 'outside responder listening');

  // the same store settings as a real host's /etc/vxnet/*.json, each daemon with its own client certificate
  const storeSettings = (client: string) => ({
    store: store.url,
    ...(store.passwordFile ? { storePasswordFile: store.passwordFile } : {}),
    storeCa: pki.ca, storeCert: pki.clients[client]?.cert, storeKey: pki.clients[client]?.key,
  });
  const ctl = state.controller;
  ctl.command = daemonCommand('controller', ctl, {
    ...storeSettings('controller'),
    listen: `${ctl.underlayIp}:${CONTROLLER_PORT}`,
    uiListen: `${ctl.underlayIp}:${CONTROLLER_UI_PORT}`,
    tlsCert: pki.controller.cert,
    tlsKey: pki.controller.key,
    tlsClientCa: pki.ca,
    underlay: [state.underlay],
  });
  await launch(state, ctl, 'controller', ctl, 'vxnet-controller');
  log.debug({ pid: ctl.process?.pid }, 'controller healthy');
  for (const c of state.moreControllers ?? []) {
    // one token per site: a client with the token file reaches any controller
    mkdirSync(dirname(c.tokenFile), { recursive: true, mode: 0o700 });
    writeFileSync(c.tokenFile, readFileSync(ctl.tokenFile), { mode: 0o600, flag: 'wx' });
    c.command = daemonCommand('controller', c, {
      ...storeSettings('controller'),
      listen: `${c.underlayIp}:${CONTROLLER_PORT}`,
      uiListen: `${c.underlayIp}:${CONTROLLER_UI_PORT}`,
      tlsCert: pki.controller.cert,
      tlsKey: pki.controller.key,
      tlsClientCa: pki.ca,
      underlay: [state.underlay],
    });
    await launch(state, c, 'controller', c, `vxnet-controller on ${c.name}`);
    log.debug({ pid: c.process?.pid, machine: c.name }, 'controller healthy');
  }

  for (const host of state.hosts) {
    // lab hosts reach nothing outside the lab: forward only where the user says
    host.agent.command = daemonCommand('agent', host.agent, {
      ...storeSettings(host.name),
      dnsUpstreams: state.dnsUpstream ? state.dnsUpstream.split(',') : [],
      metricsAddr: `${host.underlayIp}:${LAB_AGENT_METRICS_PORT}`,
    });
    host.engine.command = daemonCommand('engine', host.engine, { metricsAddr: `${host.underlayIp}:${LAB_ENGINE_METRICS_PORT}` });
  }
  await Promise.all(state.hosts.map((h) => launch(state, h, 'agent', h.agent, `vxnet-agent on ${h.name}`)));
  log.debug({ hosts: state.hosts.length }, 'agents healthy');
  await Promise.all(state.hosts.map((h) => launch(state, h, 'engine', h.engine, `vxnet-engine on ${h.name}`)));
  log.debug({ hosts: state.hosts.length }, 'engines healthy');

  // dockerd after the agent (its plugin): interop trap D7
  const withDocker = state.hosts.filter((h): h is LabHost & { docker: LabDockerd } => h.docker !== undefined);
  if (withDocker.length > 0) {
    const { dockerd } = dockerTools();
    const image = busyboxImageTar();
    for (const h of withDocker) prepareDockerd(h.docker, dockerd);
    await Promise.all(withDocker.map((h) => launchDockerd(state, h, h.docker)));
    await Promise.all(withDocker.map((h) => importImage(h, h.docker, image, LAB_DOCKER_IMAGE)));
    log.debug({ hosts: withDocker.length, image: LAB_DOCKER_IMAGE }, 'dockerds up, image imported');
  }
  const withPodman = state.hosts.filter((h): h is LabHost & { podman: LabPodman } => h.podman !== undefined);
  if (withPodman.length > 0) {
    const image = busyboxImageTar();
    await Promise.all(withPodman.map((h) => importPodmanImage(h, image, h.podman.image)));
    log.debug({ hosts: withPodman.length, image: LAB_PODMAN_IMAGE }, 'podman image imported');
  }
}

/** Start a host's dockerd, record it, wait until its API answers. */
async function launchDockerd(state: LabState, h: LabHost, d: LabDockerd): Promise<void> {
  d.process = startDockerd(h, d);
  writeLabState(state);
  await waitDockerd(`dockerd on ${h.name}`, h, d);
}

/** Start the store in its namespace and record it. */
function startStore(state: LabState): ProcessRecord {
  const { store } = state;
  let proc: ProcessRecord;
  const pki = state.pki;
  if (store.members) {
    for (const m of store.members) startMember(state, m);
    proc = store.members[0]?.process as ProcessRecord;
  } else if (store.kind === 'etcd') {
    proc = spawnEtcd({
      name: `vxnet-${state.name}`,
      dataDir: store.dataDir,
      // clients over TLS with certificates of the lab's CA, on every address: no plain-text port
      listenClientUrls: [`https://${store.underlayIp}:${ETCD_PORT}`, `https://127.0.0.1:${ETCD_PORT}`],
      advertiseClientUrls: store.endpoints,
      ...(pki?.etcd ? { clientTls: { certFile: pki.etcd.cert, keyFile: pki.etcd.key, trustedCaFile: pki.ca } } : {}),
      peerUrl: 'http://127.0.0.1:2380',
      logFile: store.logFile,
      netnsPath: netnsPath(store.netns),
      detached: true,
    });
  } else {
    proc = spawnRedis({
      name: `vxnet-${state.name}`,
      dataDir: store.dataDir,
      bind: store.underlayIp,
      port: REDIS_PORT,
      password: labRedisPassword(store.passwordFile as string),
      ...(state.pki?.etcd ? { tls: { certFile: state.pki.etcd.cert, keyFile: state.pki.etcd.key, caFile: state.pki.ca } } : {}),
      logFile: store.logFile,
      netnsPath: netnsPath(store.netns),
      detached: true,
    });
  }
  store.process = proc;
  writeLabState(state);
  return proc;
}

/** The lab's controllers, the first one first. */
function controllers(state: LabState): LabController[] {
  return [state.controller, ...(state.moreControllers ?? [])];
}

/**
 * Start one member of the lab's etcd cluster in its namespace and record it. The same
 * command line starts it again: with its data directory there, etcd ignores the
 * initial-cluster flags and rejoins as the member it was.
 */
function startMember(state: LabState, m: LabStoreMember): ProcessRecord {
  const members = state.store.members ?? [];
  const pki = state.pki;
  m.process = spawnEtcd({
    name: m.name,
    dataDir: m.dataDir,
    // clients and peers over TLS with certificates of the lab's CA, on every address
    listenClientUrls: [m.clientUrl, `https://127.0.0.1:${ETCD_PORT}`],
    advertiseClientUrls: [m.clientUrl],
    ...(pki?.etcd ? { clientTls: { certFile: pki.etcd.cert, keyFile: pki.etcd.key, trustedCaFile: pki.ca } } : {}),
    ...(pki?.etcd ? { peerTls: { certFile: pki.etcd.cert, keyFile: pki.etcd.key, trustedCaFile: pki.ca } } : {}),
    peerUrl: m.peerUrl,
    initialCluster: Object.fromEntries(members.map((x) => [x.name, x.peerUrl])),
    initialClusterToken: `vxnet-${state.name}`,
    logFile: m.logFile,
    netnsPath: netnsPath(m.netns),
    detached: true,
  });
  if (m.index === 1) state.store.process = m.process;
  writeLabState(state);
  return m.process;
}

/** Start the outside responder in its namespace and record it. */
function startOutside(state: LabState, outside: LabOutside): ProcessRecord {
  outside.process = startResponder(outside);
  writeLabState(state);
  return outside.process;
}

/** The lab Redis's password: made once (mode 0600), kept across store restarts. */
function labRedisPassword(file: string): string {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  try {
    writeFileSync(file, `${randomBytes(24).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return readFileSync(file, 'utf8').trim();
}

/** What etcdctl presents to the lab's etcd: the CA and the `admin` client certificate. */
export function etcdctlTls(pki: LabPki): EtcdClientTls {
  const admin = pki.clients.admin as { cert: string; key: string };
  return { caFile: pki.ca, certFile: admin.cert, keyFile: admin.key };
}

function waitStore(state: LabState, proc: ProcessRecord): Promise<void> {
  const { store } = state;
  const wait = { netnsPath: netnsPath(store.netns), isAlive: () => isAlive(proc) };
  const tls = state.pki ? etcdctlTls(state.pki) : undefined;
  if (store.members) {
    // a member is healthy once the cluster has a leader: every member must have started
    return Promise.all(store.members.map((m) => waitEtcdHealthy(m.clientUrl, {
      netnsPath: netnsPath(m.netns), isAlive: () => m.process !== undefined && isAlive(m.process), ...(tls ? { tls } : {}),
    }))).then(() => undefined);
  }
  if (store.kind === 'etcd') return waitEtcdHealthy(store.endpoints[0] as string, { ...wait, ...(tls ? { tls } : {}) });
  return waitRedisReady(store.url, {
    ...wait, password: readFileSync(store.passwordFile as string, 'utf8').trim(), ...(tls ? { tls: { caFile: tls.caFile, certFile: tls.certFile, keyFile: tls.keyFile } } : {}),
  });
}

/** Start a daemon in its machine, record it, wait until its API answers. */
async function launch(state: LabState, m: LabMachine, kind: DaemonKind, d: LabDaemon, what: string): Promise<void> {
  d.process = startDaemon(m, d);
  writeLabState(state);
  await waitHealthy(what, kind, d);
}

export interface LabRemoval {
  name: string;
  namespaces: string[];
  processes: number[];
}

/**
 * Remove everything of lab `name`: its processes, namespaces (and so every link in
 * them), files and context. Works from what the lab recorded and from the namespace
 * prefix that only this lab uses, so it also cleans up after a crashed `lab up`.
 * Throws LabNotFound when nothing of the lab exists.
 */
export async function labDown(name: string, log: Logger): Promise<LabRemoval> {
  if (!LAB_NAME.test(name)) throw new LabNotFound(name, ' (not a valid lab name)');
  const state = readLabState(name);
  const leftover = listNetns(netnsPrefix(name));
  let dirExists = true;
  try {
    readdirSync(labDir(name));
  } catch {
    dirExists = false;
  }
  if (!state && leftover.length === 0 && !dirExists) throw new LabNotFound(name, knownLabsHint());
  return removeLab(name, log.child({ component: 'lab', lab: name }));
}

async function removeLab(name: string, log: Logger): Promise<LabRemoval> {
  const state = readLabState(name);
  if (state) {
    state.phase = 'removing';
    writeLabState(state);
  }
  const processes: number[] = [];
  const stop = async (d: LabDaemon | undefined) => {
    if (d?.process && isAlive(d.process)) {
      processes.push(d.process.pid);
      await stopDaemon(d);
    }
  };
  // as a real host shuts down: dockerds and podman's containers (before the agents serving
  // their plugins, D7; containers are ended, so they leave their networks at once), engines
  // (containers keep running until the machine goes), agents (their clean stop revokes
  // liveness), the controller, then the store
  await Promise.all((state?.hosts ?? []).map(async (h) => {
    // wherever podman has run, with or without --podman: its database is in the host's fs/
    const left = await removePodmanContainers(h, log);
    if (left.length > 0) log.warn({ host: h.name, containers: left }, 'podman containers left after podman rm; the sweep ends their processes');
  }));
  await Promise.all((state?.hosts ?? []).map(async (h) => {
    if (h.docker?.process && isAlive(h.docker.process)) {
      processes.push(h.docker.process.pid);
      // with its plugin gone, dockerd would retry every Leave for 30 s (D7): no point waiting
      const pluginUp = h.agent.process !== undefined && isAlive(h.agent.process);
      await stopDockerd(h.docker, { endContainers: true, ...(pluginUp ? {} : { graceMs: 2000 }) });
    }
  }));
  await Promise.all((state?.hosts ?? []).map((h) => stop(h.engine)));
  await Promise.all((state?.hosts ?? []).map((h) => stop(h.agent)));
  await stop(state?.controller);
  for (const c of state?.moreControllers ?? []) await stop(c);
  for (const p of [state?.store.process, ...(state?.store.members ?? []).map((m) => m.process), state?.outside?.process]) {
    if (p && isAlive(p)) {
      processes.push(p.pid);
      await stopProcess(p);
    }
  }
  // then each machine with everything still in it: containers, runc shims, the keeper
  const machines: LabMachine[] = state ? [...controllers(state), ...state.hosts] : [];
  for (const m of machines) processes.push(...(await sweepMachine(m.netns, m.keeper)));
  // Docker's containers live in namespaces of their own, found by the cgroup their dockerd put them in
  for (const h of state?.hosts ?? []) {
    if (h.docker) {
      const left = await removeCgroup(h.docker.cgroupParent);
      if (left.length > 0) log.warn({ cgroups: left }, 'cgroups of a dockerd could not be removed');
    }
    // podman's containers too (a --network none container shares nothing else with the machine)
    if (h.podman) {
      const left = await removeCgroup(h.podman.cgroupRoot);
      if (left.length > 0) log.warn({ cgroups: left }, 'cgroups of a podman host could not be removed');
    }
  }
  const namespaces = [...new Set([...(state?.namespaces ?? []), ...listNetns(netnsPrefix(name))])];
  for (const ns of namespaces) {
    for (const pid of pidsInNetns(ns)) {
      try {
        const rec = recordProcess(pid, 'process in lab namespace');
        processes.push(pid);
        await stopProcess(rec, 2000);
      } catch {
        // exited meanwhile
      }
    }
  }
  const removed: string[] = [];
  for (const ns of namespaces) {
    if (!netnsExists(ns)) continue;
    deleteNetns(ns);
    removed.push(ns);
  }
  rmSync(labDir(name), { recursive: true, force: true });
  clearContextLab(name);
  log.info({ namespaces: removed.length, processes: processes.length }, 'lab removed');
  return { name, namespaces: removed, processes };
}

function knownLabsHint(): string {
  const labs = listLabs().map((l) => l.name);
  return labs.length > 0 ? ` (labs: ${labs.join(', ')})` : ' (no labs are up)';
}

export interface LabSummary {
  name: string;
  phase: string;
  hosts: number;
  underlay: string;
}

export function listLabs(): LabSummary[] {
  let names: string[];
  try {
    names = readdirSync(labsDir());
  } catch {
    return [];
  }
  return names.sort().map((name) => {
    const s = readLabState(name);
    return { name, phase: s?.phase ?? 'unknown', hosts: s?.hosts.length ?? 0, underlay: s?.underlay ?? '' };
  });
}

/** What `lab status --json` prints. */
export interface LabStatus {
  name: string;
  phase: string;
  /** "running" when every namespace and process is there, else "degraded". */
  health: 'running' | 'degraded';
  underlay: string;
  mtu: number;
  dir: string;
  hosts: Array<{
    name: string; netns: string; underlayIp: string; present: boolean; pids: { machine: number | null; agent: number | null; engine: number | null };
    agentRunning: boolean; agentSocket: string; engineRunning: boolean; engineSocket: string;
    /** Where the host's agent and engine serve GET /metrics (HOST:PORT on the underlay; plain HTTP, no token). */
    metrics: { agent: string; engine: string };
    /** The host's dockerd (labs made with --docker), else null. `socket` is reachable from the root namespace. */
    docker: { pid: number | null; running: boolean; socket: string; logFile: string } | null;
    /** The host's podman (labs made with --podman), else null: its cgroup tree (root view), containers.conf and image. */
    podman: { cgroupRoot: string; containersConf: string; image: string } | null;
  }>;
  store: {
    kind: LabStoreKind; url: string; endpoints: string[]; pid: number | null; running: boolean; netns: string; logFile: string;
    /** An etcd cluster (--store-members 3): each member as it answers `etcdctl endpoint status`; absent for one etcd or Redis. */
    members?: LabMemberStatus[];
    /** The member that leads (its index), null when none answers as leader; absent without members. */
    leader?: number | null;
  };
  controller: { url: string; tcpUrl: string; tokenFile: string; pid: number | null; running: boolean; netns: string; logFile: string };
  /** Every controller, the first (`controller` above) included. */
  controllers: Array<{ name: string; url: string; tcpUrl: string; pid: number | null; running: boolean; netns: string; logFile: string }>;
  /**
   * The lab's CA and the `admin` client certificate (the CLI's and etcdctl's), e.g.
   * `etcdctl --cacert CA --cert CERT --key KEY`; null for a lab made before TLS.
   */
  tls: { ca: string; cert: string; key: string } | null;
  /** The outside beyond the router (outside.ts); null for a lab made before it existed. */
  outside: {
    netns: string; ip: string; network: string; routerNetns: string; routerIp: string; routerUnderlayIp: string;
    /** What the responder answers: "tcp/7 echo", … */
    services: string[];
    pid: number | null; running: boolean;
    /** Its sockets that are not open ("tcp/80", …): empty when it answers on every port. */
    missingSockets: string[];
    logFile: string;
  } | null;
  problems: string[];
}

/** One etcd member in `lab status`. */
export interface LabMemberStatus {
  index: number;
  name: string;
  endpoint: string;
  netns: string;
  underlayIp: string;
  pid: number | null;
  running: boolean;
  /** healthy: it answered its status; unreachable: running but silent; stopped: its process is gone. */
  health: 'healthy' | 'unreachable' | 'stopped';
  leader: boolean;
  raftTerm: number | null;
  error: string | null;
  logFile: string;
}

const running = (rec: ProcessRecord | undefined): boolean => rec !== undefined && isAlive(rec);

/** Each member's process and answer (one `etcdctl endpoint status` each, 1 s at most, all at once). */
async function memberStatus(state: LabState): Promise<LabMemberStatus[] | undefined> {
  const members = state.store.members;
  if (!members) return undefined;
  // asked from member 1's namespace: it reaches every member over the underlay even when member 1 is dead
  const answers = netnsExists(state.store.netns)
    ? await etcdMemberStatus(members.map((m) => m.clientUrl), { netnsPath: netnsPath(state.store.netns), timeoutMs: 1000, ...(state.pki ? { tls: etcdctlTls(state.pki) } : {}) })
    : [];
  return members.map((m, i) => {
    const a = answers[i];
    const up = running(m.process);
    const answered = a !== undefined && a.error === undefined;
    return {
      index: m.index, name: m.name, endpoint: m.clientUrl, netns: m.netns, underlayIp: m.underlayIp, pid: m.process?.pid ?? null, running: up,
      health: !up ? 'stopped' : answered ? 'healthy' : 'unreachable', leader: up && answered && a.leader, raftTerm: a?.raftTerm ?? null,
      error: up && !answered ? a?.error ?? 'its namespace is missing' : null, logFile: m.logFile,
    };
  });
}

export async function labStatus(name: string): Promise<LabStatus> {
  const state = readLabState(name);
  if (!state) throw new LabNotFound(name, knownLabsHint());
  const problems: string[] = [];
  for (const ns of state.namespaces) if (!netnsExists(ns)) problems.push(`namespace ${ns} is missing`);
  const proc = state.store.process;
  const members = await memberStatus(state);
  if (members) {
    for (const m of members) {
      if (m.health === 'stopped') problems.push(`etcd member ${m.index} (${m.name}${m.pid ? `, pid ${m.pid}` : ''}) is not running`);
      else if (m.health === 'unreachable') problems.push(`etcd member ${m.index} (${m.name}, pid ${m.pid}) does not answer: ${m.error}`);
    }
    const healthy = members.filter((m) => m.health === 'healthy').length;
    if (healthy <= members.length / 2) problems.push(`the etcd cluster has no majority: ${healthy} of ${members.length} members answer, so the store takes no writes`);
    else if (!members.some((m) => m.leader)) problems.push('the etcd cluster has no leader (an election may be under way)');
  } else if (!running(proc)) {
    problems.push(proc ? `${state.store.kind} (pid ${proc.pid}) is not running` : `${state.store.kind} was never started`);
  }
  const check = (what: string, rec: ProcessRecord | undefined) => {
    if (!running(rec)) problems.push(rec ? `${what} (pid ${rec.pid}) is not running` : `${what} was never started`);
  };
  for (const m of [...controllers(state), ...state.hosts]) check(`the machine ${m.name}`, m.keeper);
  check('the controller', state.controller.process);
  for (const c of state.moreControllers ?? []) check(`the controller on ${c.name}`, c.process);
  for (const h of state.hosts) {
    check(`the agent of ${h.name}`, h.agent.process);
    check(`the engine of ${h.name}`, h.engine.process);
    if (h.docker) check(`dockerd of ${h.name}`, h.docker.process);
  }
  const outside = state.outside;
  const outsideMissing = outside?.process && running(outside.process) ? missingSockets(outside.process) : [];
  if (outside) {
    check('the outside responder', outside.process);
    if (outsideMissing.length > 0) problems.push(`the outside responder (pid ${outside.process?.pid}) does not answer on ${outsideMissing.join(', ')}`);
  }
  if (state.phase !== 'up') problems.push(`lab is in phase "${state.phase}"`);
  return {
    name: state.name,
    phase: state.phase,
    health: problems.length === 0 ? 'running' : 'degraded',
    underlay: state.underlay,
    mtu: state.mtu,
    dir: labDir(name),
    hosts: state.hosts.map((h) => ({
      name: h.name,
      netns: h.netns,
      underlayIp: h.underlayIp,
      present: netnsExists(h.netns) && running(h.keeper),
      pids: { machine: h.keeper?.pid ?? null, agent: h.agent.process?.pid ?? null, engine: h.engine.process?.pid ?? null },
      agentRunning: running(h.agent.process),
      agentSocket: h.agent.socket,
      engineRunning: running(h.engine.process),
      engineSocket: h.engine.socket,
      metrics: { agent: `${h.underlayIp}:${LAB_AGENT_METRICS_PORT}`, engine: `${h.underlayIp}:${LAB_ENGINE_METRICS_PORT}` },
      docker: h.docker
        ? {
          pid: h.docker.process?.pid ?? null,
          running: running(h.docker.process),
          socket: h.keeper ? dockerSocketFromRoot(h, h.docker) : h.docker.socket,
          logFile: h.docker.logFile,
        }
        : null,
      podman: h.podman ? { cgroupRoot: h.podman.cgroupRoot, containersConf: h.podman.containersConf, image: h.podman.image } : null,
    })),
    store: {
      kind: state.store.kind,
      url: state.store.url,
      endpoints: state.store.endpoints,
      pid: proc?.pid ?? null,
      running: running(proc),
      netns: state.store.netns,
      logFile: state.store.logFile,
      ...(members ? { members, leader: members.find((m) => m.leader)?.index ?? null } : {}),
    },
    controller: {
      url: state.controller.url,
      tcpUrl: state.controller.tcpUrl,
      tokenFile: state.controller.tokenFile,
      pid: state.controller.process?.pid ?? null,
      running: running(state.controller.process),
      netns: state.controller.netns,
      logFile: state.controller.logFile,
    },
    controllers: controllers(state).map((c) => ({
      name: c.name, url: c.url, tcpUrl: c.tcpUrl, pid: c.process?.pid ?? null, running: running(c.process), netns: c.netns, logFile: c.logFile,
    })),
    tls: state.pki ? { ca: state.pki.ca, cert: etcdctlTls(state.pki).certFile, key: etcdctlTls(state.pki).keyFile } : null,
    outside: outside
      ? {
        netns: outside.netns, ip: outside.ip, network: outside.network,
        routerNetns: outside.routerNetns, routerIp: outside.routerIp, routerUnderlayIp: outside.routerUnderlayIp,
        services: OUTSIDE_SERVICES, pid: outside.process?.pid ?? null, running: running(outside.process), missingSockets: outsideMissing, logFile: outside.logFile,
      }
      : null,
    problems,
  };
}

function findHost(state: LabState, host: string): LabHost {
  const h = state.hosts.find((x) => x.name === host);
  if (!h) throw new LabHostNotFound(state.name, host, state.hosts.map((x) => x.name).join(', '));
  return h;
}

/**
 * Run a command on a lab host: in its machine (network, mounts, host name), with our
 * stdio. Resolves with the command's exit code (128 + signal number when killed).
 * Equivalent to: nsenter --net=… --mount=… --uts=… (of the host's keeper) -- CMD...
 */
export async function labExec(name: string, host: string, cmd: string[]): Promise<number> {
  const state = readLabState(name);
  if (!state) throw new LabNotFound(name, knownLabsHint());
  const h = findHost(state, host);
  if (cmd.length === 0) throw new InvalidArgument('lab exec needs a command after the host, e.g. `vxnet lab exec h1 -- ip addr`');
  requireRoot('vxnet lab exec');
  if (!h.keeper || !isAlive(h.keeper)) throw new InvalidArgument(`lab "${name}" host ${host} is not running (its machine is gone); see \`vxnet lab status\``);
  const child = spawn('nsenter', [...enterArgs(h.keeper), '--', ...cmd], { stdio: 'inherit' });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, sig) => resolve(code ?? 128 + (sig ? signalNumber(sig) : 0)));
  });
}

function signalNumber(sig: NodeJS.Signals): number {
  return constants.signals[sig] ?? 0;
}

/** What `lab kill`/`lab restart` act on: `store`, `controller`, `outside` (its responder), or a host's `agent`/`engine`/`docker`. */
export interface LabTarget {
  target: string;
  daemon?: string;
  /** With `store`: one etcd member (1-based) of a cluster; with `controller`: which controller (1-based). */
  member?: number;
}

type Resolved =
  | { kind: 'store'; what: string }
  | { kind: 'member'; what: string; member: LabStoreMember }
  | { kind: 'outside'; what: string; outside: LabOutside }
  | { kind: 'docker'; what: string; host: LabHost; dockerd: LabDockerd }
  | { kind: DaemonKind; what: string; machine: LabMachine; daemon: LabDaemon };

function resolveTarget(state: LabState, t: LabTarget): Resolved {
  if (t.target === 'store' || t.target === 'controller' || t.target === 'outside') {
    if (t.daemon !== undefined) throw new InvalidArgument(`\`${t.target}\` takes no daemon name (got "${t.daemon}")`);
    if (t.member !== undefined) {
      if (t.target === 'store') {
        const members = state.store.members ?? [];
        const m = members.find((x) => x.index === t.member);
        if (!m) {
          throw new InvalidArgument(members.length > 0
            ? `lab "${state.name}" has no etcd member ${t.member} (members: 1-${members.length})`
            : `lab "${state.name}" runs a single ${state.store.kind}, not a cluster: --member needs a lab made with --store-members 3`);
        }
        return { kind: 'member', what: `etcd member ${m.index} (${m.name})`, member: m };
      }
      if (t.target === 'controller') {
        const c = controllers(state)[t.member - 1];
        if (!c) throw new InvalidArgument(`lab "${state.name}" has no controller ${t.member} (controllers: 1-${controllers(state).length})`);
        return { kind: 'controller', what: t.member === 1 ? 'the controller' : `the controller on ${c.name}`, machine: c, daemon: c };
      }
      throw new InvalidArgument('`outside` takes no --member');
    }
    if (t.target === 'outside') {
      if (!state.outside) throw new InvalidArgument(`lab "${state.name}" has no outside (it was made before the outside existed: recreate it)`);
      return { kind: 'outside', what: 'the outside responder', outside: state.outside };
    }
    return t.target === 'store' ? { kind: 'store', what: state.store.kind } : { kind: 'controller', what: 'the controller', machine: state.controller, daemon: state.controller };
  }
  const h = findHost(state, t.target);
  if (t.daemon === 'docker') {
    if (!h.docker) throw new LabWithoutDocker(state.name, h.name);
    return { kind: 'docker', what: `dockerd of ${h.name}`, host: h, dockerd: h.docker };
  }
  if (t.daemon !== 'agent' && t.daemon !== 'engine') {
    const docker = h.docker ? ', `engine` or `docker`' : ' or `engine`';
    throw new InvalidArgument(`which daemon of ${h.name}? expected \`agent\`${docker}, got ${t.daemon === undefined ? 'nothing' : `"${t.daemon}"`}`);
  }
  return { kind: t.daemon, what: `the ${t.daemon} of ${h.name}`, machine: h, daemon: h[t.daemon] };
}

/**
 * Send a signal to a lab daemon (default SIGTERM), by its recorded pid; waits until it
 * has exited when the signal is TERM or KILL. For rehearsing failures.
 */
export async function labKill(name: string, t: LabTarget, signal = 'SIGTERM'): Promise<{ what: string; pid: number; signal: string }> {
  const state = readLabState(name);
  if (!state) throw new LabNotFound(name, knownLabsHint());
  requireRoot('vxnet lab kill');
  const sig = (signal.startsWith('SIG') ? signal : `SIG${signal}`).toUpperCase() as NodeJS.Signals;
  if (constants.signals[sig] === undefined) throw new InvalidArgument(`unknown signal "${signal}" (e.g. TERM, KILL, STOP, CONT)`);
  const r = resolveTarget(state, t);
  const rec = r.kind === 'store' ? state.store.process : r.kind === 'member' ? r.member.process : r.kind === 'outside' ? r.outside.process : r.kind === 'docker' ? r.dockerd.process : r.daemon.process;
  if (r.kind === 'store' && state.store.members) return killMembers(state, sig);
  if (!rec || !isAlive(rec)) throw new InvalidArgument(`${r.what} of lab "${name}" is not running; nothing was signalled`);
  process.kill(rec.pid, sig);
  if (sig === 'SIGTERM' || sig === 'SIGKILL') {
    const deadline = Date.now() + 15_000;
    while (isAlive(rec) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
  }
  return { what: r.what, pid: rec.pid, signal: sig };
}

/** `lab kill store` on a cluster: every member that runs (pid: the first one signalled). */
async function killMembers(state: LabState, sig: NodeJS.Signals): Promise<{ what: string; pid: number; signal: string }> {
  const live = (state.store.members ?? []).filter((m) => m.process && isAlive(m.process));
  if (live.length === 0) throw new InvalidArgument(`no etcd member of lab "${state.name}" is running; nothing was signalled`);
  for (const m of live) process.kill((m.process as ProcessRecord).pid, sig);
  if (sig === 'SIGTERM' || sig === 'SIGKILL') {
    const deadline = Date.now() + 15_000;
    while (live.some((m) => isAlive(m.process as ProcessRecord)) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
  }
  return { what: `etcd members ${live.map((m) => m.index).join(', ')}`, pid: (live[0]?.process as ProcessRecord).pid, signal: sig };
}

/** Stop a lab daemon (if running) and start it again from its recorded command line; waits until healthy. */
export async function labRestart(name: string, t: LabTarget, log: Logger): Promise<{ what: string; pid: number }> {
  const state = readLabState(name);
  if (!state) throw new LabNotFound(name, knownLabsHint());
  requireRoot('vxnet lab restart');
  const r = resolveTarget(state, t);
  if (r.kind === 'member') {
    if (r.member.process) await stopProcess(r.member.process);
    const proc = startMember(state, r.member);
    await waitEtcdHealthy(r.member.clientUrl, { netnsPath: netnsPath(r.member.netns), isAlive: () => isAlive(proc), ...(state.pki ? { tls: etcdctlTls(state.pki) } : {}) });
    log.info({ lab: name, pid: proc.pid, member: r.member.index }, 'etcd member restarted');
    return { what: r.what, pid: proc.pid };
  }
  if (r.kind === 'store') {
    const old = state.store.process;
    if (old) await stopProcess(old);
    for (const m of state.store.members ?? []) if (m.process) await stopProcess(m.process);
    const proc = startStore(state);
    await waitStore(state, proc);
    log.info({ lab: name, pid: proc.pid, store: state.store.kind }, 'store restarted');
    return { what: r.what, pid: proc.pid };
  }
  if (r.kind === 'outside') {
    if (r.outside.process) await stopProcess(r.outside.process);
    const proc = startOutside(state, r.outside);
    await waitResponder(r.outside, proc);
    log.info({ lab: name, pid: proc.pid }, 'outside responder restarted');
    return { what: r.what, pid: proc.pid };
  }
  if (r.kind === 'docker') {
    // as `systemctl restart docker`: dockerd stops its containers and starts those with a restart policy again
    await stopDockerd(r.dockerd, { endContainers: false });
    await launchDockerd(state, r.host, r.dockerd);
    log.info({ lab: name, daemon: r.what, pid: r.dockerd.process?.pid }, 'daemon restarted');
    return { what: r.what, pid: r.dockerd.process?.pid ?? 0 };
  }
  await stopDaemon(r.daemon);
  await launch(state, r.machine, r.kind, r.daemon, r.what);
  log.info({ lab: name, daemon: r.what, pid: r.daemon.process?.pid }, 'daemon restarted');
  return { what: r.what, pid: r.daemon.process?.pid ?? 0 };
}

/**
 * Run the docker CLI that came with dockerd against a lab host's dockerd, from the root
 * namespace (so file arguments such as `docker import ./x.tar` are the caller's), with our
 * stdio. Resolves with its exit code. Equivalent to:
 *   DOCKER_HOST=unix:///proc/<keeper>/root/run/docker.sock docker ARGS...
 */
export async function labDocker(name: string, host: string, args: string[]): Promise<number> {
  const state = readLabState(name);
  if (!state) throw new LabNotFound(name, knownLabsHint());
  const h = findHost(state, host);
  if (!h.docker) throw new LabWithoutDocker(name, h.name);
  requireRoot('vxnet lab docker');
  if (!h.keeper || !isAlive(h.keeper)) throw new InvalidArgument(`lab "${name}" host ${host} is not running (its machine is gone); see \`vxnet lab status\``);
  const { docker } = dockerTools();
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: `unix://${dockerSocketFromRoot(h, h.docker)}`, DOCKER_CONFIG: join(labDir(name), 'docker-cli') };
  delete env.DOCKER_CONTEXT;
  const child = spawn(docker, args, { stdio: 'inherit', env });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, sig) => resolve(code ?? 128 + (sig ? signalNumber(sig) : 0)));
  });
}

/**
 * Run podman on a lab host (labs made with --podman): in its machine, as `lab exec`
 * does, with our stdio, so it uses the host's storage, CNI configs and cgroup tree.
 * File arguments are paths inside the machine (the root's file system, with the
 * host's own /run, /etc/cni/net.d, …). Resolves with podman's exit code. Equivalent to:
 *   nsenter --net=… --mount=… --uts=… (of the host's keeper) -- podman ARGS...
 */
export async function labPodman(name: string, host: string, args: string[]): Promise<number> {
  const state = readLabState(name);
  if (!state) throw new LabNotFound(name, knownLabsHint());
  const h = findHost(state, host);
  if (!h.podman) throw new LabWithoutPodman(name, h.name);
  requireRoot('vxnet lab podman');
  podmanTools();
  return labExec(name, host, ['podman', ...args]);
}
