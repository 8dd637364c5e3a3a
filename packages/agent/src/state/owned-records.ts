/**
 * The network namespaces this agent made (namespaces.json in the state dir): a JSON
 * array of { name, networkId, recordedAt }, rewritten atomically on every change.
 *
 * Ownership by record, not by name: a name is written here before the namespace is
 * created and removed only after it was deleted, so a crash between the two leaves
 * a record of something absent (harmless: deleting it is a no-op), never a
 * namespace without a record. Reconcile deletes only recorded namespaces; a foreign
 * namespace that happens to share the naming pattern, or an engine's sandbox, is
 * never touched.
 */
import { writeJsonAtomic } from '@vxnet/common';

import { readStateFile, recordListProblem } from './state-file.js';

export interface OwnedNamespace {
  /** Name under /run/netns. */
  name: string;
  /** The network it was made for. */
  networkId: string;
  /** When the record was written (just before the namespace was created), ISO 8601. */
  recordedAt: string;
}

export class OwnedNamespaces {
  private list: OwnedNamespace[] = [];
  private loaded = false;

  constructor(readonly file: string, private readonly now: () => number = Date.now) {}

  /** Reads the file; absent is empty. Throws VXNET_STATE_UNREADABLE when it exists but cannot be read or parsed. */
  load(): void {
    this.list =
      readStateFile<OwnedNamespace[]>(
        this.file,
        (v) => recordListProblem(v, ['name', 'networkId']),
        `To rebuild from scratch, remove ${this.file} and start the agent: the namespaces of networks this host still has are recorded again, others stay until removed by hand (ip netns list).`,
      ) ?? [];
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

  private save(next: OwnedNamespace[]): void {
    // Never overwrite a file that was not read: its content would be lost.
    if (!this.loaded) throw new Error(`${this.file} was not loaded`);
    writeJsonAtomic(this.file, next);
    this.list = next;
  }
}
