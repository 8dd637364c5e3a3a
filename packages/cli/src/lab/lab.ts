/**
 * The lab: a whole vxnet cluster on one machine. Simulated hosts are network
 * namespaces joined by veths to an underlay switch (a bridge in a namespace of its
 * own, so no lab link ever appears in the root namespace); etcd runs in one more
 * namespace on the same underlay.
 *
 *   vx-<lab>.sw     br0, with one port p-<host> per host and p-etcd
 *   vx-<lab>.h1     eth0 = <underlay>.1      (h2 = .2, ...)
 *   vx-<lab>.etcd   eth0 = last usable address of the underlay; etcd on :2379
 *   vx-<lab>.ctl    eth0 = the one before; the controller on :7070, and on a unix
 *                   socket in the lab directory for the CLI in the root namespace
 *
 * Lab names cannot contain '.', so the prefix `vx-<lab>.` belongs to one lab only and
 * several labs can be up at once, even on the same underlay CIDR.
 */
import { existsSync, mkdirSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  InvalidArgument, addressAt, callJson, parseIpv4, cidrSize, isAlive, parseCidr, recordProcess, spawnDaemon, spawnEtcd, stopProcess,
  waitEtcdHealthy, type Logger, type ProcessRecord,
} from '@vxnet/common';
import { clearContextLab, labsDir, setContextLab } from '../context.js';
import { CommandFailed, LabExists, LabHostNotFound, LabLeftover, LabNotFound, LabUpFailed, MissingTool, NotRoot } from '../errors.js';
import { addNetns, deleteNetns, ip, listNetns, netnsExists, netnsPath, pidsInNetns } from './ip.js';
import { labDir, readLabState, writeLabState, type LabHost, type LabState } from './lab-state.js';

export const DEFAULT_UNDERLAY = '192.0.2.0/24';
export const DEFAULT_HOSTS = 3;
const LAB_NAME = /^[a-z0-9](?:[a-z0-9-]{0,22}[a-z0-9])?$/;
/** Underlay addresses kept for the lab's own services: etcd now, the controller next. */
const RESERVED_ADDRESSES = 2;
const UNDERLAY_MTU = 1500;
const CONTROLLER_PORT = 7070;

