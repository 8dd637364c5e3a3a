/**
 * The engine's policy: container lifecycle over a sandbox (network namespace),
 * endpoints from the local agent, per-container /etc files, and runc.
 *
 * Run order (each step pushes its undo; any failure unwinds them all, so a failed
 * run leaves no namespace, endpoint, runc state or directory behind):
 *   1. name reserved, directory + record (status "creating": a crash here is rolled
 *      back by the next engine start)
 *   2. sandbox namespace, recorded before it is made, loopback up (overlay and none modes)
 *   3. one endpoint per --net from the agent (owner "engine"), eth0, eth1, …
 *   4. hosts, resolv.conf, hostname; config.json (container/bundle.ts)
 *   5. runc run under a shim (see runtime/runc.ts)
 *
 * The engine deletes only what its records name: the sandbox in `netns`, runc state
 * and the directory of a recorded id, endpoints it recorded or that the agent lists
 * as the engine's for that id. An agent that dies mid-call may have made an endpoint
 * without answering: the rollback then asks the agent for the container's endpoints,
 * and the endpoint reconcile (endpoint-reconcile.ts) removes what is still left once
 * the agent answers again.
 *
 * A container of a loaded image runs on its own overlayfs over the image's layers
 * (container/rootfs-mount.ts): mounted after its record is written (step 1) and before
 * the process is merged (its users are looked up in its own /etc/passwd); mounted again
 * by every start that finds it gone (a host restart); unmounted by rm, --rm and a
 * rollback before its directory goes. The image config (busybox and
 * --rootfs: BUSYBOX_DEFAULTS) gives the process, merged with the request's -w, -u,
 * --entrypoint, -e and command in one place (container/process-config.ts).
 *
 * A stopped container keeps its sandbox and endpoints (so its addresses), as a
 * Docker container keeps its name; `start` runs it again in them. `rm` removes all.
 *
 * Restart policies (`--restart`, lifecycle/restart-decision.ts) run an exited
 * container again through that same start, after a back-off: same name, sandbox,
 * endpoints, so the same addresses and aliases, and peers resolve it as before. The
 * engine learns of an exit from the shim it started (at once) or, for containers it
 * adopted at its start, from a 1 s liveness poll; at its start it also runs again what
 * the policies say should run. `stop` holds a container until the next `start`;
 * `run --rm` containers are removed when they exit.
 *
 * Published ports (`-p`) ride on the first network's endpoint (the agent makes the
 * DNAT with it). They must not outlive the running container, and the agent cannot
 * change a live endpoint's ports, so when the container stops (stop, or its own exit)
 * that one endpoint is deleted and marked `released` in the record, and `start` makes
 * it again with the same address, ifname, names and ports before running the process.
 * A start that finds the port taken meanwhile fails with the agent's message and
 * leaves the container stopped, ports released.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Duplex, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { InvalidArgument, VxnetError, isAlive, recordProcess, type Logger } from '@vxnet/common';
import { MNT_DETACH, native } from '@vxnet/netns';
import { NO_RESTART, formatPort, parseDetachKeys, type AttachRequest, type ContainerStats, type ContainerTop, type ContainerView, type ExecRequest, type ExposeResult, type ImageLoadResult, type ImagePullRequest, type ImagePullResult, type ImageView, type LogChunk, type RunRequest } from '@vxnet/common/api';
import { isAgentUnreachable, type AgentApi, type AgentEndpoint } from './agent-client.js';
import { writeBundle, rewriteNetworkFiles } from './container/bundle.js';
import { containerView } from './container/container-view.js';
import { CopyProblem, packFromRoot, unpackIntoRoot, type Packed } from './container/archive.js';
import { kernelMounter, type RootfsMounter } from './container/rootfs-mount.js';
import { readLogChunk } from './container/log-file.js';
import { LogClock } from './container/log-times.js';
import { BUSYBOX_DEFAULTS, processConfig } from './container/process-config.js';
import { ScopeError } from './container/scoped-path.js';
import { ENGINE_OWNER, EndpointReconciler, ownedByEngine } from './endpoint-reconcile.js';
import {
  AlreadyConnected, ContainerAmbiguous, ContainerBusy, ContainerNameTaken, ContainerNotFound, ContainerNotRunning, ContainerRunning,
  ContainerStartFailed, CopyFailed, NetworkModeInvalid, NoTerminal, NotConnected, RootfsMountFailed, StatsUnreadable,
} from './errors.js';
import { ContainerConsole } from './exec/container-console.js';
import { runExecSession } from './exec/exec-session.js';
import { pullImage, type RegistrySettings } from './image/registry/image-pull.js';
import type { ImageStore, ResolvedImage } from './image/images.js';
import { decideAfterExit, decideAtEngineStart, type RestartDecision } from './lifecycle/restart-decision.js';
import { NO_ENGINE_METRICS, type EngineMetricsSink } from './metrics/engine-metrics.js';
import { generateName } from './names.js';
import { checkRunRequest } from './run-request.js';
import type { ContainerRuntime } from './runtime/runtime.js';
import type { SandboxManager } from './sandbox/sandbox.js';
import { sampleStats, type StatsSample } from './stats/container-stats.js';
import { listProcesses } from './stats/container-top.js';
import {
  containerFiles, readRecords, writeRecord, type ContainerEndpoint, type ContainerRecord, type ContainerStatus,
} from './state/container-record.js';

export interface EngineOptions {
  host: string;
  stateDir: string;
  runc: ContainerRuntime;
  agent: AgentApi;
  sandboxes: SandboxManager;
  images: Pick<ImageStore, 'resolve' | 'userRootfs' | 'layerDirs' | 'list' | 'inspect' | 'remove' | 'loaded'>;
  /** How a loaded image's container gets its overlayfs; default: mount(2) by the native addon. */
  mounts?: RootfsMounter;
  log: Logger;
  /** Period of the agent status poll of the endpoint reconcile, ms. Default 1000. */
  agentPollMs?: number;
  /** How a running container's resource use and processes are read; default: the host's cgroups and /proc. */
  procs?: ContainerProcs;
  /** Where run times and failures are counted (metrics/engine-metrics.ts); none: not counted. */
  metrics?: EngineMetricsSink;
  /** Which registries `pull` may speak plain HTTP to, and the extra CA it trusts; default: loopback only, no CA. */
  registries?: RegistrySettings;
}

