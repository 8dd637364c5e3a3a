/**
 * A resumable prefix watch on etcd, behind {@link Watch}.
 *
 * Why we do not rely on etcd3's own reconnect: etcd3's WatchManager re-attaches a
 * watcher after a stream error from `request.start_revision`, which it advances to
 * `header.revision + 1` on every response, *including the "created" response*. That
 * header carries the server's current revision, not the last event sent, so a stream
 * that breaks between "created" and the catch-up events resumes past events it never
 * delivered. And a watch the server cancels (compaction) is dropped with an `error`.
 * So each connection attempt here is a fresh etcd3 Watcher started from our own
 * bookkeeping, and a broken one is detached at once.
 *
 * Bookkeeping (watch-state.ts, shared with the Redis watch): `known` is what the
 * handler has been told (key -> record) and `delivered` the last revision it was given.
 * An event is delivered only if its revision is above both (never twice). After a break
 * we resume from the highest revision received + 1; if the server cancels that (history
 * compacted), we re-list and deliver the difference against `known`, then watch from
 * the list's revision + 1.
 * Deliveries, re-lists and re-attaches run on one promise chain, so the handler sees
 * one call at a time, in revision order.
 */
import type { Etcd3, IEvent, IWatchResponse, Watcher } from 'etcd3';
import type { Logger } from 'pino';
import { StoreWatchInterrupted } from '../errors.js';
import { toKeyValue } from './etcd-key-value.js';
import type { ListResult, Watch, WatchEvent, WatchHandler } from './store.js';
import { WatchState } from './watch-state.js';

/** Delays between retries of a broken watch, in ms: initialMs doubling up to maxMs (with jitter). */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}

export interface EtcdWatchOptions {
  client: Etcd3;
  prefix: string;
  from: ListResult;
  handler: WatchHandler;
  /** Consistent listing of a prefix (the store's list). */
  list: (prefix: string) => Promise<ListResult>;
  backoff: BackoffOptions;
  /** Called once when the watch is closed. */
  onClosed: (w: EtcdWatch) => void;
  logger?: Logger | undefined;
}

/** How long close() waits for the server to acknowledge a cancel, in ms. */
const CANCEL_TIMEOUT_MS = 2000;

export class EtcdWatch implements Watch {
  private readonly client: Etcd3;
  private readonly prefix: string;
  private readonly handler: WatchHandler;
  private readonly list: (prefix: string) => Promise<ListResult>;
  private readonly backoff: BackoffOptions;
  private readonly onClosed: (w: EtcdWatch) => void;
  private readonly log: Logger | undefined;
  /** What the handler has been told. */
  private readonly state: WatchState;
  /** Highest event revision queued for delivery: where a resumed watch starts (+1). */
  private received: number;
  private chain: Promise<void> = Promise.resolve();
  private watcher: Watcher | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private closing: Promise<void> | undefined;

  constructor(opts: EtcdWatchOptions) {
    this.client = opts.client;
    this.prefix = opts.prefix;
    this.handler = opts.handler;
    this.list = opts.list;
    this.backoff = opts.backoff;
    this.onClosed = opts.onClosed;
    this.log = opts.logger?.child({ watch: opts.prefix });
    this.state = new WatchState(opts.from);
    this.received = opts.from.revision;
    this.attach(opts.from.revision + 1);
  }

  /** {@inheritDoc Watch.revision} */
  get revision(): number {
    return this.state.delivered;
  }

