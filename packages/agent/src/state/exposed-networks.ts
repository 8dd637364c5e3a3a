/**
 * The networks this host is exposed on (exposed.json in the state dir): a JSON
 * array of { networkId, ip, recordedAt }, rewritten atomically on every change.
 * The address is reserved in the host's subnet like an endpoint's (no container
 * gets it) and put back on the uplink after a restart.
 */
import { writeJsonAtomic } from '@vxnet/common';

import { readStateFile, recordListProblem } from './state-file.js';

export interface ExposedNetwork {
  networkId: string;
  /** The host's address on the network, in its subnet lease. */
  ip: string;
  /** When it was exposed, ISO 8601. */
  recordedAt: string;
}

export class ExposedNetworks {
  private list: ExposedNetwork[] = [];
  private loaded = false;

  constructor(readonly file: string, private readonly now: () => number = Date.now) {}

  /** Reads the file; absent is empty. Throws VXNET_STATE_UNREADABLE when it exists but cannot be read or parsed. */
  load(): void {
    this.list =
      readStateFile<ExposedNetwork[]>(
        this.file,
        (v) => recordListProblem(v, ['networkId', 'ip']),
        `To rebuild from scratch, remove ${this.file} and start the agent: no network is exposed any more (vxnet net expose again).`,
      ) ?? [];
    this.loaded = true;
  }

  /** The exposed address on `networkId`, or undefined. */
  ip(networkId: string): string | undefined {
    return this.list.find((e) => e.networkId === networkId)?.ip;
  }

  all(): ExposedNetwork[] {
    return [...this.list];
  }

  /** Records `ip` as this host's address on `networkId` (replacing any earlier one). */
  set(networkId: string, ip: string): void {
    this.save([...this.list.filter((e) => e.networkId !== networkId), { networkId, ip, recordedAt: new Date(this.now()).toISOString() }]);
  }

  /** Forgets the exposure of `networkId`. Idempotent (no write when absent). */
  remove(networkId: string): void {
    if (!this.list.some((e) => e.networkId === networkId)) return;
    this.save(this.list.filter((e) => e.networkId !== networkId));
  }

  private save(next: ExposedNetwork[]): void {
    // Never overwrite a file that was not read: its content would be lost.
    if (!this.loaded) throw new Error(`${this.file} was not loaded`);
    writeJsonAtomic(this.file, next);
    this.list = next;
  }
}