export interface LabUpOptions {
  name: string;
  hosts: number;
  underlay: string;
  /** DNS servers the agents forward other names to (IP[:port], comma-separated), e.g. one on the underlay; default: none. */
  dnsUpstream?: string;
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
    if (Number.isInteger(opts.hosts) && opts.hosts >= 1 && opts.hosts + RESERVED_ADDRESSES > usable) {
      problems.push(`underlay ${cidr.text} is too small for ${opts.hosts} hosts: it has ${usable} usable addresses and the lab needs ${opts.hosts + RESERVED_ADDRESSES} (hosts + etcd + controller)`);
    }
  } catch (err) {
    problems.push((err as Error).message);
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
 * Bring a lab up: namespaces, underlay, etcd (waited for until healthy), and make it
 * the current lab. Not idempotent by design: a lab that is already up (or half made)
 * is refused and left untouched. On any failure everything made so far is removed.
 */
export async function labUp(opts: LabUpOptions, log: Logger): Promise<LabState> {
  validateLabOptions(opts);
  requireRoot('vxnet lab up');
  requireTools(['ip', 'nsenter', 'etcd', 'etcdctl']);
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
  const etcdNetns = `${prefix}etcd`;
  const etcdIp = addressAt(underlay, -2);
  const controllerIp = addressAt(underlay, -3);
  const state: LabState = {
    name: opts.name,
    phase: 'creating',
    createdAt: new Date().toISOString(),
    underlay: underlay.text,
    ...(opts.dnsUpstream ? { dnsUpstream: opts.dnsUpstream } : {}),
    imagesDir: join(dir, 'images'),
    mtu: UNDERLAY_MTU,
    netnsPrefix: prefix,
    switchNetns: `${prefix}sw`,
    namespaces: [],
    hosts: Array.from({ length: opts.hosts }, (_, i) => {
      const name = `h${i + 1}`;
      return {
        name,
        netns: `${prefix}${name}`,
        underlayIp: addressAt(underlay, i + 1),
        agent: {
          socket: join(dir, name, 'agent.sock'),
          stateDir: join(dir, name, 'agent'),
          logFile: join(dir, name, 'agent.log'),
          netnsPrefix: `${prefix}${name}.n-`,
        },
        engine: {
          socket: join(dir, name, 'engine.sock'),
          stateDir: join(dir, name, 'engine'),
          logFile: join(dir, name, 'engine.log'),
          netnsPrefix: `${prefix}${name}.`,
        },
      };
    }),
    store: {
      kind: 'etcd',
      netns: etcdNetns,
      underlayIp: etcdIp,
      endpoints: [`http://${etcdIp}:2379`],
      dataDir: join(dir, 'etcd'),
      logFile: join(dir, 'etcd.log'),
    },
    controller: {
      netns: `${prefix}ctl`,
      underlayIp: controllerIp,
      url: `unix://${join(dir, 'controller.sock')}`,
      tcpUrl: `http://${controllerIp}:${CONTROLLER_PORT}`,
      logFile: join(dir, 'controller.log'),
    },
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
  attach(state.store.netns, 'p-etcd', state.store.underlayIp);
  attach(state.controller.netns, 'p-ctl', state.controller.underlayIp);
  log.debug({ namespaces: state.namespaces.length }, 'underlay ready');

  const { store } = state;
  const proc = spawnEtcd({
    name: `vxnet-${state.name}`,
    dataDir: store.dataDir,
    listenClientUrls: [`http://${store.underlayIp}:2379`, 'http://127.0.0.1:2379'],
    advertiseClientUrls: store.endpoints,
    peerUrl: 'http://127.0.0.1:2380',
    logFile: store.logFile,
    netnsPath: netnsPath(store.netns),
    detached: true,
  });
  store.process = proc;
  writeLabState(state);
  await waitEtcdHealthy(store.endpoints[0] as string, { netnsPath: netnsPath(store.netns), isAlive: () => isAlive(proc) });
  log.debug({ pid: proc.pid }, 'etcd healthy');

  const ctl = state.controller;
  const ctlProc = spawnDaemon({
    command: process.execPath,
    args: [
      daemonBin('vxnet-controller'),
      '--store', store.endpoints.join(','),
      '--socket', ctl.url.slice('unix://'.length),
      '--listen', `${ctl.underlayIp}:${CONTROLLER_PORT}`,
      '--underlay', state.underlay,
      '--log-file', ctl.logFile,
    ],
    logFile: ctl.logFile,
    netnsPath: netnsPath(ctl.netns),
    detached: true,
  });
  ctl.process = ctlProc;
  writeLabState(state);
  await waitHealthy('vxnet-controller', ctl.url, '/v1/health', () => isAlive(ctlProc));
  log.debug({ pid: ctlProc.pid }, 'controller healthy');

  // one agent per host, in the host's namespace; started together, waited for together
  for (const host of state.hosts) {
    mkdirSync(host.agent.stateDir, { recursive: true });
    host.agent.process = spawnDaemon({
      command: process.execPath,
      args: [
        daemonBin('vxnet-agent'),
        '--host', host.name,
        '--store', store.endpoints.join(','),
        '--underlay-ip', host.underlayIp,
        '--underlay-interface', 'eth0',
        '--state-dir', host.agent.stateDir,
        '--socket', host.agent.socket,
        '--netns-prefix', host.agent.netnsPrefix,
        '--log-file', host.agent.logFile,
        // lab hosts reach nothing outside the lab: forward only where the user says
        '--dns-upstream', state.dnsUpstream ?? '',
      ],
      logFile: host.agent.logFile,
      netnsPath: netnsPath(host.netns),
      detached: true,
    });
    writeLabState(state);
  }
  await Promise.all(state.hosts.map((h) => {
    const rec = h.agent.process as ProcessRecord;
    return waitHealthy(`vxnet-agent on ${h.name}`, `unix://${h.agent.socket}`, '/v1/status', () => isAlive(rec));
  }));
  log.debug({ hosts: state.hosts.length }, 'agents healthy');

  // one engine per host, next to its agent; it kills its containers when lab down stops it
  for (const host of state.hosts) {
    const engine = host.engine;
    if (!engine) continue;
    mkdirSync(engine.stateDir, { recursive: true });
    engine.process = spawnDaemon({
      command: process.execPath,
      args: engineArgs(state, host),
      logFile: engine.logFile,
      netnsPath: netnsPath(host.netns),
      detached: true,
    });
    writeLabState(state);
  }
  await Promise.all(state.hosts.map((h) => {
    if (!h.engine) return undefined;
    const rec = h.engine.process as ProcessRecord;
    return waitHealthy(`vxnet-engine on ${h.name}`, `unix://${h.engine.socket}`, '/v1/health', () => isAlive(rec));
  }));
  log.debug({ hosts: state.hosts.length }, 'engines healthy');
}

/** The engine's command line for a lab host (also what a test uses to restart one). */
export function engineArgs(state: LabState, host: LabHost): string[] {
  const engine = host.engine;
  if (!engine) throw new Error(`lab host ${host.name} has no engine`);
  return [
    daemonBin('vxnet-engine'),
    '--host', host.name,
    '--state-dir', engine.stateDir,
    '--images-dir', state.imagesDir ?? join(labDir(state.name), 'images'),
    '--socket', engine.socket,
    '--agent-socket', host.agent.socket,
    '--netns-prefix', engine.netnsPrefix,
    '--log-file', engine.logFile,
    '--stop-containers-on-exit',
  ];
}

/**
 * A daemon's executable, found the way a shell would, so the lab runs exactly what a
 * host runs: VXNET_BIN_DIR if set, else the `node_modules/.bin` next to this CLI's
 * installation (npm links every workspace's bins there), else PATH.
 */
export function daemonBin(name: 'vxnet-controller' | 'vxnet-agent' | 'vxnet-engine'): string {
  const dirs: string[] = [];
  if (process.env.VXNET_BIN_DIR) dirs.push(process.env.VXNET_BIN_DIR);
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    dirs.push(join(dir, 'node_modules', '.bin'));
    if (dirname(dir) === dir) break;
  }
  dirs.push(...(process.env.PATH ?? '').split(':').filter(Boolean));
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (existsSync(candidate)) return realpathSync(candidate);
  }
  throw new MissingTool(name);
}

