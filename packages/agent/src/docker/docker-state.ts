/**
 * What the Docker plugin must remember across agent restarts (docker.json in the
 * state dir; trap D6: dockerd never replays CreateNetwork or CreateEndpoint, and
 * calls Join/Leave/DeleteEndpoint with ids given before the restart):
 *
 *   networks   Docker NetworkID -> the vxnet network it is bound to (and its MTU)
 *   endpoints  Docker EndpointID -> network, address, MAC, whether it is joined,
 *              and the names dockerd's events gave it
 *   pools      PoolIDs handed out and not yet released, with how many times
 *              (trap D5: a pool dockerd chose itself must not be handed out twice)
 *
 * One JSON object rewritten atomically (temporary file + rename) on every change.
 * Ownership of agent endpoints follows from it: an endpoint owned by "docker" that
 * no joined entry here explains is a leftover, and the plugin removes it.
 */
import { writeJsonAtomic } from '@vxnet/common';

import { readStateFile } from '../state/state-file.js';

export interface DockerNetwork {
  /** Docker's NetworkID (64 hex). */
  id: string;
  /** The vxnet network's id. */
  networkId: string;
  /** The MTU of its interfaces (the vxnet network's, or a lower `-o com.docker.network.driver.mtu`). */
  mtu: number;
  createdAt: string;
}

export interface DockerEndpoint {
  /** Docker's EndpointID (64 hex); also the agent endpoint's id once joined. */
  id: string;
  /** Docker's NetworkID. */
  dockerNetworkId: string;
  /** The vxnet network's id. */
  networkId: string;
  ip: string;
  prefixLength: number;
  mac: string;
  /** Between Join and Leave: the agent endpoint (veth, records) exists or is being made. */
  joined: boolean;
  /** From dockerd's events, once known: the container's name, aliases and id. */
  names?: { name: string; aliases: string[]; container: string };
  createdAt: string;
}

export interface DockerPool {
  poolId: string;
  /** RequestPool answers not yet released. */
  holds: number;
}

interface StateShape {
  networks: DockerNetwork[];
  endpoints: DockerEndpoint[];
  pools: DockerPool[];
}

export class DockerState {
  private s: StateShape = { networks: [], endpoints: [], pools: [] };
  private loaded = false;
  /** Whether load() found the file (absent: a first start, or a state dir reset). */
  existed = false;

  constructor(readonly file: string) {}

  /** Reads the file; absent is empty. Throws VXNET_STATE_UNREADABLE when it exists but cannot be read or parsed. */
  load(): void {
    const v = readStateFile<StateShape>(
      this.file,
      (x) => shapeProblem(x),
      `To rebuild from scratch, remove ${this.file} and start the agent: Docker networks made with -d vxnet must then be removed and created again (docker network rm; docker network create).`,
    );
    this.s = v ?? { networks: [], endpoints: [], pools: [] };
    this.existed = v !== undefined;
    this.loaded = true;
  }

  network(id: string): DockerNetwork | undefined {
    return this.s.networks.find((n) => n.id === id);
  }

  networks(): DockerNetwork[] {
    return [...this.s.networks];
  }

  setNetwork(n: DockerNetwork): void {
    this.save({ ...this.s, networks: [...this.s.networks.filter((x) => x.id !== n.id), n] });
  }

  /** Forgets a network; true when it was known. */
  removeNetwork(id: string): boolean {
    if (!this.network(id)) return false;
    this.save({ ...this.s, networks: this.s.networks.filter((x) => x.id !== id) });
    return true;
  }

  endpoint(id: string): DockerEndpoint | undefined {
    return this.s.endpoints.find((e) => e.id === id);
  }

  endpoints(): DockerEndpoint[] {
    return [...this.s.endpoints];
  }

  setEndpoint(e: DockerEndpoint): void {
    this.save({ ...this.s, endpoints: [...this.s.endpoints.filter((x) => x.id !== e.id), e] });
  }

  /** Forgets an endpoint; true when it was known. */
  removeEndpoint(id: string): boolean {
    if (!this.endpoint(id)) return false;
    this.save({ ...this.s, endpoints: this.s.endpoints.filter((x) => x.id !== id) });
    return true;
  }

  /** How many RequestPool answers of `poolId` are not released. */
  holds(poolId: string): number {
    return this.s.pools.find((p) => p.poolId === poolId)?.holds ?? 0;
  }

  holdPool(poolId: string): void {
    const holds = this.holds(poolId) + 1;
    this.save({ ...this.s, pools: [...this.s.pools.filter((p) => p.poolId !== poolId), { poolId, holds }] });
  }

  /** One hold less; idempotent at zero. */
  releasePool(poolId: string): void {
    const holds = this.holds(poolId);
    if (holds === 0) return;
    const rest = this.s.pools.filter((p) => p.poolId !== poolId);
    this.save({ ...this.s, pools: holds > 1 ? [...rest, { poolId, holds: holds - 1 }] : rest });
  }

  private save(next: StateShape): void {
    // Never overwrite a file that was not read: its content would be lost.
    if (!this.loaded) throw new Error(`${this.file} was not loaded`);
    writeJsonAtomic(this.file, next);
    this.s = next;
  }
}

function shapeProblem(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'not a JSON object';
  const o = v as Record<string, unknown>;
  const str = (x: unknown) => typeof x === 'string' && x !== '';
  for (const key of ['networks', 'endpoints', 'pools'] as const) if (!Array.isArray(o[key])) return `${key} is not a list`;
  for (const [i, n] of (o.networks as unknown[]).entries()) {
    const r = n as Partial<DockerNetwork> | null;
    if (!r || !str(r.id) || !str(r.networkId) || !Number.isInteger(r.mtu)) return `networks entry ${i} is not a network (id, networkId, mtu)`;
  }
  for (const [i, e] of (o.endpoints as unknown[]).entries()) {
    const r = e as Partial<DockerEndpoint> | null;
    if (!r || !str(r.id) || !str(r.dockerNetworkId) || !str(r.networkId) || !str(r.ip) || !str(r.mac) || !Number.isInteger(r.prefixLength) || typeof r.joined !== 'boolean') {
      return `endpoints entry ${i} is not an endpoint (id, dockerNetworkId, networkId, ip, prefixLength, mac, joined)`;
    }
  }
  for (const [i, p] of (o.pools as unknown[]).entries()) {
    const r = p as Partial<DockerPool> | null;
    if (!r || !str(r.poolId) || !Number.isInteger(r.holds)) return `pools entry ${i} is not a pool (poolId, holds)`;
  }
  return undefined;
}
