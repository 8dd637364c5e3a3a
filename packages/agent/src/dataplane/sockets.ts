/**
 * One cached rtnetlink socket per network namespace.
 *
 * A netlink socket acts in the namespace it was created in, whatever thread later
 * uses it, so every namespace is programmed through its own socket, opened inside
 * it once (openRtnl, via inNetns) and kept. The cache is keyed by the namespace's
 * identity (nsfs device:inode), so a namespace deleted and re-created under the
 * same name by someone else gets a fresh socket instead of programming the old,
 * detached one.
 */
import { netnsId, netnsPath } from '@vxnet/netns';

import { NetnsNotFound } from '../errors.js';
import { RtnlBatchSocket } from './rtnl-batch.js';
import { closeRtnl, openRtnl, type RtNetlinkSocket } from './rtnl.js';

/** The sockets of one network namespace. */
export interface NsHandle {
  /** Identity of the namespace the socket was opened in (see netnsId). */
  id: string;
  sock: RtNetlinkSocket;
  /** Index of vxlan0, cached after ensureNetwork or the first lookup. */
  vxlanIndex?: number;
  /** Socket for ensurePeers/deletePeers, opened on first use. */
  batch?: RtnlBatchSocket;
}

export class NetnsSockets {
  /** The agent's own namespace, where VXLAN sockets live and the underlay device is. */
  readonly agent: RtNetlinkSocket;
  private readonly handles = new Map<string, NsHandle>();
  private closed = false;

  /** `agentNetns`: a name under /run/netns or a path; default the calling thread's namespace. */
  constructor(agentNetns?: string) {
    this.agent = openRtnl(agentNetns);
  }

  /** True when the named namespace exists. */
  exists(netns: string): boolean {
    return netnsId(netnsPath(netns)) !== undefined;
  }

  /**
   * The cached handle of `netns`, (re)opened inside it when missing or stale.
   * Throws VXNET_NETNS_NOT_FOUND (naming `what`) when the namespace does not exist.
   */
  handle(netns: string, what: string): NsHandle {
    if (this.closed) throw new Error('NetlinkDataPlane is closed');
    const id = netnsId(netnsPath(netns));
    if (id === undefined) throw new NetnsNotFound(what, netns);
    const cached = this.handles.get(netns);
    if (cached?.id === id) return cached;
    if (cached) this.drop(netns);
    const h: NsHandle = { id, sock: openRtnl(netns) };
    this.handles.set(netns, h);
    return h;
  }

  /** Closes the sockets of `netns` (before deleting it: an open socket would keep it alive). Idempotent. */
  drop(netns: string): void {
    const h = this.handles.get(netns);
    if (!h) return;
    this.handles.delete(netns);
    closeRtnl(h.sock);
    h.batch?.close();
  }

  /** Closes every socket. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const netns of [...this.handles.keys()]) this.drop(netns);
    closeRtnl(this.agent);
  }
}

/** The text of an error, for messages. */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
