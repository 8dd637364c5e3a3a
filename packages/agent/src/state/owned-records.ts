/**
 * What this agent made in the kernel, by record: the network namespaces
 * (namespaces.json) and the uplinks (uplinks.json) in the state dir, each a JSON
 * array of { name, networkId, recordedAt }, rewritten atomically on every change.
 *
 * Ownership by record, not by name: a name is written here before the thing is
 * created and removed only after it was deleted, so a crash between the two leaves
 * a record of something absent (harmless: deleting it is a no-op), never a thing
 * without a record. Reconcile deletes only what is recorded; a foreign namespace or
 * interface that happens to share the naming pattern, or an engine's sandbox, is
 * never touched.
 */
import { writeJsonAtomic } from '@vxnet/common';

import { readStateFile, recordListProblem } from './state-file.js';

export interface OwnedRecord {
  /** Name under /run/netns, or interface name in the agent's namespace. */
  name: string;
  /** The network it was made for. */
  networkId: string;
  /** When the record was written (just before the thing was created), ISO 8601. */
  recordedAt: string;
}

export class OwnedRecords {
  private list: OwnedRecord[] = [];
  private loaded = false;

  /** `recovery`: what an operator can do when the file is unreadable (see readStateFile). */
  constructor(readonly file: string, private readonly recovery: string, private readonly now: () => number = Date.now) {}

  /** Reads the file; absent is empty. Throws VXNET_STATE_UNREADABLE when it exists but cannot be read or parsed. */
  load(): void {
    this.list = readStateFile<OwnedRecord[]>(this.file, (v) => recordListProblem(v, ['name', 'networkId']), this.recovery) ?? [];
    this.loaded = true;
  }

  has(name: string): boolean {
    return this.list.some((n) => n.name === name);
  }

  /** Recorded names, sorted. */
  names(): string[] {
    return this.list.map((n) => n.name).sort();
  }

  /** Records `name` (call BEFORE creating it). Idempotent: no write when already recorded. */
  record(name: string, networkId: string): void {
    if (this.has(name)) return;
    this.save([...this.list, { name, networkId, recordedAt: new Date(this.now()).toISOString() }]);
  }

  /** Drops the record of `name` (call AFTER deleting it). Idempotent. */
  forget(name: string): void {
    if (!this.has(name)) return;
    this.save(this.list.filter((n) => n.name !== name));
  }

  private save(next: OwnedRecord[]): void {
    // Never overwrite a file that was not read: its content would be lost.
    if (!this.loaded) throw new Error(`${this.file} was not loaded`);
    writeJsonAtomic(this.file, next);
    this.list = next;
  }
}

/** The network namespaces this agent made (namespaces.json). */
export function ownedNamespaces(file: string): OwnedRecords {
  return new OwnedRecords(
    file,
    `To rebuild from scratch, remove ${file} and start the agent: the namespaces of networks this host still has are recorded again, others stay until removed by hand (ip netns list).`,
  );
}

/** The uplinks this agent made in its namespace (uplinks.json). */
export function ownedUplinks(file: string): OwnedRecords {
  return new OwnedRecords(
    file,
    `To rebuild from scratch, remove ${file} and start the agent: the uplinks of networks this host still has are recorded again, others stay until removed by hand (ip link show type veth).`,
  );
}
