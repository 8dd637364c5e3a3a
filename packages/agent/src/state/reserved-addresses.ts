/**
 * Addresses of this host's subnets held for a client that allocates them before it
 * asks for an endpoint (reserved.json in the state dir): Docker's IPAM hands an
 * address out with RequestAddress, the endpoint comes with CreateEndpoint/Join, and
 * the address is given back only with ReleaseAddress, after the endpoint is gone.
 * A JSON array of { networkId, ip, holder, recordedAt }, rewritten atomically on
 * every change. A reserved address is in use for everyone but an endpoint whose
 * owner is the holder.
 */
import { writeJsonAtomic } from '@vxnet/common';

import { readStateFile, recordListProblem } from './state-file.js';

export interface ReservedAddress {
  networkId: string;
  /** In this host's subnet lease of the network. */
  ip: string;
  /** Who reserved it: the owner of the endpoints that may take it (e.g. "docker"). */
  holder: string;
  /** ISO 8601. */
  recordedAt: string;
}

export class ReservedAddresses {
  private list: ReservedAddress[] = [];
  private loaded = false;

  /** `file` absent: kept in memory only (tests and benchmarks that never restart an agent). */
  constructor(readonly file: string | undefined, private readonly now: () => number = Date.now) {}

  /** Reads the file; absent is empty. Throws VXNET_STATE_UNREADABLE when it exists but cannot be read or parsed. */
  load(): void {
    this.list = this.file === undefined ? [] :
      readStateFile<ReservedAddress[]>(
        this.file,
        (v) => recordListProblem(v, ['networkId', 'ip', 'holder']),
        `To rebuild from scratch, remove ${this.file} and start the agent: addresses Docker holds may then be given to other containers of this host.`,
      ) ?? [];
    this.loaded = true;
  }

  onNetwork(networkId: string): ReservedAddress[] {
    return this.list.filter((r) => r.networkId === networkId);
  }

  find(networkId: string, ip: string): ReservedAddress | undefined {
    return this.list.find((r) => r.networkId === networkId && r.ip === ip);
  }

  /** Records a reservation (replacing one of the same address). */
  add(networkId: string, ip: string, holder: string): void {
    this.save([...this.list.filter((r) => !(r.networkId === networkId && r.ip === ip)), { networkId, ip, holder, recordedAt: new Date(this.now()).toISOString() }]);
  }

  /** Forgets a reservation; true when there was one. Idempotent (no write when absent). */
  remove(networkId: string, ip: string): boolean {
    if (!this.find(networkId, ip)) return false;
    this.save(this.list.filter((r) => !(r.networkId === networkId && r.ip === ip)));
    return true;
  }

  /** Forgets every reservation on `networkId` (the network was left). */
  removeNetwork(networkId: string): void {
    if (this.onNetwork(networkId).length === 0) return;
    this.save(this.list.filter((r) => r.networkId !== networkId));
  }

  private save(next: ReservedAddress[]): void {
    // Never overwrite a file that was not read: its content would be lost.
    if (!this.loaded) throw new Error(`${this.file ?? 'reserved addresses'} were not loaded`);
    if (this.file !== undefined) writeJsonAtomic(this.file, next);
    this.list = next;
  }
}
