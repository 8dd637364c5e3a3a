/**
 * The controller's Prometheus series (`vxnet_controller_…`), computed at scrape time
 * from the store: the controller keeps no state in memory, so every controller of a
 * cluster reports the same numbers, and none can drift from the store.
 *
 * One scrape reads the store twice (the subnet claims and the alive hosts),
 * shared by all gauges of that scrape. A store that does not answer makes
 * `vxnet_controller_store_up` 0 and leaves the other gauges at the last values read
 * (not zero: a dashboard must not read "no networks" from an outage; store_up says
 * whether they are current).
 */
import { cidrSize, cidrsOverlap, parseCidr, type Keys, type Store, type SubnetClaim } from '@vxnet/common';
import { Gauge, type DaemonMetrics } from '@vxnet/common/metrics';

/** A store read slower than this counts as the store being down for the scrape. */
const STORE_TIMEOUT_MS = 2000;
/** Gauges collected within this long of each other share one store read. */
const SHARE_MS = 250;

interface Snapshot {
  networks: number;
  /** addresses of networks inside the default pool */
  inPool: number;
  /** addresses of networks outside it (made with --subnet elsewhere) */
  outside: number;
  hostsAlive: number;
}

export function controllerMetrics(m: DaemonMetrics, store: Pick<Store, 'get' | 'list'>, keys: Keys, defaultPool: string): void {
  const pool = parseCidr(defaultPool, 'default pool');
  const poolSize = cidrSize(pool.prefixLength);
  let last: { at: number; snapshot: Promise<Snapshot | undefined> } | undefined;
  const read = async (): Promise<Snapshot> => {
    // every network holds exactly one subnet claim
    const [claims, alive] = await Promise.all([store.list(keys.subnetClaims), store.list(keys.alive)]);
    let inPool = 0;
    let outside = 0;
    for (const kv of claims.items) {
      const c = parseCidr((JSON.parse(kv.value) as SubnetClaim).subnet);
      const size = cidrSize(c.prefixLength);
      // two CIDRs overlap only when one holds the other: the shared part is the smaller
      const shared = cidrsOverlap(c, pool) ? Math.min(size, poolSize) : 0;
      inPool += shared;
      outside += size - shared;
    }
    return { networks: claims.items.length, inPool, outside, hostsAlive: alive.items.length };
  };
  const snapshot = (): Promise<Snapshot | undefined> => {
    const now = Date.now();
    if (!last || now - last.at > SHARE_MS) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), STORE_TIMEOUT_MS);
      });
      last = { at: now, snapshot: Promise.race([read().catch(() => undefined), timeout]).finally(() => clearTimeout(timer)) };
    }
    return last.snapshot;
  };
  const registers = [m.registry];
  const p = m.prefix;
  new Gauge({ name: `${p}store_up`, help: 'Whether the store answered at this scrape (1) or not (0)', registers, async collect() {
    this.set((await snapshot()) ? 1 : 0);
  } });
  new Gauge({ name: `${p}networks`, help: 'Networks allocated (names, VNIs and subnets claimed)', registers, async collect() {
    const s = await snapshot();
    if (s) this.set(s.networks);
  } });
  new Gauge({ name: `${p}hosts_alive`, help: 'Hosts whose liveness lease is in the store', registers, async collect() {
    const s = await snapshot();
    if (s) this.set(s.hostsAlive);
  } });
  new Gauge({
    name: `${p}pool_addresses`, help: 'Addresses of the default pool allocated to networks or free; pool="other" counts networks made with --subnet outside it',
    labelNames: ['pool', 'state'], registers,
    async collect() {
      const s = await snapshot();
      if (!s) return;
      this.set({ pool: 'default', state: 'allocated' }, s.inPool);
      this.set({ pool: 'default', state: 'free' }, poolSize - s.inPool);
      this.set({ pool: 'other', state: 'allocated' }, s.outside);
    },
  });
}