  /** {@inheritDoc Watch.close} */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    clearTimeout(this.retryTimer);
    const w = this.watcher;
    this.watcher = undefined;
    this.onClosed(this);
    this.closing = w === undefined ? Promise.resolve() : cancelWatcher(w);
    return this.closing;
  }

  private get closed(): boolean {
    return this.closing !== undefined;
  }

  private attach(startRevision: number): void {
    this.log?.debug({ startRevision }, 'watch attaching');
    // watcher() (not create()) hands back the Watcher before it connects: create()
    // would wait forever while the server is down.
    const w = this.client.watch().prefix(this.prefix).startRevision(String(startRevision)).withPreviousKV().watcher();
    this.watcher = w;
    w.on('connected', () => {
      this.failures = 0;
    });
    w.on('data', (res: IWatchResponse) => {
      if (w !== this.watcher || res.events.length === 0) return;
      const events = res.events;
      const last = events[events.length - 1];
      if (last !== undefined) this.received = Math.max(this.received, Number(last.kv.mod_revision));
      this.enqueue(() => this.deliverEtcdEvents(events));
    });
    // A broken stream: resume from what we received. A cancel by the server (the
    // start revision was compacted, or it dropped us): only a re-list is safe.
    w.on('disconnected', (err: Error) => this.broken(w, err, false));
    w.on('error', (err: Error) => this.broken(w, err, true));
  }

  private broken(w: Watcher, err: Error, canceledByServer: boolean): void {
    if (w !== this.watcher) return;
    this.watcher = undefined;
    silence(w);
    // After a stream error the manager is idle and cancel() just forgets the watcher;
    // after a server cancel it has forgotten it already.
    if (!canceledByServer) void w.cancel();
    // etcd 3.4 sends no cancel_reason for compaction, so etcd3's message is just "Watcher canceled: ".
    const reason = canceledByServer
      ? `the server canceled the watch, most likely because revision ${this.received + 1} was compacted (${err.message.trim()})`
      : `the stream broke (${err.message})`;
    this.report(new StoreWatchInterrupted(this.prefix, reason, err));
    this.retry(() => (canceledByServer ? this.resync(reason) : this.attach(this.received + 1)));
  }

  private retry(fn: () => void): void {
    if (this.closed) return;
    const base = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** this.failures);
    const delay = Math.round(base * (0.5 + Math.random() / 2));
    this.failures++;
    this.log?.debug({ delayMs: delay, failures: this.failures }, 'watch retry scheduled');
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.closed) fn();
    }, delay);
  }

  /** Re-list the prefix, deliver the difference against `known`, then watch from the list on. */
  private resync(reason: string): void {
    this.enqueue(async () => {
      let snapshot: ListResult;
      try {
        snapshot = await this.list(this.prefix);
      } catch (err) {
        if (this.closed) return;
        this.report(new StoreWatchInterrupted(this.prefix, 're-list failed', err as Error));
        this.retry(() => this.resync(reason));
        return;
      }
      if (this.closed) return;
      const events = this.state.diff(snapshot);
      this.received = snapshot.revision;
      this.log?.info({ reason, revision: snapshot.revision, changes: events.length }, 'watch resynced by re-listing');
      this.handler.onResync?.(reason);
      await this.deliver(events, snapshot.revision);
      if (!this.closed) this.attach(snapshot.revision + 1);
    });
  }

  private async deliverEtcdEvents(raw: IEvent[]): Promise<void> {
    const { events, revision } = this.state.admit(raw.map(toWatchEvent));
    await this.deliver(events, revision);
  }

  private async deliver(events: WatchEvent[], revision: number): Promise<void> {
    if (this.closed) return;
    this.state.delivered = Math.max(this.state.delivered, revision);
    if (events.length === 0) return;
    try {
      await this.handler.onEvents(events, revision);
    } catch (err) {
      // The events count as delivered: redelivering would break "never twice".
      this.log?.error({ err, revision }, 'watch handler failed');
      this.handler.onError?.(err as Error);
    }
  }

  private enqueue(task: () => Promise<void>): void {
    this.chain = this.chain.then(task).catch((err: unknown) => this.log?.error({ err }, 'watch task failed'));
  }

  private report(err: Error): void {
    this.log?.warn({ err }, 'watch interrupted');
    this.handler.onError?.(err);
  }
}

/** etcd3's event as ours; without prev_kv, WatchState fills prev from what it was told. */
function toWatchEvent(ev: IEvent): WatchEvent {
  const prev = ev.prev_kv ? toKeyValue(ev.prev_kv) : undefined;
  if (ev.type === 'Put') {
    const kv = toKeyValue(ev.kv);
    return prev === undefined ? { type: 'put', kv } : { type: 'put', kv, prev };
  }
  const key = ev.kv.key.toString();
  const revision = Number(ev.kv.mod_revision);
  return prev === undefined ? { type: 'delete', key, revision } : { type: 'delete', key, revision, prev };
}

/** Drop our listeners but keep one for 'error': an EventEmitter throws an unheard 'error'. */
function silence(w: Watcher): void {
  w.removeAllListeners();
  w.on('error', () => undefined);
}

/** Cancel on the server, bounded: etcd3 waits for the cancel's acknowledgement. */
async function cancelWatcher(w: Watcher): Promise<void> {
  silence(w);
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    w.cancel().catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, CANCEL_TIMEOUT_MS);
    }),
  ]);
  clearTimeout(timer);
}