/** What stats and top read about a container's processes, given its init's pid (a seam for the unit tests). */
export interface ContainerProcs {
  /** One sample of the cgroup and interface counters (stats/container-stats.ts). Throws when the pid or its cgroup is gone. */
  sample(pid: number, ownNetwork: boolean): StatsSample;
  /** The processes in the init's cgroup (stats/container-top.ts). Throws when the pid or its cgroup is gone. */
  processes(pid: number): ContainerTop['processes'];
}

const HOST_PROCS: ContainerProcs = { sample: (pid, ownNetwork) => sampleStats(pid, ownNetwork), processes: (pid) => listProcesses(pid) };

export { KEEP_ALIVE } from './container/process-config.js';

export class Engine {
  private readonly containers = new Map<string, ContainerRecord>();
  /** name -> id, including names reserved by runs in progress */
  private readonly names = new Map<string, string>();
  private readonly locks = new Map<string, Promise<unknown>>();
  /** Ids with a run, connect, disconnect or rm in flight: the endpoint reconcile leaves them alone. */
  private readonly busy = new Set<string>();
  private readonly reconciler: EndpointReconciler;
  /** Terminals of the running containers that have one (`run -t`). */
  private readonly consoles = new Map<string, ContainerConsole>();
  private monitor: NodeJS.Timeout | undefined;
  /** Restarts by policy waiting out their back-off, by container id. */
  private readonly restartTimers = new Map<string, NodeJS.Timeout>();
  /** Containers being removed: their exit restarts nothing. */
  private readonly removing = new Set<string>();
  /** Log growth watchers of the running containers (container/log-times.ts). */
  private readonly logClocks = new Map<string, LogClock>();
  /** True while load() reads the records: exits noticed then are decided once all are loaded. */
  private loading = false;
  /** close() was called: exits noticed later (by a shim promise) start nothing. */
  private closed = false;
  /** Loaded images that runs in progress use (id -> count): image rm refuses them too. */
  private readonly imagesInRun = new Map<string, number>();
  private mounter: RootfsMounter | undefined;

  constructor(private readonly o: EngineOptions) {
    this.reconciler = new EndpointReconciler({
      agent: o.agent, containers: () => this.containers, inFlight: () => this.busy,
      log: o.log.child({ component: 'endpoint-reconcile' }), ...(o.agentPollMs !== undefined ? { pollMs: o.agentPollMs } : {}),
    });
  }

  /**
   * Read every container's record: running ones are adopted (their shims outlived
   * the previous engine), dead ones are marked exited, half-made ones rolled back;
   * then reconcile endpoints with the agent, now and whenever it restarts. A record
   * that cannot be read throws ContainerRecordUnreadable before anything is touched.
   */
  async load(): Promise<void> {
    const { records, unfinished } = readRecords(this.o.stateDir);
    this.loading = true;
    for (const dir of unfinished) {
      this.o.log.warn({ dir }, 'removing the directory of a run that stopped before its record was written');
      rmSync(dir, { recursive: true, force: true });
    }
    for (const record of records) {
      const { id } = record;
      if (record.status === 'creating') {
        this.o.log.warn({ container: { id } }, 'rolling back a container left half made');
        await this.purge(record).catch((err: unknown) => this.o.log.error({ err, container: { id } }, 'rollback failed'));
        continue;
      }
      this.containers.set(id, record);
      this.names.set(record.name, id);
      this.refresh(record);
      if (record.status === 'running') this.logClock(record).start();
      // stopped while the engine was down (or before it released them): withdraw its ports
      if (record.status === 'exited') this.scheduleRelease(record);
    }
    this.loading = false;
    for (const record of this.containers.values()) if (record.status === 'exited') this.afterExit(record, true);
    this.o.log.info({ containers: this.containers.size, running: [...this.containers.values()].filter((c) => c.status === 'running').length }, 'containers loaded');
    // notice exits of containers whose shims are not our children (adopted after a restart)
    this.monitor = setInterval(() => {
      for (const rec of this.containers.values()) this.refresh(rec);
    }, 1000);
    this.monitor.unref();
    this.reconciler.start();
  }

  close(): void {
    this.closed = true;
    clearInterval(this.monitor);
    for (const timer of this.restartTimers.values()) clearTimeout(timer);
    this.restartTimers.clear();
    for (const clock of this.logClocks.values()) clock.stop();
    this.logClocks.clear();
    this.reconciler.stop();
  }

  // ---- queries ---------------------------------------------------------------

  /** Containers by status, runs in progress as "creating" (for the metrics scrape: no I/O beyond a liveness check per container). */
  stateCounts(): Record<ContainerStatus, number> {
    const counts: Record<ContainerStatus, number> = { creating: 0, running: 0, exited: 0 };
    for (const rec of this.containers.values()) counts[this.refresh(rec).status]++;
    for (const id of this.busy) if (!this.containers.has(id)) counts.creating++;
    return counts;
  }

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

