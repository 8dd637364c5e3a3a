/**
 * The endpoints of this host (endpoints.json in the state dir): a JSON array of
 * LocalEndpoint, rewritten atomically (temporary file + rename) on every change.
 * It is the agent's record of which veths it made: reconcile keeps exactly these.
 */
import { parseIpv4, writeJsonAtomic } from '@vxnet/common';
import type { LocalEndpoint } from '@vxnet/common/api';

import { readStateFile, recordListProblem } from './state-file.js';

export class LocalEndpoints {
  private list: LocalEndpoint[] = [];
  private loaded = false;

  constructor(readonly file: string) {}

  /**
   * Reads the file; absent is empty. Throws VXNET_STATE_UNREADABLE when it exists
   * but cannot be read or parsed (nothing else happens: the caller stops).
   */
  load(): void {
    this.list =
      readStateFile<LocalEndpoint[]>(
        this.file,
        (v) => recordListProblem(v, ['id', 'networkId', 'sandbox', 'hostIfname', 'ip']) ?? portsProblem(v as LocalEndpoint[]),
        `To rebuild from scratch, stop the engine, remove ${this.file} and start the agent: veths without a record are then deleted and the engine must re-create its containers' endpoints.`,
      ) ?? [];
    this.loaded = true;
  }

  all(): LocalEndpoint[] {
    return [...this.list];
  }

  onNetwork(netId: string): LocalEndpoint[] {
    return this.list.filter((e) => e.networkId === netId);
  }

  /** The endpoint with this id or unique id prefix. */
  find(idOrPrefix: string): LocalEndpoint | undefined {
    return this.list.find((e) => e.id === idOrPrefix) ?? this.list.find((e) => e.id.startsWith(idOrPrefix));
  }

  /** Adds (or replaces, by id) an endpoint and writes the file. */
  add(ep: LocalEndpoint): void {
    this.save([...this.list.filter((e) => e.id !== ep.id), ep]);
  }

  /** Removes endpoints by id and writes the file (also when nothing matched). */
  remove(...ids: string[]): void {
    this.save(this.list.filter((e) => !ids.includes(e.id)));
  }

  private save(next: LocalEndpoint[]): void {
    // Never overwrite a file that was not read: its content would be lost.
    if (!this.loaded) throw new Error(`${this.file} was not loaded`);
    writeJsonAtomic(this.file, next);
    this.list = next;
  }
}

/**
 * A problem with the published ports of `list` (they become firewall rules), or
 * undefined. Absent ports are none (endpoints made before ports existed).
 */
function portsProblem(list: LocalEndpoint[]): string | undefined {
  const port = (n: unknown) => Number.isInteger(n) && (n as number) >= 1 && (n as number) <= 65535;
  for (const [i, ep] of list.entries()) {
    if (ep.ports === undefined) continue;
    if (!Array.isArray(ep.ports)) return `entry ${i} has ports that are not a list`;
    for (const p of ep.ports) {
      if (typeof p !== 'object' || p === null || typeof p.hostIp !== 'string' || parseIpv4(p.hostIp) === undefined || !port(p.hostPort) || !port(p.containerPort) || (p.protocol !== 'tcp' && p.protocol !== 'udp')) {
        return `entry ${i} has an invalid published port ${JSON.stringify(p)}`;
      }
    }
  }
  return undefined;
}
