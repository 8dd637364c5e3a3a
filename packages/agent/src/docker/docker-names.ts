/**
 * Container names for vxnet's DNS, from dockerd (issue 11: the plugin protocol never
 * says which container an endpoint is for, nor its name).
 *
 * Always asynchronous, never from inside a plugin call: during CreateEndpoint and
 * Join the container is not visible yet, and dockerd answers an inspect only after
 * the container's start, which waits for those very calls (Calico does the same in a
 * goroutine). So: follow `GET /events` (network connect), inspect the container,
 * and give each of its endpoints this driver made the container's name, its aliases
 * on that network (Docker 20.10 puts the short container id there too) and its id.
 *
 * The inspect answers when the start is over, and that is when the name should
 * appear: the sandbox's interface is configured only at runc's prestart hook
 * (libnetwork SetKey), late in the start. Measured with dockerd 20.10 in a 2-host
 * lab: Join ~100 ms into `docker run`, the veth moved into the sandbox ~400 ms, the
 * run returns ~450 ms, the name is published ~10 ms after that. Publishing at the
 * connect event instead (`GET /networks/ID` maps container to endpoint without
 * waiting; tried) gave a name ~300 ms before its address answered, and a client's
 * `ping -W1 NAME` loop then waited a whole second more.
 *
 * At each (re)connection, first open the stream (so nothing is missed), then name
 * every joined endpoint that has no name yet from `GET /containers/json` (an agent
 * restart, a dockerd restart, events missed while disconnected), and again every
 * resyncMs while some are left (a naming that failed: store down). Reconnects with
 * backoff (0.5 s doubling to 30 s, reset once connected), so it survives dockerd
 * restarts and a dockerd started after the agent.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@vxnet/common';
import { NAME_RE } from '@vxnet/common/api';

import { DockerApiError, type ContainerInspect, type ContainerSummary, type DockerApi, type DockerEvent, type EventStream } from './docker-api.js';
import type { ContainerNames, DockerDriver } from './docker-driver.js';

export interface DockerNamesOptions {
  api: Pick<DockerApi, 'getJson' | 'events' | 'socket'>;
  driver: Pick<DockerDriver, 'knows' | 'unnamed' | 'nameEndpoint'>;
  log: Logger;
  /** First reconnection delay, ms (default 500); doubles up to maxBackoffMs (default 30,000). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** While connected, how often endpoints still unnamed are looked for again, ms (default 10,000). */
  resyncMs?: number;
}

/** The names of `c` for the endpoint on one of its networks: a name and aliases vxnet's DNS accepts, and the id. */
export function containerNames(c: ContainerInspect, net: { Aliases?: string[] | null; DNSNames?: string[] | null }): ContainerNames {
  const valid = (n: string) => NAME_RE.test(n);
  const raw = c.Name.replace(/^\//, '');
  const name = valid(raw) ? raw : '';
  const aliases: string[] = [];
  for (const a of [...(net.Aliases ?? []), ...(net.DNSNames ?? [])]) {
    if (a !== name && valid(a) && !aliases.includes(a)) aliases.push(a);
  }
  return { name, aliases, container: c.Id };
}

export class DockerNames {
  private stopped = false;
  private stream: EventStream | undefined;
  private loop: Promise<void> | undefined;
  private wake: AbortController | undefined;
  /** Containers to inspect, in order; one at a time. */
  private readonly queue = new Set<string>();
  private draining: Promise<void> | undefined;
  private failures = 0;

  constructor(private readonly o: DockerNamesOptions) {}

  /** Start following dockerd (in the background; never throws). */
  start(): void {
    this.loop ??= this.run();
  }

  /** Stop: the stream closed, the loop ended, queued inspections dropped. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.queue.clear();
    this.stream?.close();
    this.wake?.abort();
    await this.loop;
    await this.draining;
  }

  private async run(): Promise<void> {
    const min = this.o.minBackoffMs ?? 500;
    const max = this.o.maxBackoffMs ?? 30_000;
    let backoff = min;
    while (!this.stopped) {
      try {
        this.stream = await this.o.api.events({ type: ['network'] }, (ev) => this.onEvent(ev));
        if (this.failures > 0) this.o.log.info({ socket: this.o.api.socket }, 'following dockerd again');
        else this.o.log.info({ socket: this.o.api.socket }, 'following dockerd for container names');
        this.failures = 0;
        backoff = min;
        await this.syncAll();
        const resync = setInterval(() => void this.syncAll().catch(() => undefined), this.o.resyncMs ?? 10_000);
        try {
          await this.stream.done;
        } finally {
          clearInterval(resync);
        }
        if (!this.stopped) this.o.log.warn({ socket: this.o.api.socket }, 'dockerd closed the events stream; reconnecting');
      } catch (err) {
        // the first failure in a row is worth a warning (dockerd down, or not there yet), not every retry
        if (this.failures++ === 0) this.o.log.warn({ err: { message: (err as Error).message }, socket: this.o.api.socket }, 'cannot follow dockerd; retrying with backoff');
      } finally {
        this.stream = undefined;
      }
      if (this.stopped) break;
      this.wake = new AbortController();
      await sleep(backoff, undefined, { signal: this.wake.signal }).catch(() => undefined);
      backoff = Math.min(backoff * 2, max);
    }
  }

  private onEvent(ev: DockerEvent): void {
    if (ev.Type !== 'network' || ev.Action !== 'connect') return;
    const container = ev.Actor?.Attributes?.container;
    if (container) this.enqueue(container);
  }

  /** Name every joined endpoint without a name, from the containers dockerd runs. */
  private async syncAll(): Promise<void> {
    const unnamed = new Set(this.o.driver.unnamed());
    if (unnamed.size === 0) return;
    const list = await this.o.api.getJson<ContainerSummary[]>('/containers/json');
    for (const c of list) {
      if (Object.values(c.NetworkSettings?.Networks ?? {}).some((n) => n.EndpointID !== undefined && unnamed.has(n.EndpointID))) this.enqueue(c.Id);
    }
    await this.draining;
  }

  private enqueue(container: string): void {
    if (this.stopped) return;
    this.queue.add(container);
    this.draining ??= this.drain().finally(() => {
      this.draining = undefined;
    });
  }

  private async drain(): Promise<void> {
    while (!this.stopped && this.queue.size > 0) {
      const [id] = this.queue;
      if (id === undefined) break;
      this.queue.delete(id);
      await this.inspect(id);
    }
  }

  /** Inspect one container and name its endpoints this driver made. A container gone meanwhile: nothing. */
  private async inspect(id: string): Promise<void> {
    let c: ContainerInspect;
    try {
      c = await this.o.api.getJson<ContainerInspect>(`/containers/${encodeURIComponent(id)}/json`);
    } catch (err) {
      if (err instanceof DockerApiError && err.status === 404) return;
      // dockerd busy or restarting: the next connection's sync names what is left
      this.o.log.warn({ err: { message: (err as Error).message }, container: id }, 'could not inspect a container for its names');
      return;
    }
    for (const [network, n] of Object.entries(c.NetworkSettings?.Networks ?? {})) {
      if (!n.EndpointID || !this.o.driver.knows(n.EndpointID)) continue;
      const names = containerNames(c, n);
      try {
        await this.o.driver.nameEndpoint(n.EndpointID, names);
      } catch (err) {
        this.o.log.warn({ err, container: id, network, endpoint: { id: n.EndpointID } }, 'could not name a Docker endpoint; retried at the next connection to dockerd');
      }
    }
  }
}