  /**
   * Bytes of the container's log from `offset` (at most 4 MiB per call); with
   * `timestamps` each line prefixed by when it was written, with `sinceMs` only lines
   * written since then (container/log-times.ts). `running` stays true while a restart
   * by its policy is pending, so `logs -f` follows it across restarts.
   */
  logs(ref: string, offset: number, o: { timestamps?: boolean; sinceMs?: number } = {}): LogChunk {
    const rec = this.find(ref);
    const files = containerFiles(this.o.stateDir, rec.id);
    this.logClocks.get(rec.id)?.check(); // stamp what was just written before reading it
    const live = this.refresh(rec).status === 'running' || this.restartTimers.has(rec.id);
    return readLogChunk(files.log, offset, live, { ...o, timesFile: files.logTimes });
  }

  /**
   * One sample of a container's resource use: cumulative counters (CPU % needs two
   * samples, see cpuPercent in @vxnet/common/api). A container that is not running,
   * or that ends while it is read, answers zeros and no networks, as docker's does.
   * Throws StatsUnreadable when a running container's cgroup cannot be read.
   */
  stats(ref: string): ContainerStats {
    const rec = this.find(ref);
    const procs = this.o.procs ?? HOST_PROCS;
    const about = { id: rec.id, name: rec.name };
    const idle = (): ContainerStats => ({
      ...about, running: false, read: new Date().toISOString(), cpu: { usageNs: 0, systemNs: 0, onlineCpus: 0 }, memory: { usage: 0, limit: 0 }, pids: 0, networks: {},
    });
    const init = this.refresh(rec).status === 'running' ? rec.init : null;
    if (init === null) return idle();
    try {
      return { ...about, running: true, ...procs.sample(init.pid, rec.networkMode !== 'host') };
    } catch (err) {
      if (this.refresh(rec).status !== 'running' || !isAlive(init)) return idle();
      throw new StatsUnreadable('resource use', rec.name, (err as Error).message, err);
    }
  }