/** Poll GET `path` on a daemon's unix socket until it answers 2xx. */
async function waitHealthy(what: string, url: string, path: string, alive: () => boolean, timeoutMs = 60_000): Promise<void> {
  // generous: a loaded 2-core machine starting a dozen Node daemons needs tens of seconds
  const socketPath = url.slice('unix://'.length);
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (!alive()) throw new CommandFailed(what, 'it exited at start (see its log in the lab directory)');
    try {
      await callJson({ socketPath }, 'GET', path, undefined, {
        timeoutMs: 5000,
        who: what,
        unreachable: (err) => new CommandFailed(what, `not reachable at ${url}: ${err.message}`),
      });
      return;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(50);
  }
  throw new CommandFailed(what, `not healthy after ${timeoutMs} ms: ${last}`);
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
  // engines first (they kill their containers and release endpoints while agents still run),
  // agents (their clean stop revokes liveness) and the controller before the store they talk to
  await Promise.all((state?.hosts ?? []).map(async (h) => {
    const rec = h.engine?.process;
    if (rec && isAlive(rec)) {
      processes.push(rec.pid);
      await stopProcess(rec, 10_000);
    }
  }));
  for (const rec of [...(state?.hosts ?? []).map((h) => h.agent?.process), state?.controller?.process, state?.store.process]) {
    if (rec && isAlive(rec)) {
      processes.push(rec.pid);
      await stopProcess(rec);
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
    name: string; netns: string; underlayIp: string; present: boolean; pids: { agent: number | null; engine: number | null };
    agentRunning: boolean; agentSocket: string; engineRunning: boolean; engineSocket: string | null;
  }>;
  store: { kind: 'etcd'; endpoints: string[]; pid: number | null; running: boolean; netns: string; logFile: string };
  controller: { url: string; tcpUrl: string; pid: number | null; running: boolean; netns: string; logFile: string };
  problems: string[];
}

export function labStatus(name: string): LabStatus {
  const state = readLabState(name);
  if (!state) throw new LabNotFound(name, knownLabsHint());
  const problems: string[] = [];
  for (const ns of state.namespaces) if (!netnsExists(ns)) problems.push(`namespace ${ns} is missing`);
  const proc = state.store.process;
  const running = proc !== undefined && isAlive(proc);
  if (!running) problems.push(proc ? `etcd (pid ${proc.pid}) is not running` : 'etcd was never started');
  for (const h of state.hosts) {
    const a = h.agent.process;
    if (!a || !isAlive(a)) problems.push(a ? `the agent of ${h.name} (pid ${a.pid}) is not running` : `the agent of ${h.name} was never started`);
    const e = h.engine?.process;
    if (h.engine && (!e || !isAlive(e))) problems.push(e ? `the engine of ${h.name} (pid ${e.pid}) is not running` : `the engine of ${h.name} was never started`);
  }
  const ctl = state.controller.process;
  const ctlRunning = ctl !== undefined && isAlive(ctl);
  if (!ctlRunning) problems.push(ctl ? `the controller (pid ${ctl.pid}) is not running` : 'the controller was never started');
  if (state.phase !== 'up') problems.push(`lab is in phase "${state.phase}"`);
  return {
    name: state.name,
    phase: state.phase,
    health: problems.length === 0 ? 'running' : 'degraded',
    underlay: state.underlay,
    mtu: state.mtu,
    dir: labDir(name),
    hosts: state.hosts.map((h) => {
      const agent = h.agent.process;
      const engine = h.engine?.process;
      return {
        name: h.name,
        netns: h.netns,
        underlayIp: h.underlayIp,
        present: netnsExists(h.netns),
        pids: { agent: agent?.pid ?? null, engine: engine?.pid ?? null },
        agentRunning: agent !== undefined && isAlive(agent),
        agentSocket: h.agent.socket,
        engineRunning: engine !== undefined && isAlive(engine),
        engineSocket: h.engine?.socket ?? null,
      };
    }),
    store: {
      kind: 'etcd',
      endpoints: state.store.endpoints,
      pid: proc?.pid ?? null,
      running,
      netns: state.store.netns,
      logFile: state.store.logFile,
    },
    controller: {
      url: state.controller.url,
      tcpUrl: state.controller.tcpUrl,
      pid: ctl?.pid ?? null,
      running: ctlRunning,
      netns: state.controller.netns,
      logFile: state.controller.logFile,
    },
    problems,
  };
}

/**
 * Run a command on a lab host: in the host's network namespace, with our stdio.
 * Resolves with the command's exit code (128 + signal number when killed).
 * Equivalent to: nsenter --net=/run/netns/vx-LAB.HOST -- CMD...
 */
export async function labExec(name: string, host: string, cmd: string[]): Promise<number> {
  const state = readLabState(name);
  if (!state) throw new LabNotFound(name, knownLabsHint());
  const h = state.hosts.find((x) => x.name === host);
  if (!h) throw new LabHostNotFound(name, host, state.hosts.map((x) => x.name).join(', '));
  if (cmd.length === 0) throw new InvalidArgument('lab exec needs a command after the host, e.g. `vxnet lab exec h1 -- ip addr`');
  requireRoot('vxnet lab exec');
  const child = spawn('nsenter', [`--net=${netnsPath(h.netns)}`, '--', ...cmd], { stdio: 'inherit' });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, sig) => resolve(code ?? 128 + (sig ? signalNumber(sig) : 0)));
  });
}

function signalNumber(sig: NodeJS.Signals): number {
  return constants.signals[sig] ?? 0;
}
