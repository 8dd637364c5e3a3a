/**
 * The engine's policy: container lifecycle over a sandbox (network namespace),
 * endpoints from the local agent, per-container /etc files, and runc.
 *
 * Run order (each step pushes its undo; any failure unwinds them all, so a failed
 * run leaves no namespace, endpoint, runc state or directory behind):
 *   1. name reserved, directory + record (status "creating": a crash here is rolled
 *      back by the next engine start)
 *   2. sandbox namespace, loopback up              (overlay and none modes)
 *   3. one endpoint per --net from the agent, eth0, eth1, …
 *   4. hosts, resolv.conf, hostname; config.json
 *   5. runc run under a shim (see runtime/runc.ts)
 *
 * A stopped container keeps its sandbox and endpoints (so its addresses), as a
 * Docker container keeps its name; `start` runs it again in them. `rm` removes all.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { InvalidArgument, VxnetError, isAlive, recordProcess, type Logger } from '@vxnet/common';
import type { AttachRequest, ContainerView, ExecRequest, LogChunk, RunRequest } from '@vxnet/common/api';
import type { AgentClient } from './agent-client.js';
import {
  AlreadyConnected, ContainerAmbiguous, ContainerBusy, ContainerNameTaken, ContainerNotFound, ContainerNotRunning, ContainerRunning,
  ContainerStartFailed, NetworkModeInvalid, NoTerminal, NotConnected,
} from './errors.js';
import { ContainerConsole } from './exec/container-console.js';
import { runExecSession } from './exec/exec-session.js';
import type { ImageStore } from './image/images.js';
import { generateName, hostnameProblem, nameProblem } from './names.js';
import { buildSpec } from './runtime/oci-spec.js';
import type { Runc } from './runtime/runc.js';
import { hostnameFile, hostsFile, readHostResolvConf, resolvConf, rewriteInPlace, type HostsEntry } from './sandbox/etc-files.js';
import type { Sandboxes } from './sandbox/sandbox.js';
import {
  containerFiles, readRecords, writeRecord, type ContainerEndpoint, type ContainerRecord, type NetworkMode,
} from './state/container-record.js';

export interface EngineOptions {
  host: string;
  stateDir: string;
  runc: Runc;
  agent: AgentClient;
  sandboxes: Sandboxes;
  images: ImageStore;
  log: Logger;
}

/** `sh` that stays up until SIGTERM (as pid 1 it needs a handler to die from it). */
export const KEEP_ALIVE = ['sh', '-c', "trap 'exit 143' TERM INT; while :; do sleep 1 & wait $!; done"];
const MAX_LOG_CHUNK = 4 << 20;

export class Engine {
  private readonly containers = new Map<string, ContainerRecord>();
  /** name -> id, including names reserved by runs in progress */
  private readonly names = new Map<string, string>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly busy = new Set<string>();
  /** Terminals of the running containers that have one (`run -t`). */
  private readonly consoles = new Map<string, ContainerConsole>();
  private monitor: NodeJS.Timeout | undefined;

  constructor(private readonly o: EngineOptions) {}

  /**
   * Read every container's record: running ones are adopted (their shims outlived
   * the previous engine), dead ones are marked exited, half-made ones rolled back.
   */
  async load(): Promise<void> {
    for (const { id, record } of readRecords(this.o.stateDir)) {
      if (!record || record.status === 'creating') {
        this.o.log.warn({ container: { id } }, 'rolling back a container left half made');
        await this.purge(id, record).catch((err: unknown) => this.o.log.error({ err, container: { id } }, 'rollback failed'));
        continue;
      }
      this.containers.set(id, record);
      this.names.set(record.name, id);
      this.refresh(record);
    }
    this.o.log.info({ containers: this.containers.size, running: [...this.containers.values()].filter((c) => c.status === 'running').length }, 'containers loaded');
    // notice exits of containers whose shims are not our children (adopted after a restart)
    this.monitor = setInterval(() => {
      for (const rec of this.containers.values()) this.refresh(rec);
    }, 1000);
    this.monitor.unref();
  }

  close(): void {
    clearInterval(this.monitor);
  }

