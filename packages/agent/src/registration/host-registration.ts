/**
 * Host registration and liveness. Two records: hosts/<host> (permanent: what
 * `vxnet host ls` shows even after the host dies) and alive/<host>, bound to a short
 * liveness lease kept alive while the agent runs. Peers drop a host's routes and DNS
 * records when alive/<host> goes: at once on a clean stop (the lease is revoked),
 * within the TTL after a crash.
 *
 * A lost liveness lease (store outage longer than the TTL) is re-granted with
 * backoff; listeners get the new lease id to re-bind the records that hang on it
 * (endpoints).
 *
 * hosts/<host> also carries the host namespace's routes (host-routes.ts), which the
 * controller keeps networks clear of. They are read at start and polled; a change is
 * written at once, an unchanged poll writes nothing.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { HostAlive, HostRecord, HostWireGuard, Keys, Lease, Logger, Store } from '@vxnet/common';

export interface RegistrationOptions {
  store: Store;
  keys: Keys;
  host: string;
  underlayIp: string;
  underlayInterface: string;
  agentVersion: string;
  /** Liveness TTL, seconds (minimum 2). */
  ttlSeconds: number;
  /** Destinations of the host namespace's routes not made by vxnet (readHostRoutes in production). May throw. */
  readRoutes: () => Promise<string[]>;
  /** This host's WireGuard identity (public parts), when it can carry encrypted networks: written to hosts/<host> and alive/<host>. */
  wireguard?: HostWireGuard;
  log: Logger;
}

/** How often hosts/<host>.lastSeen is refreshed, ms. */
const LAST_SEEN_EVERY_MS = 30_000;
/**
 * How often the host's routes are read, ms. A dump of a few routes costs well under a
 * millisecond; 10 s bounds how long `net create` can miss a route just added (a VPN
 * coming up) without a netlink subscription.
 */
const ROUTES_EVERY_MS = 10_000;

export class HostRegistration {
  private lease: Lease | undefined;
  private networks: string[] = [];
  private routes: string[] = [];
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private routesTimer: NodeJS.Timeout | undefined;
  private listeners: Array<(leaseId: string) => void | Promise<void>> = [];
  private registeredAt = new Date().toISOString();

  constructor(private readonly o: RegistrationOptions) {}

  /** Lease id that records living and dying with this host must be bound to. */
  get leaseId(): string {
    if (!this.lease) throw new Error('host is not registered');
    return this.lease.id;
  }

  /** Called with the new lease id after a lost liveness lease was replaced. */
  onNewLease(listener: (leaseId: string) => void | Promise<void>): void {
    this.listeners.push(listener);
  }

  /** Register (retrying with backoff while the store is unreachable). */
  async start(): Promise<void> {
    const existing = await this.o.store.get(this.o.keys.host(this.o.host));
    if (existing) {
      const rec = JSON.parse(existing.value) as HostRecord;
      this.registeredAt = rec.registeredAt;
      this.networks = rec.networks;
      // what the last run saw stands until this run can read the kernel
      if (Array.isArray(rec.routes)) this.routes = rec.routes;
    }
    await this.readRoutes();
    await this.register();
    this.timer = setInterval(() => void this.writeHost().catch((err: unknown) => this.o.log.warn({ err }, 'could not refresh host record')), LAST_SEEN_EVERY_MS);
    this.timer.unref();
    this.routesTimer = setInterval(() => void this.refreshRoutes().catch((err: unknown) => this.o.log.warn({ err }, 'could not write host routes')), ROUTES_EVERY_MS);
    this.routesTimer.unref();
  }

  /**
   * Read the host's routes again and write hosts/<host> when they changed (not
   * otherwise). Resolves true when it wrote. A failed read keeps the last routes
   * (logged); a failed write throws, and the next lastSeen refresh carries them.
   */
  async refreshRoutes(): Promise<boolean> {
    if (!(await this.readRoutes())) return false;
    await this.writeHost();
    return true;
  }

  /** Record which networks this host has joined (shown by `vxnet host ls`). */
  async setNetworks(netIds: string[]): Promise<void> {
    this.networks = [...new Set(netIds)].sort();
    await this.writeHost();
  }

  /** Stop: revoke the liveness lease so peers forget this host at once. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    clearInterval(this.routesTimer);
    await this.writeHost().catch(() => undefined);
    await this.lease?.revoke().catch((err: unknown) => this.o.log.warn({ err }, 'could not revoke liveness lease'));
  }

  private async register(): Promise<void> {
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        const lease = await this.o.store.grantLease(this.o.ttlSeconds);
        const alive: HostAlive = {
          name: this.o.host, underlayIp: this.o.underlayIp, since: new Date().toISOString(), ...(this.o.wireguard ? { wireguard: this.o.wireguard } : {}),
        };
        await this.o.store.put(this.o.keys.hostAlive(this.o.host), JSON.stringify(alive), { lease: lease.id });
        this.lease = lease;
        lease.onLost((err) => {
          if (this.stopped || this.lease !== lease) return;
          this.o.log.error({ err }, 'liveness lease lost; registering again');
          void this.register().then(async () => {
            for (const l of this.listeners) await l(this.leaseId);
          });
        });
        await this.writeHost();
        this.o.log.info({ lease: lease.id, ttl: this.o.ttlSeconds }, 'host registered');
        return;
      } catch (err) {
        const delay = Math.min(5000, 200 * 2 ** attempt);
        this.o.log.warn({ err, retryInMs: delay }, 'could not register host; retrying');
        await sleep(delay);
      }
    }
  }

  /** Update this.routes from the kernel; true when they changed. A failed read changes nothing. */
  private async readRoutes(): Promise<boolean> {
    let routes: string[];
    try {
      routes = await this.o.readRoutes();
    } catch (err) {
      this.o.log.warn({ err, routes: this.routes }, 'could not read host routes; keeping the last ones');
      return false;
    }
    if (routes.length === this.routes.length && routes.every((r, i) => r === this.routes[i])) return false;
    this.o.log.info({ routes, before: this.routes }, 'host routes changed');
    this.routes = routes;
    return true;
  }

  private async writeHost(): Promise<void> {
    const rec: HostRecord = {
      name: this.o.host,
      underlayIp: this.o.underlayIp,
      underlayInterface: this.o.underlayInterface,
      agentVersion: this.o.agentVersion,
      networks: this.networks,
      routes: this.routes,
      ...(this.o.wireguard ? { wireguard: this.o.wireguard } : {}),
      registeredAt: this.registeredAt,
      lastSeen: new Date().toISOString(),
    };
    await this.o.store.put(this.o.keys.host(this.o.host), JSON.stringify(rec));
  }
}
