/**
 * Claims of network names, VNIs and CIDRs: one key each, made by create-if-absent, so
 * the store itself picks one winner among racing controllers (the layout and why:
 * common/src/keys.ts). Which VNI or block to try is allocate.ts's policy; this file
 * says how a claim is made, checked against overlapping CIDRs, and let go.
 *
 * Overlapping CIDRs of different sizes have different keys, so a subnet claim is
 * create-then-look: create our key, then read the claims inside and around our CIDR.
 * Of two overlapping claims the one created at the lower store revision wins: the
 * later one was created after the earlier one existed, so its look is sure to see it
 * and give way, while the earlier one may go on whatever its own look saw. Both may
 * give way (a third claim, or a stale one), never both go on.
 *
 * Unknown outcomes: a create whose answer is lost (StoreUnavailable; etcd's client
 * also retries a create that did land, which then "loses" to itself) may have landed.
 * Every claim carries the new network's random id, so reading the key back tells:
 * our id, the claim is ours; anything else, it did not land (etcd serves a
 * linearizable read only after its leader committed in its own term, which commits or
 * drops every older entry).
 *
 * Claims in progress: names, VNIs and CIDRs asked for by the user wait (settle) for a
 * holder whose network record is not written yet, so that a create that is about to
 * fail on another conflict does not make a concurrent one fail too.
 *
 * Stale claims: a create that crashed between its claims and its network record
 * leaves claims of a network that never appeared. A claim older than STALE_CLAIM_MS
 * whose network record is absent is deleted (compare on its revision) by the next
 * create that meets it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  StoreUnavailable, subnetBits,
  type Cidr, type KeyValue, type Keys, type Logger, type NetworkClaim, type Store, type SubnetClaim,
} from '@vxnet/common';

/** A claim older than this whose network record is missing was left by a crashed create. */
export const STALE_CLAIM_MS = 30_000;
/** How often a claim in progress is looked at again before it counts as a conflict (about 3 s in all, settleDelay). */
const SETTLE_ROUNDS = 30;

/** Wait before looking again at a claim in progress: 10 ms, doubling, at most 100 ms. */
function settleDelay(round: number): number {
  return Math.min(10 * 2 ** round, 100);
}

export type ClaimResult =
  /** The key is ours; `kv` as created (its createRevision orders overlapping subnet claims). */
  | { ok: true; kv: KeyValue }
  /** Someone else holds it (or, for a subnet, an overlapping CIDR that wins): `holder` names the network. */
  | { ok: false; holder: NetworkClaim; key: string };