  // ---- queries ---------------------------------------------------------------

  list(all: boolean): ContainerView[] {
    return [...this.containers.values()]
      .map((r) => (this.refresh(r), r))
      .filter((r) => all || r.status === 'running')
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt))
      .map((r) => this.view(r));
  }

  inspect(ref: string): ContainerView {
    return this.view(this.find(ref));
  }

  /** Bytes of the container's log from `offset` (at most 4 MiB per call). */
  logs(ref: string, offset: number): LogChunk {
    const rec = this.find(ref);
    const file = containerFiles(this.o.stateDir, rec.id).log;
    let fd: number;
    try {
      fd = openSync(file, 'r');
    } catch {
      return { data: '', offset, running: rec.status === 'running' };
    }
    try {
      const size = fstatSync(fd).size;
      const start = Math.min(Math.max(0, offset), size);
      const len = Math.min(size - start, MAX_LOG_CHUNK);
      const buf = Buffer.alloc(len);
      const n = len > 0 ? readSync(fd, buf, 0, len, start) : 0;
      return { data: buf.subarray(0, n).toString('base64'), offset: start + n, running: rec.status === 'running' };
    } finally {
      closeSync(fd);
    }
  }

  /** Resolves with the exit code once the container is not running (null: unknown). */
  async wait(ref: string): Promise<number | null> {
    const rec = this.find(ref);
    while (this.refresh(rec).status === 'running') await sleep(20);
    return rec.exitCode;
  }

  // ---- run -------------------------------------------------------------------

  /** Create and start a container. Throws a VxnetError for every bad input; leaves nothing behind on failure. */
  async run(req: RunRequest): Promise<ContainerView> {
    const name = req.name ?? generateName((n) => this.names.has(n));
    const what = `could not create container "${name}"`;
    const problem = nameProblem(name);
    if (problem) throw new InvalidArgument(`${what}: ${problem}`);
    const mode = parseNetworks(req, what);
    for (const a of req.aliases ?? []) {
      const p = nameProblem(a);
      if (p) throw new InvalidArgument(`${what}: ${p.replace('container name', 'alias')}`);
    }
    for (const e of req.env ?? []) {
      if (e.indexOf('=') < 1) throw new InvalidArgument(`${what}: invalid environment entry "${e}": expected KEY=VALUE`);
    }
    if (req.hostname !== undefined) {
      const p = hostnameProblem(req.hostname);
      if (p) throw new InvalidArgument(`${what}: ${p}`);
    }
    if (req.image !== undefined && req.rootfs !== undefined) throw new InvalidArgument(`${what}: give an image or --rootfs, not both`);
    if (req.image === undefined && req.rootfs === undefined) throw new InvalidArgument(`${what}: no image given (e.g. busybox, or --rootfs DIR)`);
    const rootfs = req.rootfs !== undefined ? this.o.images.userRootfs(req.rootfs) : this.o.images.rootfs(req.image as string);
    const taken = this.names.get(name);
    if (taken !== undefined) throw new ContainerNameTaken(name, taken.slice(0, 12));
    let netTarget: ContainerRecord | undefined;
    if (mode.kind === 'container') {
      netTarget = this.find(mode.ref);
      if (this.refresh(netTarget).status !== 'running') throw new NetworkModeInvalid('create', name, `--net container:${mode.ref}: container "${netTarget.name}" is not running`);
    }

    const id = randomBytes(32).toString('hex');
    this.names.set(name, id);
    this.busy.add(id);
    const files = containerFiles(this.o.stateDir, id);
    const undo: Array<() => Promise<unknown> | unknown> = [() => this.names.delete(name)];
    const log = this.o.log.child({ container: { id: id.slice(0, 12), name } });
    const t0 = Date.now();
    try {
      mkdirSync(files.dir, { recursive: true });
      undo.push(() => rmSync(files.dir, { recursive: true, force: true }));
      const rec: ContainerRecord = {
        id, name, image: req.image ?? req.rootfs ?? '', rootfs,
        command: req.cmd && req.cmd.length > 0 ? req.cmd : req.detach && !req.tty ? KEEP_ALIVE : ['sh'],
        ...(req.tty ? { tty: true } : {}),
        env: req.env ?? [],
        hostname: req.hostname ?? (mode.kind === 'host' ? this.o.host : mode.kind === 'container' && netTarget ? netTarget.hostname : id.slice(0, 12)),
        networkMode: mode.kind, netContainer: netTarget?.id ?? null,
        netns: null, netnsPath: null, endpoints: [], status: 'creating', shim: null, init: null, exitCode: null,
        createdAt: new Date().toISOString(), startedAt: null, finishedAt: null,
      };
      writeRecord(this.o.stateDir, rec);

      if (mode.kind === 'overlay' || mode.kind === 'none') {
        const ns = this.o.sandboxes.name(id);
        rec.netns = ns;
        undo.push(() => this.o.sandboxes.delete(ns));
        rec.netnsPath = await this.o.sandboxes.ensure(ns);
        writeRecord(this.o.stateDir, rec);
      } else if (mode.kind === 'container' && netTarget) {
        rec.netnsPath = netTarget.netnsPath;
      }
      if (mode.kind === 'overlay') {
        for (const [i, network] of mode.networks.entries()) {
          const ep = await this.o.agent.createEndpoint({
            network, sandbox: rec.netnsPath as string, name, container: id, ifname: `eth${i}`,
            ...(req.aliases?.length ? { aliases: req.aliases } : {}), ...(i === 0 && req.ip !== undefined ? { ip: req.ip } : {}),
          });
          undo.push(() => this.o.agent.deleteEndpoint(ep.id));
          rec.endpoints.push(toContainerEndpoint(ep));
          writeRecord(this.o.stateDir, rec);
        }
      }
      this.writeEtcFiles(rec, netTarget);
      undo.push(() => this.o.runc.delete(id));
      await this.startProcess(rec);
      this.containers.set(id, rec);
      this.busy.delete(id);
      log.info({ ms: Date.now() - t0, networks: rec.endpoints.map((e) => ({ network: e.network, ip: e.ip })), mode: rec.networkMode }, 'container running');
      return this.view(rec);
    } catch (err) {
      log.warn({ err }, 'container run failed, rolling back');
      for (const u of undo.reverse()) {
        try {
          await u();
        } catch (e) {
          log.error({ err: e }, 'rollback step failed');
        }
      }
      this.busy.delete(id);
      throw withContext(what, err);
    }
  }

  // ---- lifecycle -------------------------------------------------------------

  /** Run a stopped container again, in its sandbox with its endpoints. Running already: no-op. */
  start(ref: string): Promise<ContainerView> {
    const rec = this.find(ref);
    return this.locked(rec.id, async () => {
      if (this.refresh(rec).status === 'running') return this.view(rec);
      let netTarget: ContainerRecord | undefined;
      if (rec.networkMode === 'container') {
        netTarget = rec.netContainer ? this.containers.get(rec.netContainer) : undefined;
        if (!netTarget || this.refresh(netTarget).status !== 'running') {
          throw new NetworkModeInvalid('start', rec.name, `the container whose network it joins (${rec.netContainer?.slice(0, 12) ?? '?'}) is not running`);
        }
        rec.netnsPath = netTarget.netnsPath;
      }
      if (rec.netns) await this.o.sandboxes.ensure(rec.netns);
      this.writeEtcFiles(rec, netTarget);
      await this.o.runc.delete(rec.id); // leftover state of a runc that died abnormally
      await this.startProcess(rec);
      this.o.log.info({ container: { id: rec.id.slice(0, 12), name: rec.name } }, 'container started');
      return this.view(rec);
    });
  }

  /** SIGTERM, then SIGKILL after `timeoutSec`. Not running: no-op. */
  stop(ref: string, timeoutSec = 10): Promise<ContainerView> {
    const rec = this.find(ref);
    return this.locked(rec.id, async () => {
      await this.terminate(rec, timeoutSec * 1000);
      return this.view(rec);
    });
  }

  /** Remove a container and everything it had. Refused while running unless `force` (then killed first). */
  remove(ref: string, force: boolean): Promise<{ id: string; name: string }> {
    const rec = this.find(ref);
    return this.locked(rec.id, async () => {
      if (this.refresh(rec).status === 'running') {
        if (!force) throw new ContainerRunning('remove', rec.name, ', or use rm -f');
        await this.terminate(rec, 0);
      }
      this.busy.add(rec.id);
      try {
        await this.purge(rec.id, rec);
      } finally {
        this.busy.delete(rec.id);
      }
      this.containers.delete(rec.id);
      if (this.names.get(rec.name) === rec.id) this.names.delete(rec.name);
      this.o.log.info({ container: { id: rec.id.slice(0, 12), name: rec.name } }, 'container removed');
      return { id: rec.id, name: rec.name };
    });
  }

  /**
   * Check an exec of `req` in running container `ref` (throws ContainerNotFound,
   * ContainerNotRunning, InvalidArgument) and return what starts it on a connection
   * carrying the exec frame stream (exec/exec-session.ts); that resolves with the exit code.
   */
  exec(ref: string, req: ExecRequest): (conn: Duplex, initial: Buffer) => Promise<number> {
    const rec = this.find(ref);
    const bad = (req.env ?? []).find((e) => e.indexOf('=') < 1);
    if (bad !== undefined) throw new InvalidArgument(`could not exec in container "${rec.name}": invalid environment entry "${bad}": expected KEY=VALUE`);
    if (this.refresh(rec).status !== 'running') throw new ContainerNotRunning('exec in', rec.name);
    const log = this.o.log.child({ container: { id: rec.id.slice(0, 12), name: rec.name }, exec: { tty: req.tty === true } });
    return (conn, initial) => runExecSession({ runc: this.o.runc, id: rec.id, dir: containerFiles(this.o.stateDir, rec.id).dir, req, conn, initial, log });
  }

  /**
   * Check an attach to running container `ref`, which must have a terminal the engine
   * holds (throws otherwise), and return what attaches a connection carrying the frame
   * stream (exec/container-console.ts); that resolves when the client is gone.
   */
  attach(ref: string, req: AttachRequest): (conn: Duplex, initial: Buffer) => Promise<void> {
    const rec = this.find(ref);
    if (this.refresh(rec).status !== 'running') throw new ContainerNotRunning('attach to', rec.name);
    const terminal = this.consoles.get(rec.id);
    if (!terminal) throw new NoTerminal(rec.name, rec.tty ? 'its terminal was lost when the engine restarted' : 'it was not run with -t');
    if (req.rows && req.cols) terminal.resize(req.rows, req.cols);
    return (conn, initial) => terminal.attach(conn, initial, req.stdin === true);
  }

  /** Attach a container (running or stopped) to one more overlay network: next ethN, /etc/hosts updated. */
  connect(ref: string, network: string, opts: { aliases?: string[]; ip?: string } = {}): Promise<ContainerView> {
    const rec = this.find(ref);
    return this.locked(rec.id, async () => {
      if (rec.networkMode !== 'overlay' || !rec.netnsPath) {
        throw new NetworkModeInvalid('connect', rec.name, `a container on --net ${rec.networkMode} cannot be connected to other networks`);
      }
      if (findEndpoint(rec, network)) throw new AlreadyConnected(rec.name, network);
      const used = new Set(rec.endpoints.map((e) => e.ifname));
      let n = 0;
      while (used.has(`eth${n}`)) n++;
      const ep = await this.o.agent.createEndpoint({
        network, sandbox: rec.netnsPath, name: rec.name, container: rec.id, ifname: `eth${n}`,
        ...(opts.aliases?.length ? { aliases: opts.aliases } : {}), ...(opts.ip !== undefined ? { ip: opts.ip } : {}),
      });
      if (rec.endpoints.some((e) => e.networkId === ep.networkId)) {
        await this.o.agent.deleteEndpoint(ep.id);
        throw new AlreadyConnected(rec.name, ep.networkName);
      }
      rec.endpoints.push(toContainerEndpoint(ep));
      writeRecord(this.o.stateDir, rec);
      this.rewriteNetworkFiles(rec);
      this.o.log.info({ container: { id: rec.id.slice(0, 12), name: rec.name }, network: ep.networkName, ip: ep.ip }, 'container connected');
      return this.view(rec);
    });
  }

  /** Detach a container from an overlay network. */
  disconnect(ref: string, network: string): Promise<ContainerView> {
    const rec = this.find(ref);
    return this.locked(rec.id, async () => {
      const ep = findEndpoint(rec, network);
      if (!ep) throw new NotConnected(rec.name, network);
      await this.o.agent.deleteEndpoint(ep.endpointId);
      rec.endpoints = rec.endpoints.filter((e) => e !== ep);
      writeRecord(this.o.stateDir, rec);
      this.rewriteNetworkFiles(rec);
      this.o.log.info({ container: { id: rec.id.slice(0, 12), name: rec.name }, network: ep.network }, 'container disconnected');
      return this.view(rec);
    });
  }

  /** Kill every running container (the lab's teardown); waits for them, at most 5 s. */
  async killAll(): Promise<void> {
    await Promise.all([...this.containers.values()].filter((r) => this.refresh(r).status === 'running').map((r) => this.terminate(r, 0).catch(() => undefined)));
  }

  // ---- internals -------------------------------------------------------------

  private find(ref: string): ContainerRecord {
    const byId = this.containers.get(ref);
    if (byId) return byId;
    const idOfName = this.names.get(ref);
    const byName = idOfName !== undefined ? this.containers.get(idOfName) : undefined;
    if (byName) return byName;
    if (idOfName !== undefined || this.busy.has(ref)) throw new ContainerBusy('use', ref);
    if (/^[0-9a-f]+$/.test(ref)) {
      const matches = [...this.containers.keys()].filter((id) => id.startsWith(ref));
      if (matches.length === 1) return this.containers.get(matches[0] as string) as ContainerRecord;
      if (matches.length > 1) throw new ContainerAmbiguous(ref, matches.map((m) => m.slice(0, 12)).join(', '));
    }
    throw new ContainerNotFound(ref);
  }

  private locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.locks.set(id, tail);
    void tail.then(() => {
      if (this.locks.get(id) === tail) this.locks.delete(id);
    });
    return next;
  }

  private alive(rec: ContainerRecord): boolean {
    // a terminal's init is a zombie until its console reaps it and writes its exit code
    if (this.consoles.get(rec.id)?.running) return true;
    return (rec.shim !== null && isAlive(rec.shim)) || (rec.init !== null && isAlive(rec.init));
  }

  /** Notice an exit: a running record whose shim and init are gone becomes exited, with the shim's exit code. */
  private refresh(rec: ContainerRecord): ContainerRecord {
    if (rec.status !== 'running' || this.alive(rec)) return rec;
    const files = containerFiles(this.o.stateDir, rec.id);
    let code: number | null = null;
    try {
      const n = Number(readFileSync(files.exit, 'utf8').trim());
      if (Number.isInteger(n)) code = n;
    } catch {
      // the shim died without writing it (killed): unknown
    }
    rec.status = 'exited';
    rec.exitCode = code;
    rec.finishedAt = new Date().toISOString();
    rec.shim = null;
    rec.init = null;
    try {
      writeRecord(this.o.stateDir, rec);
    } catch (err) {
      this.o.log.error({ err }, 'could not write container record');
    }
    this.o.log.info({ container: { id: rec.id.slice(0, 12), name: rec.name }, exitCode: code }, 'container exited');
    return rec;
  }

  private writeEtcFiles(rec: ContainerRecord, netTarget: ContainerRecord | undefined): void {
    const files = containerFiles(this.o.stateDir, rec.id);
    if (rec.networkMode === 'container' && netTarget) {
      // share the joined container's view of the network, as Docker does
      const t = containerFiles(this.o.stateDir, netTarget.id);
      writeFileSync(files.hosts, readFileSync(t.hosts));
      writeFileSync(files.resolvConf, readFileSync(t.resolvConf));
    } else if (rec.networkMode === 'host') {
      writeFileSync(files.hosts, readHostResolvConfLike('/etc/hosts') || hostsFile([]));
      writeFileSync(files.resolvConf, resolvConf({ hostResolvConf: readHostResolvConf() }));
    } else {
      writeFileSync(files.hosts, hostsFile(hostsEntries(rec)));
      writeFileSync(files.resolvConf, resolvConf(rec.endpoints[0] ? { nameserver: rec.endpoints[0].gateway } : {}));
    }
    writeFileSync(files.hostname, hostnameFile(rec.hostname));
    const spec = buildSpec({
      id: rec.id, rootfs: rec.rootfs, args: rec.command, env: rec.env, hostname: rec.hostname, netnsPath: rec.netnsPath, terminal: rec.tty === true,
      etcFiles: { hosts: files.hosts, resolvConf: files.resolvConf, hostname: files.hostname },
    });
    writeFileSync(files.config, JSON.stringify(spec, null, 2));
  }

  /** /etc/hosts and resolv.conf after a connect/disconnect, rewritten in place (they are bind-mounted). */
  private rewriteNetworkFiles(rec: ContainerRecord): void {
    const files = containerFiles(this.o.stateDir, rec.id);
    rewriteInPlace(files.hosts, hostsFile(hostsEntries(rec)));
    rewriteInPlace(files.resolvConf, resolvConf(rec.endpoints[0] ? { nameserver: rec.endpoints[0].gateway } : {}));
  }

  private async startProcess(rec: ContainerRecord): Promise<void> {
    const files = containerFiles(this.o.stateDir, rec.id);
    for (const f of [files.pid, files.exit, files.runcLog]) rmSync(f, { force: true });
    const runFiles = { bundle: files.bundle, pidFile: files.pid, exitFile: files.exit, logFile: files.log, runcLog: files.runcLog };
    let started;
    try {
      if (rec.tty) {
        const { console: terminal, pid } = await ContainerConsole.start(this.o.runc, rec.id, runFiles, this.o.log.child({ container: { id: rec.id.slice(0, 12), name: rec.name } }));
        this.consoles.set(rec.id, terminal);
        const exited = terminal.exited.then(() => void this.consoles.delete(rec.id));
        started = { shim: null, pid, exited };
      } else {
        started = await this.o.runc.run(rec.id, runFiles);
      }
    } catch (err) {
      throw new ContainerStartFailed(rec.name, (err as Error).message, err);
    }
    let init = null;
    try {
      init = recordProcess(started.pid, rec.command[0] ?? 'init');
    } catch {
      // already exited (a short command): the shim tells how
    }
    rec.status = 'running';
    rec.shim = started.shim;
    rec.init = init;
    rec.exitCode = null;
    rec.startedAt = new Date().toISOString();
    rec.finishedAt = null;
    writeRecord(this.o.stateDir, rec);
    void started.exited.then(() => this.refresh(rec));
  }

  /** Stop the container's processes: SIGTERM (unless graceMs is 0), SIGKILL after graceMs; waits until gone. */
  private async terminate(rec: ContainerRecord, graceMs: number): Promise<void> {
    if (this.refresh(rec).status !== 'running') return;
    const gone = async (ms: number) => {
      const deadline = Date.now() + ms;
      while (this.alive(rec) && Date.now() < deadline) await sleep(10);
      return !this.alive(rec);
    };
    if (graceMs > 0) {
      await this.o.runc.kill(rec.id, 'TERM');
      if (await gone(graceMs)) return void this.refresh(rec);
    }
    await this.o.runc.kill(rec.id, 'KILL');
    if (!(await gone(5000)) && rec.init && isAlive(rec.init)) {
      // runc lost track of it (its state gone): the recorded init, verified by start time
      process.kill(rec.init.pid, 'SIGKILL');
      await gone(2000);
    }
    this.refresh(rec);
  }

  /** Remove everything of container `id`: agent endpoints, sandbox, runc state, directory. Idempotent. */
  private async purge(id: string, rec: ContainerRecord | undefined): Promise<void> {
    const epIds = new Set(rec?.endpoints.map((e) => e.endpointId) ?? []);
    for (const ep of await this.o.agent.listEndpoints()) if (ep.container === id) epIds.add(ep.id);
    for (const ep of epIds) await this.o.agent.deleteEndpoint(ep);
    this.o.sandboxes.delete(rec?.netns ?? this.o.sandboxes.name(id));
    await this.o.runc.delete(id);
    rmSync(containerFiles(this.o.stateDir, id).dir, { recursive: true, force: true });
  }

  private view(rec: ContainerRecord): ContainerView {
    const running = rec.status === 'running';
    return {
      id: rec.id, name: rec.name, image: rec.image, command: rec.command, status: rec.status, running,
      pid: running ? rec.init?.pid ?? null : null, exitCode: rec.exitCode, host: this.o.host, hostname: rec.hostname, env: rec.env,
      networkMode: rec.networkMode, netContainer: rec.netContainer, sandbox: rec.netnsPath,
      networks: rec.endpoints.map((e) => ({
        network: e.network, networkId: e.networkId, endpointId: e.endpointId, ip: e.ip, prefixLength: e.prefixLength, mac: e.mac,
        gateway: e.gateway, ifname: e.ifname, aliases: e.aliases, mtu: e.mtu,
      })),
      createdAt: rec.createdAt, startedAt: rec.startedAt, finishedAt: rec.finishedAt,
    };
  }
}

