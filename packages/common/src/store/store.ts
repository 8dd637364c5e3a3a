/**
 * The Store: the one interface between vxnet's policy (controller, lease manager,
 * agents) and the cluster state. Shaped for both etcd (revisions, leases, watch) and
 * Redis (which has to emulate revisions and a resumable change stream).
 *
 * Every implementation (etcd, Redis, in-memory) passes the same conformance suite
 * (packages/common/test/helpers/store-conformance.ts).
 *
 * Keys are plain strings; implementations do not add or strip prefixes (callers own
 * the layout, see DESIGN.md "Store"). Values are strings (JSON by convention).
 */

/** A key as stored, with the revisions that make compare-and-put possible. */
export interface KeyValue {
  key: string;
  value: string;
  /** Store revision at which this key was created (since its last deletion). */
  createRevision: number;
  /** Store revision of the last write to this key. Use it for compareAndPut. */
  modRevision: number;
  /** Number of writes since creation (1 after create). */
  version: number;
  /** Lease the key is bound to, or undefined. */
  lease: string | undefined;
}

/** A consistent snapshot of a prefix, at one store revision. */
export interface ListResult {
  items: KeyValue[];
  /** The store revision the snapshot was taken at; watch from here to miss nothing. */
  revision: number;
  /** With ListOptions.limit: true when keys after the last item were left out. */
  more?: boolean;
}

/**
 * One page of a prefix: keys after `after`, at most `limit` of them. Pages are separate
 * snapshots (each at its own revision): a key written between two pages shows up if it
 * sorts after the previous page's last key.
 */
export interface ListOptions {
  /** Only keys sorting strictly after this one (normally the last key of the previous page). */
  after?: string;
  /** At most this many keys (a positive integer); `more` then says whether some were left out. */
  limit?: number;
}

export type CreateResult =
  | { created: true; revision: number }
  /** Someone else holds the key: `current` is the winner's record. */
  | { created: false; current: KeyValue };

export type CompareResult =
  | { ok: true; revision: number }
  /** The key's modRevision was not the expected one; `current` is what is there (undefined: absent). */
  | { ok: false; current: KeyValue | undefined };

export interface WriteOptions {
  /** Bind the key to this lease: it vanishes when the lease expires or is revoked. */
  lease?: string;
}

export type WatchEvent =
  | { type: 'put'; kv: KeyValue; prev?: KeyValue }
  | {
      type: 'delete';
      key: string;
      /** Revision of the deletion; after a resync, the revision of the re-list that found the key gone. */
      revision: number;
      prev?: KeyValue;
    };

/**
 * Receives the changes under a watched prefix, in revision order, one call at a time
 * (the next call waits for a returned promise).
 */
export interface WatchHandler {
  /**
   * Changes, in order; `revision` is the store revision they bring the watcher up to.
   * If it throws (or rejects), the error goes to onError and the events still count as
   * delivered: they are not delivered again.
   */
  onEvents(events: WatchEvent[], revision: number): void | Promise<void>;
  /**
   * The watch had a gap (server restart, compaction, connection loss) and was
   * re-established by re-listing; the difference was (or is about to be) delivered
   * through onEvents. Informational, for logs and reconcilers.
   */
  onResync?(reason: string): void;
  /** An error the watch could not recover from by itself; it keeps retrying with backoff. */
  onError?(err: Error): void;
}

export interface Watch {
  /** Last revision delivered to the handler. */
  readonly revision: number;
  /** Stop watching. Idempotent. No handler call starts after it resolves. */
  close(): Promise<void>;
}

export interface Lease {
  /** Lease id as a decimal string (etcd's int64). */
  readonly id: string;
  /** Granted time to live, in seconds. */
  readonly ttlSeconds: number;
  /**
   * Called once when the lease is known lost (expired on the server, or keepalives
   * failed for longer than its TTL). A lost lease is final: grant a new one and
   * re-write the keys that were bound to it.
   */
  onLost(listener: (err: Error) => void): void;
  /** Renew once now. Throws StoreLeaseLost if the server no longer has the lease. */
  keepAliveOnce(): Promise<void>;
  /** Revoke: every key bound to it is deleted at once. Idempotent. */
  revoke(): Promise<void>;
  /** Stop keeping the lease alive without revoking it (it expires after its TTL). Idempotent. */
  release(): void;
}

export interface Store {
  /** Read one key. undefined when absent. */
  get(key: string): Promise<KeyValue | undefined>;
  /**
   * Every key starting with `prefix`, sorted by key (bytes), with the revision of the
   * snapshot; with `options`, one page of them (see ListOptions). A limit that is not a
   * positive integer throws InvalidArgument.
   */
  list(prefix: string, options?: ListOptions): Promise<ListResult>;
  /** Unconditional write. Returns the new store revision. */
  put(key: string, value: string, options?: WriteOptions): Promise<number>;
  /**
   * Create-if-absent, atomically. Exactly one of any number of racing callers gets
   * `created: true`; the others get the winner's record.
   */
  create(key: string, value: string, options?: WriteOptions): Promise<CreateResult>;
  /**
   * Write only if the key's modRevision is `expectedModRevision` (0 = the key must be
   * absent). Atomic.
   */
  compareAndPut(key: string, value: string, expectedModRevision: number, options?: WriteOptions): Promise<CompareResult>;
  /**
   * Delete a key; with `expectedModRevision`, only if it still has that revision.
   * Returns true if a key was deleted. Deleting an absent key is not an error (false).
   */
  delete(key: string, expectedModRevision?: number): Promise<boolean>;
  /**
   * Delete every key under a prefix. Returns the number deleted. An empty prefix (the
   * whole store) is refused with InvalidArgument.
   */
  deletePrefix(prefix: string): Promise<number>;
  /**
   * Grant a lease of `ttlSeconds` (implementations may round up to their minimum,
   * etcd: 2 s) and keep it alive in the background until revoke() or release().
   */
  grantLease(ttlSeconds: number): Promise<Lease>;
  /**
   * Watch a prefix starting after the snapshot `from` (normally the result of
   * list(prefix)). Survives server restarts, connection loss and compaction: it
   * resumes from the last delivered revision, or, when that history is gone, re-lists
   * and delivers the difference against what it had delivered (puts for new or changed
   * keys, deletes for vanished ones). No event is lost, none is delivered twice.
   */
  watch(prefix: string, from: ListResult, handler: WatchHandler): Promise<Watch>;
  /** Close the client: watches stop, leases are released (not revoked). Idempotent. */
  close(): Promise<void>;
}
