/**
 * The agent's firewall: keeps the nftables table `ip vxnet` in its namespace equal
 * to a desired state (ruleset.ts), and says whether traffic in and out of the
 * overlay can be offered at all.
 *
 * - probe(): at start, forwarding is turned on and nft must accept a check of the
 *   desired transaction (knftables' Present()). When either fails, egress is
 *   unavailable for the life of the process: the status says why, it is logged once,
 *   and the agent makes no uplink (isolation between networks could not be
 *   enforced); internal networks stay isolated structurally, having none anyway.
 * - apply(): the whole table, rebuilt from the state, as one transaction; skipped
 *   when the text is the one applied last and nothing has drifted since. The table
 *   is then read back and kept, normalised, as the reference for the drift check.
 * - check(): flannel's resync (`--iptables-resync=5`): list the table, compare with
 *   the reference, re-apply on any difference and warn naming it. A failed apply
 *   is retried here too.
 *
 * Nothing here runs concurrently with itself: the agent calls it from its serial
 * queue. No other table and no iptables rule is ever read or written.
 */
import type { Logger } from '@vxnet/common';

import { FirewallFailed } from '../errors.js';
import type { Forwarding } from './ip-forward.js';
import { diffTables, normaliseTable, sameTable, type NormalisedTable } from './normalise.js';
import type { Nft } from './nft.js';
import { renderTransaction, type FirewallState } from './ruleset.js';

export interface EgressStatus {
  available: boolean;
  /** Why not, when unavailable; null when available. */
  reason: string | null;
}

export interface FirewallOptions {
  nft: Nft;
  forwarding: Forwarding;
  /** Logger with `component: 'firewall'`. */
  log: Logger;
}

/** Most changed objects named in one drift warning. */
const DRIFT_LOG_ITEMS = 8;

export class Firewall {
  private current: EgressStatus = { available: false, reason: 'the firewall was not checked yet' };
  /** Transaction text and read-back of the last successful apply. */
  private applied: { text: string; table: NormalisedTable } | undefined;

  constructor(private readonly o: FirewallOptions) {}

  get status(): EgressStatus {
    return { ...this.current };
  }

  /**
   * Presence check: forwarding on, then `nft -c` of `state`'s transaction. Never
   * throws: the outcome is the returned (and kept) status. Logs the outcome once.
   */
  async probe(state: FirewallState): Promise<EgressStatus> {
    try {
      if (this.o.forwarding.ensure()) this.o.log.info({ sysctl: { 'net.ipv4.ip_forward': 1, was: 0 } }, 'IPv4 forwarding turned on');
    } catch (err) {
      return this.unavailable(`net.ipv4.ip_forward could not be set: ${(err as Error).message}`, err);
    }
    try {
      await this.o.nft.check(renderTransaction(state));
    } catch (err) {
      return this.unavailable(`nftables is not usable: ${(err as Error).message}`, err);
    }
    this.current = { available: true, reason: null };
    this.o.log.info({ sysctl: { 'net.ipv4.ip_forward': 1 } }, 'nftables works: egress, published ports and expose available');
    return this.status;
  }

  private unavailable(reason: string, err: unknown): EgressStatus {
    this.current = { available: false, reason };
    this.o.log.error({ err, reason }, 'egress unavailable: no uplinks will be made; internal networks stay isolated');
    return this.status;
  }

  /**
   * Makes the table equal to `state`: one `nft -f -` transaction, unless the text is
   * the one applied last and the drift check found nothing since. Returns whether
   * the kernel was written. Throws VXNET_FIREWALL_FAILED (nft's message, cause
   * NftError) when nft refuses: the table then is as it was. Must not be called
   * when unavailable (throws TypeError).
   */
  async apply(state: FirewallState): Promise<boolean> {
    if (!this.current.available) throw new TypeError('Firewall.apply called while egress is unavailable');
    const text = renderTransaction(state);
    if (this.applied?.text === text) return false;
    // forgotten until the read-back succeeds: after any failure the next check re-applies
    this.applied = undefined;
    const start = performance.now();
    try {
      await this.o.nft.apply(text);
    } catch (err) {
      throw new FirewallFailed('apply', (err as Error).message, err);
    }
    const applyMs = Math.round((performance.now() - start) * 10) / 10;
    this.applied = { text, table: await this.readBack() };
    this.o.log.debug({ applyMs, uplinks: state.uplinks.length, ports: state.ports.length }, 'table applied');
    return true;
  }

  /**
   * Drift check: the table as listed now against the read-back of the last apply.
   * On any difference (or when the last apply failed) `state` is applied again and
   * a warning names what had changed. Returns true when it re-applied. Throws
   * VXNET_FIREWALL_FAILED when listing or re-applying fails. Does nothing while
   * unavailable.
   */
  async check(state: FirewallState): Promise<boolean> {
    if (!this.current.available) return false;
    try {
      if (this.o.forwarding.ensure()) this.o.log.warn({ sysctl: { 'net.ipv4.ip_forward': 1, was: 0 } }, 'IPv4 forwarding had been turned off; turned it on again');
    } catch (err) {
      this.o.log.warn({ err }, 'could not check net.ipv4.ip_forward');
    }
    const before = this.applied;
    if (!before) {
      this.o.log.warn('re-applying the table: the last apply failed');
      await this.apply(state);
      return true;
    }
    const now = await this.readBack();
    if (sameTable(before.table, now)) return false;
    const { removed, added } = diffTables(before.table, now);
    this.o.log.warn(
      {
        drift: {
          tableDeleted: now.length === 0,
          removed: removed.slice(0, DRIFT_LOG_ITEMS),
          added: added.slice(0, DRIFT_LOG_ITEMS),
          counts: { removed: removed.length, added: added.length },
          reordered: removed.length === 0 && added.length === 0,
        },
      },
      'table ip vxnet was changed behind the agent; re-applying',
    );
    this.applied = undefined;
    await this.apply(state);
    return true;
  }

  /** The table as listed now, normalised; empty when it does not exist. */
  private async readBack(): Promise<NormalisedTable> {
    let json: unknown;
    try {
      json = await this.o.nft.listTable();
    } catch (err) {
      throw new FirewallFailed('list', (err as Error).message, err);
    }
    return json === undefined ? [] : normaliseTable(json);
  }
}