type ParsedMode = { kind: 'overlay'; networks: string[] } | { kind: 'none' } | { kind: 'host' } | { kind: 'container'; ref: string };

/** --net values: overlay networks, or exactly one of none / host / container:C. Default: none (there is no default bridge). */
export function parseNetworks(req: Pick<RunRequest, 'networks' | 'aliases' | 'ip'>, what: string): ParsedMode {
  const nets = req.networks ?? [];
  const special = nets.filter((n) => n === 'none' || n === 'host' || n.startsWith('container:'));
  if (special.length > 0 && nets.length > 1) throw new InvalidArgument(`${what}: --net ${special[0]} cannot be combined with other networks`);
  const dup = nets.find((n, i) => nets.indexOf(n) !== i);
  if (dup !== undefined) throw new InvalidArgument(`${what}: network "${dup}" given twice`);
  if (nets.some((n) => n === '')) throw new InvalidArgument(`${what}: empty network name`);
  let mode: ParsedMode;
  const first = nets[0];
  if (first === undefined || first === 'none') mode = { kind: 'none' };
  else if (first === 'host') mode = { kind: 'host' };
  else if (first.startsWith('container:')) {
    const ref = first.slice('container:'.length);
    if (ref === '') throw new InvalidArgument(`${what}: --net container: needs a container name or id`);
    mode = { kind: 'container', ref };
  } else mode = { kind: 'overlay', networks: nets };
  if (mode.kind !== 'overlay' && (req.ip !== undefined || (req.aliases?.length ?? 0) > 0)) {
    throw new InvalidArgument(`${what}: --ip and --alias need an overlay network (--net NET)`);
  }
  return mode;
}

