/**
 * Migration of the pre-1.x `allocations` document (every network's name, VNI and CIDR
 * in one key) to one claim key each (common/src/keys.ts). Runs at controller start,
 * before the controller serves.
 *
 * Idempotent and safe with several controllers starting at once: each claim is made by
 * create-if-absent with the network's own id, so a second migrator finds its claims
 * made already; the document is deleted only if it did not change since it was read
 * (compare on its revision). An entry whose network record is absent (a create that
 * never finished, or a network removed by a controller that migrated first) is not
 * migrated. Controllers of the older version must be stopped first: they would go on
 * claiming in the document, unaware of the claim keys.
 *
 * An unreadable document stops the start (AllocationsUnreadable): read as empty, it
 * would let new networks take the names, VNIs and subnets of existing ones.
 */
import type { Allocation, Allocations, Keys, Logger, NameClaim, NetworkClaim, NetworkSpec, Store, SubnetClaim } from '@vxnet/common';
import { parseCidr } from '@vxnet/common';
import { AllocationsUnreadable } from '../errors.js';
import { parseClaim } from './claims.js';

/** Rounds of read-migrate-delete while another writer keeps changing the document. */
const MAX_ROUNDS = 5;

/** Migrate the document if there is one; returns how many networks were migrated (0: nothing to do). */
export async function migrateAllocations(store: Store, k: Keys, log: Logger): Promise<number> {
  for (let round = 1; round <= MAX_ROUNDS; round++) {
    const kv = await store.get(k.allocations); // StoreUnavailable stops the start: retried by whoever restarts us
    if (kv === undefined) return 0;
    const doc = parseDocument(kv.value, k.allocations);
    let migrated = 0;
    for (const a of doc.networks) {
      if (await migrateOne(store, k, a, log)) migrated++;
    }
    if (await store.delete(k.allocations, kv.modRevision)) {
      log.info({ migrated, entries: doc.networks.length }, 'migrated the allocations document to claim keys');
      return migrated;
    }
    log.warn({ round }, 'the allocations document changed while it was migrated (another migrator, or a controller of the older version still running); migrating again');
  }
  throw new AllocationsUnreadable(k.allocations, `it kept changing over ${MAX_ROUNDS} migrations (stop every controller of the older version)`);
}

/** Claim name, VNI and CIDR of one entry; false when its network record is absent. */
async function migrateOne(store: Store, k: Keys, a: Allocation, log: Logger): Promise<boolean> {
  const record = await store.get(k.network(a.id));
  if (!record) {
    log.warn({ network: { id: a.id, name: a.name } }, 'not migrating the allocation of a network whose record is absent');
    return false;
  }
  const claim: NetworkClaim = { id: a.id, name: a.name, claimedAt: a.claimedAt };
  const cidr = parseCidr(a.subnet, 'allocated subnet');
  const subnetClaim: SubnetClaim = { ...claim, subnet: cidr.text };
  const nameClaim: NameClaim = { ...claim, network: JSON.parse(record.value) as NetworkSpec };
  const wanted: Array<[string, NetworkClaim]> = [
    [k.networkName(a.name), nameClaim],
    [k.vni(a.vni), claim],
    [k.subnetClaim(cidr.network, cidr.prefixLength), subnetClaim],
  ];
  for (const [key, value] of wanted) {
    const res = await store.create(key, JSON.stringify(value));
    if (res.created) continue;
    const holder = parseClaim(res.current);
    // ours: made by an earlier or concurrent migration
    if (holder?.id !== a.id) log.error({ key, network: { id: a.id, name: a.name }, holder }, 'migration found the claim held by another network; left as it is');
  }
  return true;
}

function parseDocument(value: string, key: string): Allocations {
  let doc: unknown;
  try {
    doc = JSON.parse(value);
  } catch (err) {
    throw new AllocationsUnreadable(key, `it is not JSON (${(err as Error).message})`);
  }
  const networks = (doc as Partial<Allocations> | null)?.networks;
  if (!Array.isArray(networks)) throw new AllocationsUnreadable(key, 'it has no "networks" list');
  networks.forEach((a: Partial<Allocation>, i) => {
    const ok = typeof a?.id === 'string' && typeof a.name === 'string' && Number.isInteger(a.vni) && typeof a.subnet === 'string' && typeof a.claimedAt === 'string';
    if (!ok) throw new AllocationsUnreadable(key, `entry ${i} lacks id, name, vni, subnet or claimedAt`);
    try {
      parseCidr(a.subnet!, 'allocated subnet');
    } catch (err) {
      throw new AllocationsUnreadable(key, `entry ${i}: ${(err as Error).message}`);
    }
  });
  return doc as Allocations;
}