  /** The processes of a running container (`top`). Throws ContainerNotRunning, or StatsUnreadable when its cgroup cannot be read. */
  top(ref: string): ContainerTop {
    const rec = this.find(ref);
    const init = this.refresh(rec).status === 'running' ? rec.init : null;
    if (init === null) throw new ContainerNotRunning('list the processes of', rec.name);
    try {
      return { id: rec.id, name: rec.name, processes: (this.o.procs ?? HOST_PROCS).processes(init.pid) };
    } catch (err) {
      if (this.refresh(rec).status !== 'running' || !isAlive(init)) throw new ContainerNotRunning('list the processes of', rec.name);
      throw new StatsUnreadable('processes', rec.name, (err as Error).message, err);
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
    const mode = checkRunRequest(req, name, what);
    const image: ResolvedImage | undefined = req.rootfs !== undefined ? undefined : this.o.images.resolve(req.image as string);
    const userRootfs = req.rootfs !== undefined ? this.o.images.userRootfs(req.rootfs) : undefined;
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
    const imageId = image?.kind === 'loaded' ? image.image.id : undefined;
    if (imageId !== undefined) {
      this.imagesInRun.set(imageId, (this.imagesInRun.get(imageId) ?? 0) + 1);
      undo.push(() => this.imageRunDone(imageId));
    }
    const rootfs = userRootfs ?? (image?.kind === 'builtin' ? image.rootfs : files.rootfs);
    const log = this.o.log.child({ container: { id: id.slice(0, 12), name } });
    const t0 = Date.now();
    try {
      const rec: ContainerRecord = {
        id, name, image: req.image ?? req.rootfs ?? '', rootfs,
        ...(imageId !== undefined ? { imageId } : {}),
        command: [], env: [], // the process: below, once the root is there
        ...(req.tty ? { tty: true } : {}),
        ...(req.restart && req.restart.name !== 'no' ? { restartPolicy: req.restart, restartCount: 0, restartBackoffMs: 0 } : {}),
        ...(req.autoRemove ? { autoRemove: true } : {}),
        hostname: req.hostname ?? (mode.kind === 'host' ? this.o.host : mode.kind === 'container' && netTarget ? netTarget.hostname : id.slice(0, 12)),
        networkMode: mode.kind, netContainer: netTarget?.id ?? null,
        netns: mode.kind === 'overlay' || mode.kind === 'none' ? this.o.sandboxes.name(id) : null,
        netnsPath: null, endpoints: [], status: 'creating', shim: null, init: null, exitCode: null,
        createdAt: new Date().toISOString(), startedAt: null, finishedAt: null,
      };
      undo.push(() => this.removeDir(rec));
      writeRecord(this.o.stateDir, rec); // makes the directory; names the sandbox before it exists
      if (image?.kind === 'loaded') this.mountRootfs(id, name, image.layerDirs);
      // after the mount: -u and the image's User are looked up in the container's own /etc/passwd.
      // Recorded by the writes below (a crash before them leaves a "creating" record, purged at start).
      const proc = processConfig(image?.kind === 'loaded' ? image.image.config : BUSYBOX_DEFAULTS, req, rootfs, what, image?.kind !== 'loaded');
      Object.assign(rec, { command: proc.args, env: proc.env, workdir: proc.cwd, user: proc.user });

      if (rec.netns !== null) {
        const ns = rec.netns;
        undo.push(() => this.o.sandboxes.delete(ns));
        rec.netnsPath = await this.o.sandboxes.ensure(ns);
        writeRecord(this.o.stateDir, rec);
      } else if (mode.kind === 'container' && netTarget) {
        rec.netnsPath = netTarget.netnsPath;
      }
      if (mode.kind === 'overlay') {
        // also finds an endpoint the agent made but could not answer for
        undo.push(() => this.removeEndpoints(rec));
        for (const [i, network] of mode.networks.entries()) {
          const ep = await this.viaAgent((a) => a.createEndpoint({
            network, sandbox: rec.netnsPath as string, name, container: id, ifname: `eth${i}`, owner: ENGINE_OWNER,
            ...(req.aliases?.length ? { aliases: req.aliases } : {}), ...(i === 0 && req.ip !== undefined ? { ip: req.ip } : {}),
            ...(i === 0 && req.ports?.length ? { ports: req.ports } : {}),
          }));
          rec.endpoints.push(toContainerEndpoint(ep, i === 0 ? req.ports : undefined));
          writeRecord(this.o.stateDir, rec);
        }
      }
      writeBundle(this.o.stateDir, rec, netTarget);
      undo.push(() => this.o.runc.delete(id));
      await this.startProcess(rec);
      this.containers.set(id, rec);
      this.busy.delete(id);
      if (imageId !== undefined) this.imageRunDone(imageId);
      (this.o.metrics ?? NO_ENGINE_METRICS).containerStarted((Date.now() - t0) / 1000);
      log.info({
        ms: Date.now() - t0, networks: rec.endpoints.map((e) => ({ network: e.network, ip: e.ip })), mode: rec.networkMode,
        ...(req.ports?.length ? { ports: rec.endpoints.flatMap((e) => e.published ?? []).map(formatPort) } : {}),
      }, 'container running');
      return this.view(rec);
    } catch (err) {
      log.warn({ err }, 'container run failed, rolling back');
      (this.o.metrics ?? NO_ENGINE_METRICS).containerStartFailed();
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

  // ---- images ----------------------------------------------------------------

  /** Load the images of an archive (a tar stream: docker save or OCI layout). Throws ImageLoadRefused; stores nothing then. */
  async loadImages(input: Readable | AsyncIterable<Buffer>): Promise<ImageLoadResult> {
    const images = await this.o.images.loaded.load(input);
    return { images: images.map((i) => this.o.images.loaded.view(i)) };
  }

  /** Pull an image from a registry (image/registry/image-pull.ts); throws ImageReferenceInvalid, ImagePullFailed, ImageLoadRefused. */
  async pullImage(req: ImagePullRequest): Promise<ImagePullResult> {
    const got = await pullImage(this.o.images.loaded, req, this.o.registries ?? { insecure: [], caFile: null }, this.o.log.child({ component: 'pull' }));
    return { image: this.o.images.loaded.view(got.image), digest: got.digest, bytes: got.bytes };
  }

  images(): ImageView[] {
    return this.o.images.list();
  }

  inspectImage(ref: string): ImageView {
    return this.o.images.inspect(ref);
  }

  /** Remove an image (or one of its tags); refused while a container, running or not, uses it. */
  removeImage(ref: string): Promise<{ id: string; untagged: string[]; deleted: boolean }> {
    return this.o.images.remove(ref, (id) => [
      ...[...this.containers.values()].filter((c) => c.imageId === id).map((c) => `"${c.name}"`),
      ...(this.imagesInRun.has(id) ? ['(one being created)'] : []),
    ]);
  }

  // ---- lifecycle -------------------------------------------------------------

  /**
   * Run a stopped container again, in its sandbox with its endpoints; its restart
   * count and back-off start over, a pending restart is done now. Running already: no-op.
   */
  start(ref: string): Promise<ContainerView> {
    const rec = this.find(ref);
    return this.locked(rec.id, async () => {
      if (this.refresh(rec).status === 'running') return this.view(rec);
      this.cancelRestart(rec.id);
      resetRestarts(rec);
      await this.startAgain(rec);
      this.o.log.info({ container: { id: rec.id.slice(0, 12), name: rec.name } }, 'container started');
      return this.view(rec);
    });
  }

  /** `stop` then `start` (the policy does not restart it in between). */
  restart(ref: string, timeoutSec = 10): Promise<ContainerView> {
    const rec = this.find(ref);
    return this.locked(rec.id, async () => {
      this.cancelRestart(rec.id);
      rec.manuallyStopped = true;
      await this.terminate(rec, timeoutSec * 1000);
      await this.releasePorts(rec);
      resetRestarts(rec);
      await this.startAgain(rec);
      this.o.log.info({ container: { id: rec.id.slice(0, 12), name: rec.name } }, 'container restarted');
      return this.view(rec);
    });
  }

  /** Start an exited container in its sandbox, endpoints restored (the caller holds its lock). Throws what start would. */
  private async startAgain(rec: ContainerRecord): Promise<void> {
    let netTarget: ContainerRecord | undefined;
    if (rec.networkMode === 'container') {
      netTarget = rec.netContainer ? this.containers.get(rec.netContainer) : undefined;
      if (!netTarget || this.refresh(netTarget).status !== 'running') {
        throw new NetworkModeInvalid('start', rec.name, `the container whose network it joins (${rec.netContainer?.slice(0, 12) ?? '?'}) is not running`);
      }
      rec.netnsPath = netTarget.netnsPath;
    }
    if (rec.netns) await this.o.sandboxes.ensure(rec.netns);
    // a loaded image's overlayfs: still mounted after an exit, gone after a host restart
    if (rec.imageId !== undefined) this.mountRootfs(rec.id, rec.name, this.o.images.layerDirs(rec.imageId));
    writeBundle(this.o.stateDir, rec, netTarget);
    await this.o.runc.delete(rec.id); // leftover state of a runc that died abnormally
    try {
      await this.restoreReleased(rec);
      await this.startProcess(rec);
    } catch (err) {
      await this.releasePorts(rec);
      throw withContext(`could not start container "${rec.name}"`, err);
    }
  }

  /** SIGTERM, then SIGKILL after `timeoutSec`; its policy does not restart it until the next start. Not running: no-op (a pending restart is cancelled). */
  stop(ref: string, timeoutSec = 10): Promise<ContainerView> {
    const rec = this.find(ref);
    return this.locked(rec.id, async () => {
      this.cancelRestart(rec.id);
      if (!rec.manuallyStopped) {
        rec.manuallyStopped = true;
        this.save(rec);
      }
      await this.terminate(rec, timeoutSec * 1000);
      await this.releasePorts(rec);
      return this.view(rec);
    });
  }

  /** Remove a container and everything it had. Refused while running unless `force` (then killed first). */
  remove(ref: string, force: boolean): Promise<{ id: string; name: string }> {
    const rec = this.find(ref);
    return this.locked(rec.id, async () => {
      if (this.refresh(rec).status === 'running') {
        if (!force) throw new ContainerRunning('remove', rec.name, ', or use rm -f');
        this.removing.add(rec.id);
        try {
          await this.terminate(rec, 0);
        } finally {
          this.removing.delete(rec.id);
        }
      }
      this.cancelRestart(rec.id);
      this.busy.add(rec.id);
      try {
        await this.purge(rec);
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
    let keys: Buffer | undefined;
    try {
      keys = req.detachKeys === undefined ? undefined : parseDetachKeys(req.detachKeys);
    } catch (err) {
      throw new InvalidArgument(`could not attach to container "${rec.name}": invalid detach keys "${req.detachKeys}": ${(err as Error).message}`);
    }
    if (req.rows && req.cols) terminal.resize(req.rows, req.cols);
    return (conn, initial) => terminal.attach(conn, initial, req.stdin === true, keys);
  }

  // ---- cp ----------------------------------------------------------------------

  /**
   * A tar stream of `path` in container `ref` (`cp C:SRC DST`): its files as its
   * processes see them while it runs (mounts included, through /proc/PID/root), its
   * image's otherwise. A running container is paused until the stream ends, as docker
   * does since CVE-2018-15664: it cannot swap a directory for a symlink while its files
   * are walked. Throws CopyFailed for a path that is not there or leads out of the
   * container.
   */
  async archive(ref: string, path: string): Promise<Packed> {
    const rec = this.find(ref);
    const thaw = await this.freeze(rec, 'from');
    try {
      const packed = packFromRoot(this.rootOf(rec), path);
      packed.stream.once('close', thaw);
      return packed;
    } catch (err) {
      await thaw();
      throw copyError('from', rec.name, err);
    }
  }

  /**
   * Unpack a tar stream at `path` in container `ref` (`cp SRC C:DST`): into it when it
   * is a directory, else as it. Resolves with the container path written. Throws
   * CopyFailed for a bad path or archive (nothing outside the container is written).
   */
  async extract(ref: string, path: string, input: Readable): Promise<string> {
    const rec = this.find(ref);
    const thaw = await this.freeze(rec, 'to');
    try {
      const where = await unpackIntoRoot(this.rootOf(rec), path, input);
      this.o.log.info({ container: { id: rec.id.slice(0, 12), name: rec.name }, path: where }, 'archive copied into container');
      return where;
    } catch (err) {
      throw copyError('to', rec.name, err);
    } finally {
      await thaw();
    }
  }

  /**
   * Pause a running container for a cp; returns what resumes it (idempotent, never
   * throws). A pause that fails fails the cp: copying while the container can race the
   * walk is what the pause is there to prevent.
   */
  private async freeze(rec: ContainerRecord, direction: 'from' | 'to'): Promise<() => Promise<void>> {
    if (this.refresh(rec).status !== 'running') return async () => undefined;
    try {
      await this.o.runc.pause(rec.id);
    } catch (err) {
      throw new CopyFailed(direction, rec.name, `could not pause it for the copy: ${(err as Error).message}`, err);
    }
    let done = false;
    return async () => {
      if (done) return;
      done = true;
      await this.o.runc.resume(rec.id).catch((err: unknown) => this.o.log.error({ err, container: { id: rec.id.slice(0, 12), name: rec.name } }, 'could not resume a container paused for a cp'));
    };
  }

  /** The root a running container's processes see, else its own (a loaded image's overlayfs, mounted again after a host restart). */
  private rootOf(rec: ContainerRecord): string {
    const init = this.refresh(rec).status === 'running' ? rec.init : null;
    if (init && isAlive(init)) return `/proc/${init.pid}/root`;
    if (rec.imageId !== undefined) this.mountRootfs(rec.id, rec.name, this.o.images.layerDirs(rec.imageId));
    return rec.rootfs;
  }

  /** Attach a container (running or stopped) to one more overlay network: next ethN, /etc/hosts updated. */
  connect(ref: string, network: string, opts: { aliases?: string[]; ip?: string } = {}): Promise<ContainerView> {
    const rec = this.find(ref);
    return this.locked(rec.id, () => this.inFlight(rec.id, async () => {
      if (rec.networkMode !== 'overlay' || !rec.netnsPath) {
        throw new NetworkModeInvalid('connect', rec.name, `a container on --net ${rec.networkMode} cannot be connected to other networks`);
      }
      if (findEndpoint(rec, network)) throw new AlreadyConnected(rec.name, network);
      const used = new Set(rec.endpoints.map((e) => e.ifname));
      let n = 0;
      while (used.has(`eth${n}`)) n++;
      let ep: AgentEndpoint;
      try {
        ep = await this.viaAgent((a) => a.createEndpoint({
          network, sandbox: rec.netnsPath as string, name: rec.name, container: rec.id, ifname: `eth${n}`, owner: ENGINE_OWNER,
          ...(opts.aliases?.length ? { aliases: opts.aliases } : {}), ...(opts.ip !== undefined ? { ip: opts.ip } : {}),
        }));
      } catch (err) {
        // the agent may have made it without answering; if it cannot say now, the reconcile removes it
        if (isAgentUnreachable(err)) await this.removeUnrecordedEndpoints(rec).catch(() => undefined);
        throw err;
      }
      try {
        if (rec.endpoints.some((e) => e.networkId === ep.networkId)) throw new AlreadyConnected(rec.name, ep.networkName);
        rec.endpoints.push(toContainerEndpoint(ep));
        try {
          writeRecord(this.o.stateDir, rec);
        } catch (err) {
          rec.endpoints.pop();
          throw err;
        }
      } catch (err) {
        await this.viaAgent((a) => a.deleteEndpoint(ep.id)).catch((e: unknown) => this.o.log.error({ err: e }, 'could not remove the endpoint of a failed connect'));
        throw err;
      }
      rewriteNetworkFiles(this.o.stateDir, rec);
      this.o.log.info({ container: { id: rec.id.slice(0, 12), name: rec.name }, network: ep.networkName, ip: ep.ip }, 'container connected');
      return this.view(rec);
    }));
  }

  /** Detach a container from an overlay network. */
  disconnect(ref: string, network: string): Promise<ContainerView> {
    const rec = this.find(ref);
    return this.locked(rec.id, () => this.inFlight(rec.id, async () => {
      const ep = findEndpoint(rec, network);
      if (!ep) throw new NotConnected(rec.name, network);
      await this.viaAgent((a) => a.deleteEndpoint(ep.endpointId));
      rec.endpoints = rec.endpoints.filter((e) => e !== ep);
      writeRecord(this.o.stateDir, rec);
      rewriteNetworkFiles(this.o.stateDir, rec);
      this.o.log.info({ container: { id: rec.id.slice(0, 12), name: rec.name }, network: ep.network }, 'container disconnected');
      return this.view(rec);
    }));
  }

  // ---- the host on a network (net expose) -------------------------------------

  /** Give this host an address on `network` (weave expose): the agent's answer, or its error, as it is. */
  expose(network: string): Promise<ExposeResult> {
    return this.viaAgent((a) => a.expose(network));
  }

  /** Take this host's address on `network` back: the agent's answer, or its error (404 when not exposed), as it is. */
  unexpose(network: string): Promise<ExposeResult> {
    return this.viaAgent((a) => a.unexpose(network));
  }

  // ---- published ports --------------------------------------------------------

  /**
   * Withdraw the published ports of a container that is not running: record its
   * port-carrying endpoint as released, then delete it at the agent. Never throws: a
   * delete that fails is left to the endpoint reconcile (a released endpoint the agent
   * still has is an orphan to it). No-op for a running container, one without
   * published ports, or one removed meanwhile.
   */
  private async releasePorts(rec: ContainerRecord): Promise<void> {
    if (this.containers.get(rec.id) !== rec || this.refresh(rec).status === 'running') return;
    const eps = rec.endpoints.filter((e) => (e.ports?.length ?? 0) > 0 && !e.released);
    if (eps.length === 0) return;
    for (const ep of eps) {
      ep.released = true;
      delete ep.published;
    }
    const about = { container: { id: rec.id.slice(0, 12), name: rec.name } };
    try {
      writeRecord(this.o.stateDir, rec);
    } catch (err) {
      this.o.log.error({ ...about, err }, 'could not record the release of published ports; they stay published');
      for (const ep of eps) delete ep.released;
      return;
    }
    for (const ep of eps) {
      try {
        await this.viaAgent((a) => a.deleteEndpoint(ep.endpointId));
        this.o.log.info({ ...about, endpoint: { id: ep.endpointId, network: ep.network } }, 'published ports withdrawn');
      } catch (err) {
        this.reconciler.agentUnreachable();
        this.o.log.warn({ ...about, err, endpoint: { id: ep.endpointId, network: ep.network } }, 'could not withdraw published ports now; the endpoint reconcile removes the endpoint');
      }
    }
  }

  /** releasePorts under the container's lock, after what holds it now; for exits noticed outside a call. */
  private scheduleRelease(rec: ContainerRecord): void {
    if (!rec.endpoints.some((e) => (e.ports?.length ?? 0) > 0 && !e.released)) return;
    void this.locked(rec.id, () => this.releasePorts(rec));
  }

  /**
   * Make the released endpoints of `rec` again (start): same network (by id: a network
   * re-created under the same name is another one), address, ifname, names and ports.
   * Marked in flight meanwhile, so the reconcile does not take the new endpoint for an
   * orphan before it is recorded. Throws the agent's error (port taken, network gone).
   */
  private async restoreReleased(rec: ContainerRecord): Promise<void> {
    const released = rec.endpoints.filter((e) => e.released);
    if (released.length === 0) return;
    await this.inFlight(rec.id, async () => {
      for (const old of released) {
        let ep: AgentEndpoint;
        try {
          ep = await this.viaAgent((a) => a.createEndpoint({
            network: old.networkId, sandbox: rec.netnsPath as string, name: rec.name, container: rec.id, ifname: old.ifname, owner: ENGINE_OWNER,
            ip: old.ip, ...(old.aliases.length ? { aliases: old.aliases } : {}), ...(old.ports?.length ? { ports: old.ports } : {}),
          }));
        } catch (err) {
          if (isAgentUnreachable(err)) await this.removeUnrecordedEndpoints(rec).catch(() => undefined);
          throw err;
        }
        const fresh = toContainerEndpoint(ep, old.ports);
        rec.endpoints = rec.endpoints.map((e) => (e === old ? fresh : e));
        writeRecord(this.o.stateDir, rec);
      }
    });
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

  /** `fn` with container `id` marked busy (under its lock: at most one at a time per id). */
  private async inFlight<T>(id: string, fn: () => Promise<T>): Promise<T> {
    this.busy.add(id);
    try {
      return await fn();
    } finally {
      this.busy.delete(id);
    }
  }

  /** An agent call; one that got no answer also asks the endpoint reconcile for a pass. */
  private async viaAgent<T>(call: (agent: AgentApi) => Promise<T>): Promise<T> {
    try {
      return await call(this.o.agent);
    } catch (err) {
      if (isAgentUnreachable(err)) this.reconciler.agentUnreachable();
      throw err;
    }
  }

  /**
   * Delete the endpoints `rec` records, and those the agent lists as this engine's for
   * its id (made without an answer, or before an engine crash). Idempotent. Throws
   * AgentUnreachable when the agent does not answer: the reconcile then removes them
   * once it does (callers make sure `rec` is no known container by then).
   */
  private async removeEndpoints(rec: ContainerRecord): Promise<void> {
    const ids = new Set([...rec.endpoints.map((e) => e.endpointId), ...(await this.agentEndpointsOf(rec.id))]);
    for (const id of ids) await this.viaAgent((a) => a.deleteEndpoint(id));
  }

  /** Delete the agent's endpoints for `rec` that it does not record (a connect that got no answer). */
  private async removeUnrecordedEndpoints(rec: ContainerRecord): Promise<void> {
    const recorded = new Set(rec.endpoints.map((e) => e.endpointId));
    for (const id of await this.agentEndpointsOf(rec.id)) if (!recorded.has(id)) await this.viaAgent((a) => a.deleteEndpoint(id));
  }

  /** Ids of the endpoints the agent lists as this engine's for container `id`. */
  private async agentEndpointsOf(id: string): Promise<string[]> {
    return (await this.viaAgent((a) => a.listEndpoints())).filter((ep) => ep.container === id && ownedByEngine(ep)).map((ep) => ep.id);
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
    this.logClocks.get(rec.id)?.stop();
    this.logClocks.delete(rec.id);
    this.scheduleRelease(rec);
    this.afterExit(rec, false);
    return rec;
  }

  // ---- restart policies and --rm -----------------------------------------------

  /**
   * What follows an exit (noticed now, or found at engine start): `--rm` removes the
   * container; a restart policy schedules a start after its back-off. Nothing while
   * load() is still reading records, for a container being removed, or one that is
   * no longer known.
   */
  private afterExit(rec: ContainerRecord, atEngineStart: boolean): void {
    if (this.loading || this.closed || this.removing.has(rec.id) || this.containers.get(rec.id) !== rec) return;
    const log = this.o.log.child({ container: { id: rec.id.slice(0, 12), name: rec.name } });
    if (rec.autoRemove) {
      void this.remove(rec.id, true).then(
        () => log.info('container removed on exit (--rm)'),
        (err: unknown) => log.error({ err }, 'could not remove a --rm container that exited'),
      );
      return;
    }
    const policy = rec.restartPolicy ?? NO_RESTART;
    const state = { restartCount: rec.restartCount ?? 0, backoffMs: rec.restartBackoffMs ?? 0 };
    const exit = { exitCode: rec.exitCode, manuallyStopped: rec.manuallyStopped === true };
    const ranMs = rec.startedAt && rec.finishedAt ? Date.parse(rec.finishedAt) - Date.parse(rec.startedAt) : 0;
    const decision = atEngineStart ? decideAtEngineStart(policy, exit, state) : decideAfterExit(policy, { ...exit, ranMs }, state);
    if (!decision.restart) {
      if (policy.name !== 'no' && !rec.manuallyStopped) log.info({ policy, restartCount: state.restartCount, exitCode: rec.exitCode }, 'restart policy: not restarting');
      return;
    }
    this.scheduleRestart(rec, decision, log);
  }

  private scheduleRestart(rec: ContainerRecord, decision: Extract<RestartDecision, { restart: true }>, log: Logger): void {
    rec.restartCount = decision.next.restartCount;
    rec.restartBackoffMs = decision.next.backoffMs;
    this.save(rec);
    this.cancelRestart(rec.id);
    log.info({ delayMs: decision.delayMs, restartCount: rec.restartCount }, 'restart policy: restarting after a back-off');
    const timer = setTimeout(() => {
      void this.locked(rec.id, async () => {
        if (this.restartTimers.get(rec.id) !== timer || this.closed) return; // cancelled or replaced meanwhile
        this.restartTimers.delete(rec.id);
        if (this.containers.get(rec.id) !== rec || rec.manuallyStopped || this.refresh(rec).status === 'running') return;
        try {
          await this.startAgain(rec);
          log.info({ restartCount: rec.restartCount }, 'container restarted by its policy');
        } catch (err) {
          // a start that fails counts as a run that failed at once (docker's too)
          log.warn({ err }, 'restart by policy failed');
          rec.startedAt = rec.finishedAt = new Date().toISOString();
          if (rec.exitCode === 0) rec.exitCode = null;
          this.afterExit(rec, false);
        }
      });
    }, decision.delayMs);
    timer.unref();
    this.restartTimers.set(rec.id, timer);
  }

  private cancelRestart(id: string): void {
    clearTimeout(this.restartTimers.get(id));
    this.restartTimers.delete(id);
  }

  private logClock(rec: ContainerRecord): LogClock {
    let clock = this.logClocks.get(rec.id);
    if (!clock) {
      const files = containerFiles(this.o.stateDir, rec.id);
      clock = new LogClock(files.log, files.logTimes);
      this.logClocks.set(rec.id, clock);
    }
    return clock;
  }

  /** Write the record; a failure is logged (the state in memory stays authoritative until the next write). */
  private save(rec: ContainerRecord): void {
    try {
      writeRecord(this.o.stateDir, rec);
    } catch (err) {
      this.o.log.error({ err, container: { id: rec.id.slice(0, 12), name: rec.name } }, 'could not write container record');
    }
  }

  private async startProcess(rec: ContainerRecord): Promise<void> {
    const files = containerFiles(this.o.stateDir, rec.id);
    for (const f of [files.pid, files.exit, files.runcLog]) rmSync(f, { force: true });
    this.logClock(rec).start();
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
    rec.manuallyStopped = false;
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

  /**
   * Remove everything `rec` recorded: agent endpoints, its sandbox, runc state,
   * directory. Idempotent. With the agent not answering, its endpoints are left to the
   * reconcile (the container is unknown once removed, so the next pass deletes them).
   */
  private async purge(rec: ContainerRecord): Promise<void> {
    try {
      await this.removeEndpoints(rec);
    } catch (err) {
      if (!isAgentUnreachable(err)) throw err;
      this.o.log.warn({ err, container: { id: rec.id.slice(0, 12), name: rec.name } }, 'agent not answering: its endpoints of this container are removed when it is back');
    }
    if (rec.netns !== null) this.o.sandboxes.delete(rec.netns);
    await this.o.runc.delete(rec.id);
    this.removeDir(rec);
  }

  /** rm -rf of the container's directory, unless its overlayfs is still mounted there (rm would go through it). */
  private removeDir(rec: Pick<ContainerRecord, 'id' | 'imageId'>): void {
    const files = containerFiles(this.o.stateDir, rec.id);
    if (rec.imageId !== undefined) this.mounts.release(files.rootfs);
    rmSync(files.dir, { recursive: true, force: true });
  }

  private get mounts(): RootfsMounter {
    this.mounter ??= this.o.mounts ?? kernelMounter(native(), MNT_DETACH);
    return this.mounter;
  }

  /** Mount the overlayfs of a loaded image's container (idempotent). Throws RootfsMountFailed. */
  private mountRootfs(id: string, name: string, layerDirs: string[]): void {
    const files = containerFiles(this.o.stateDir, id);
    for (const d of [files.rootfs, files.upper, files.work]) mkdirSync(d, { recursive: true });
    try {
      this.mounts.ensure(layerDirs, files.upper, files.work, files.rootfs);
    } catch (err) {
      throw new RootfsMountFailed(name, (err as Error).message, err);
    }
  }

  private imageRunDone(id: string): void {
    const n = (this.imagesInRun.get(id) ?? 1) - 1;
    if (n > 0) this.imagesInRun.set(id, n);
    else this.imagesInRun.delete(id);
  }

  private view(rec: ContainerRecord): ContainerView {
    return containerView(rec, this.o.host, this.restartTimers.has(rec.id));
  }
}

/** cp's problems as one-line user errors; others (I/O) with what failed. */
function copyError(direction: 'from' | 'to', name: string, err: unknown): unknown {
  if (err instanceof VxnetError) return err;
  const e = err as NodeJS.ErrnoException;
  const why = err instanceof ScopeError || err instanceof CopyProblem ? e.message
    : e.code === 'EROFS' ? 'that part of its file system is read-only (write under /tmp or another writable mount)'
      : `${e.code ?? 'error'}: ${e.message}`;
  return new CopyFailed(direction, name, why, err);
}

/** A fresh count and back-off (start, restart). */
function resetRestarts(rec: ContainerRecord): void {
  if (rec.restartPolicy) {
    rec.restartCount = 0;
    rec.restartBackoffMs = 0;
  }
}

/** Agent errors say what is wrong ("network "x" not found"); say what could not be done first. */
function withContext(what: string, err: unknown): unknown {
  if (!(err instanceof VxnetError) || err.message.startsWith('could not')) return err;
  return new VxnetError(err.code, err.statusCode, `${what}: ${err.message}`, { cause: err });
}

/** The record of an agent endpoint; `ports` as asked for it (`-p`), with the agent's resolved mappings. */
function toContainerEndpoint(ep: AgentEndpoint, ports?: RunRequest['ports']): ContainerEndpoint {
  return {
    endpointId: ep.id, network: ep.networkName, networkId: ep.networkId, ip: ep.ip, mac: ep.mac, gateway: ep.gateway,
    prefixLength: ep.prefixLength, ifname: ep.ifname, aliases: ep.aliases, mtu: ep.mtu,
    ...(ports?.length ? { ports, published: ep.ports ?? [] } : {}),
  };
}

function findEndpoint(rec: ContainerRecord, network: string): ContainerEndpoint | undefined {
  return rec.endpoints.find((e) => e.network === network || e.networkId === network)
    ?? (/^[0-9a-f]+$/.test(network) ? rec.endpoints.find((e) => e.networkId.startsWith(network)) : undefined);
}