/** Agent errors say what is wrong ("network "x" not found"); say what could not be done first. */
function withContext(what: string, err: unknown): unknown {
  if (!(err instanceof VxnetError) || err.message.startsWith('could not')) return err;
  return new VxnetError(err.code, err.statusCode, `${what}: ${err.message}`, { cause: err });
}

function toContainerEndpoint(ep: { id: string; networkName: string; networkId: string; ip: string; mac: string; gateway: string; prefixLength: number; ifname: string; aliases: string[]; mtu: number }): ContainerEndpoint {
  return {
    endpointId: ep.id, network: ep.networkName, networkId: ep.networkId, ip: ep.ip, mac: ep.mac, gateway: ep.gateway,
    prefixLength: ep.prefixLength, ifname: ep.ifname, aliases: ep.aliases, mtu: ep.mtu,
  };
}

function findEndpoint(rec: ContainerRecord, network: string): ContainerEndpoint | undefined {
  return rec.endpoints.find((e) => e.network === network || e.networkId === network)
    ?? (/^[0-9a-f]+$/.test(network) ? rec.endpoints.find((e) => e.networkId.startsWith(network)) : undefined);
}

function hostsEntries(rec: ContainerRecord): HostsEntry[] {
  return rec.endpoints.map((e) => ({ ip: e.ip, names: [rec.hostname, rec.name, ...e.aliases] }));
}

function readHostResolvConfLike(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