export class Claims {
  constructor(
    private readonly store: Store,
    private readonly k: Keys,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Claim `key` for `claim.id` by create-if-absent. A stale holder is reclaimed and the
   * create tried again. With `settle`, a holder whose network record is not written yet
   * (a create in progress, which may still fail) is waited for, up to about SETTLE_MS: a
   * conflict is then reported only against a network that exists, as when all claims
   * were one atomic write. Without it (candidates of the pool: the next one will do)
   * any holder loses at once. Throws StoreUnavailable when the store cannot say whether
   * the claim landed (the read-back failed too); the claim may then be there, until stale.
   */
  async claim(key: string, claim: NetworkClaim, opts: { settle?: boolean } = {}): Promise<ClaimResult> {
    const value = JSON.stringify(claim);
    let unanswered = 0;
    for (let round = 0; ; round++) {
      let holder: KeyValue | undefined;
      try {
        const res = await this.store.create(key, value);
        if (res.created) return { ok: true, kv: { key, value, createRevision: res.revision, modRevision: res.revision, version: 1, lease: undefined } };
        holder = res.current;
      } catch (err) {
        if (!(err instanceof StoreUnavailable)) throw err;
        holder = await this.store.get(key); // throws StoreUnavailable in turn when still unreachable
        if (holder === undefined) {
          if (++unanswered < 3) continue; // did not land: try again
          throw err;
        }
      }
      if (claimOf(holder).id === claim.id) {
        this.log.info({ key, network: { id: claim.id, name: claim.name } }, 'claim landed although its create did not say so');
        return { ok: true, kv: holder };
      }
      if (round < SETTLE_ROUNDS && (await this.reclaimIfStale(holder))) continue;
      if (opts.settle && round < SETTLE_ROUNDS && !(await this.settled(holder))) {
        await sleep(settleDelay(round));
        continue;
      }
      return { ok: false, holder: claimOf(holder), key };
    }
  }

  /**
   * Claim a CIDR: its key, then no overlapping claim created before ours (see the top
   * of the file). On an overlap our key is released again and the winner returned;
   * with `settle` (as for claim) only once the winner's network exists.
   */
  async claimSubnet(cidr: Cidr, claim: NetworkClaim, opts: { settle?: boolean } = {}): Promise<ClaimResult> {
    const key = this.k.subnetClaim(cidr.network, cidr.prefixLength);
    const subnetClaim: SubnetClaim = { ...claim, subnet: cidr.text };
    const mine = await this.claim(key, subnetClaim, opts);
    if (!mine.ok) return mine;
    for (let round = 0; ; round++) {
      const winner = await this.earlierOverlap(cidr, mine.kv);
      if (winner === undefined) return mine;
      if (opts.settle && round < SETTLE_ROUNDS && !(await this.settled(winner))) {
        await sleep(settleDelay(round));
        continue;
      }
      await this.release(key, claim.id);
      return { ok: false, holder: claimOf(winner), key: winner.key };
    }
  }

  /** Whether the network holding `kv` exists (its record is written); a claim that does not parse counts as settled. */
  private async settled(kv: KeyValue): Promise<boolean> {
    const claim = parseClaim(kv);
    return claim === undefined || (await this.store.get(this.k.network(claim.id))) !== undefined;
  }

  /** Delete `key` if network `id` still holds it. Idempotent; a key held by another network is left alone. */
  async release(key: string, id: string): Promise<void> {
    const kv = await this.store.get(key);
    if (kv === undefined || parseClaim(kv)?.id !== id) return;
    await this.store.delete(key, kv.modRevision);
  }

  /**
   * The first claim overlapping `cidr` created before `mine` and not stale: the ones
   * inside it (keys under its bits) and around it (keys that are prefixes of its bits).
   */
  private async earlierOverlap(cidr: Cidr, mine: KeyValue): Promise<KeyValue | undefined> {
    const bits = subnetBits(cidr.network, cidr.prefixLength);
    const [inside, around] = await Promise.all([
      this.store.list(`${this.k.subnetClaims}${bits}`),
      Promise.all(Array.from({ length: cidr.prefixLength }, (_, n) => this.store.get(`${this.k.subnetClaims}${bits.slice(0, n)}`))),
    ]);
    const others = [...inside.items, ...around.filter((kv): kv is KeyValue => kv !== undefined)]
      .filter((kv) => kv.key !== mine.key && kv.createRevision < mine.createRevision)
      .sort((a, b) => a.createRevision - b.createRevision);
    for (const kv of others) {
      if (!(await this.reclaimIfStale(kv))) return kv;
    }
    return undefined;
  }

  /** Delete `kv` if it is a stale claim (see the top of the file); true when it is gone. */
  private async reclaimIfStale(kv: KeyValue): Promise<boolean> {
    const claim = parseClaim(kv);
    // a key that does not parse is no claim of ours to judge: it stays, and blocks
    if (claim === undefined || !(this.now() - Date.parse(claim.claimedAt) > STALE_CLAIM_MS)) return false;
    if (await this.store.get(this.k.network(claim.id))) return false;
    this.log.warn({ key: kv.key, network: { id: claim.id, name: claim.name }, claimedAt: claim.claimedAt }, 'reclaiming the claim of a network whose create never finished');
    await this.store.delete(kv.key, kv.modRevision);
    return true;
  }
}

/** The claim in `kv`, or undefined when it is not one (a hand-written key). */
export function parseClaim(kv: KeyValue): NetworkClaim | undefined {
  try {
    const c = JSON.parse(kv.value) as Partial<NetworkClaim>;
    return typeof c.id === 'string' && typeof c.name === 'string' && typeof c.claimedAt === 'string' ? (c as NetworkClaim) : undefined;
  } catch {
    return undefined;
  }
}

/** The claim in `kv`, or a stand-in naming the key, for messages. */
function claimOf(kv: KeyValue): NetworkClaim {
  return parseClaim(kv) ?? { id: '?', name: `(unreadable claim ${kv.key})`, claimedAt: '' };
}
