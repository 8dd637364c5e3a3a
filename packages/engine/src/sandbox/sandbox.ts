/**
 * Sandboxes: the network namespace a container runs in, made before the container
 * so the agent can plug endpoints into it. Named `${prefix}s-<id12>` under
 * /run/netns; the daemon's prefix is VXNET_NETNS_PREFIX (`vxnet-s-<id12>`).
 */
import { createRtNetlink } from 'netlink';
import { deleteNetns, ensureNetns, inNetns, netnsPath } from '@vxnet/netns';

/**
 * What the engine needs of sandboxes (the unit tests use a fake). The engine records
 * a sandbox's name in the container's record before it calls `ensure`, and deletes
 * only names it recorded: ownership is the record, never the name's prefix.
 */
export interface SandboxManager {
  /** The name a new sandbox of container `containerId` gets. Pure. */
  name(containerId: string): string;
  /** Create the namespace `name` with its loopback up; idempotent. Resolves with its path. */
  ensure(name: string): Promise<string>;
  /** Remove the namespace `name`; idempotent: absent is success. */
  delete(name: string): void;
}

export class Sandboxes implements SandboxManager {
  constructor(private readonly prefix: string) {}

  name(containerId: string): string {
    return `${this.prefix}s-${containerId.slice(0, 12)}`;
  }

  path(name: string): string {
    return netnsPath(name);
  }

  /**
   * Create the sandbox namespace (idempotent) with its loopback up; returns its path.
   *
   * Equivalent to: ip netns add NAME; ip -n NAME link set lo up
   */
  async ensure(name: string): Promise<string> {
    const path = ensureNetns(name);
    const sock = inNetns(path, () => createRtNetlink());
    try {
      // lo is always ifindex 1 in a new namespace
      await sock.setLink({ index: 1, flags: { up: true }, change: { up: true } }, {}, { timeout: 5000 });
    } finally {
      sock.socket.close();
    }
    return path;
  }

  /** Remove the sandbox namespace; absent is success. Equivalent to: ip netns delete NAME */
  delete(name: string): void {
    deleteNetns(name);
  }
}
