/**
 * Watches on RedisStore, behind {@link Watch}: a reader of the change log shared by the
 * store's watches, and the watches themselves. The log and the rule that makes reading
 * it safe are in redis-log.ts.
 *
 * One {@link LogReader} per store, on a connection of its own (XREAD BLOCK holds it),
 * reads the whole log once for all the store's watches; each watch keeps the entries
 * under its prefix. So a process with five watches holds two connections, not six, and
 * reads each change once.
 *
 * A watch whose snapshot is older than what the reader has already handed out (the
 * usual case: list, then watch, while other watches are busy) first reads the missing
 * range with XRANGE on the store's command connection. That read and the live entries
 * the reader pushes meanwhile run on the watch's one promise chain, in that order, so
 * the handler sees one call at a time, in revision order.
 *
 * Each XREAD is followed, in the same pipeline, by a check that the reader is still in
 * the history it was reading: same epoch, a revision not gone back, and the last entry
 * read still there with the same op id. XREAD from an id above a vanished stream's top
 * returns nothing, silently, so this check is the only way to notice a FLUSHALL or a
 * restart from older data; with BLOCK 400 ms it runs at least twice a second, also
 * across a reconnect (ioredis re-sends the pipeline). When the history is broken the
 * reader starts again from the current revision and every watch re-lists and delivers
 * the difference (WatchState.diff), as an etcd watch does after compaction. A watch
 * whose own range is gone (trimmed below `{vx}:compacted`) does the same alone.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { StoreWatchInterrupted } from '../errors.js';
import {
  LogHole,
  MAX_SEQ,
  RevisionAssembler,
  afterRevision,
  describePosition,
  parseEntries,
  positionOf,
  streamId,
  type LogEntry,
  type LogPosition,
} from './redis-log.js';
import { COMPACTED_KEY, LOG_KEY, queueScript, runScript } from './redis-scripts.js';
import type { ListResult, Watch, WatchEvent, WatchHandler } from './store.js';
import { WatchState } from './watch-state.js';

/** Delays between retries of a failed read, in ms: initialMs doubling up to maxMs (with jitter). */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}

/** How long one XREAD blocks when nothing happens, in ms: also the period of the history check. */
export const BLOCK_MS = 400;
/** Entries per XREAD / XRANGE. */
const READ_COUNT = 1000;

export interface LogReaderOptions {
  /** A connection for the reader alone, with the scripts defined. */
  conn: Redis;
  /** The store's command connection, with the scripts defined: catch-up reads. */
  cmd: Redis;
  backoff: BackoffOptions;
  /** The highest revision the store has seen: a new history starts above it. */
  floor: () => number;
  /** Told the last revision of every batch read. */
  onRevision: (rev: number) => void;
  logger?: Logger | undefined;
}

/** Reads the change log for every watch of one store. */
export class LogReader {
  private readonly conn: Redis;
  private readonly cmd: Redis;
  private readonly backoff: BackoffOptions;
  private readonly floor: () => number;
  private readonly onRevision: (rev: number) => void;
  private readonly log: Logger | undefined;
  private readonly watches = new Set<RedisWatch>();
  /** The history being read; undefined until the reader's first read. */
  private epoch: string | undefined;
  /** Where reading goes on, and the revisions not complete yet; undefined while idle. */
  private assembler: RevisionAssembler | undefined;
  /** The last entry (or revision) handed to the watches. */
  private dispatched: LogPosition | undefined;
  private running = false;
  private closed = false;

  constructor(opts: LogReaderOptions) {
    this.conn = opts.conn;
    this.cmd = opts.cmd;
    this.backoff = opts.backoff;
    this.floor = opts.floor;
    this.onRevision = opts.onRevision;
    this.log = opts.logger?.child({ watchReader: true });
  }

  /** Start feeding `w`, whose handler has everything up to revision `from`. */
  add(w: RedisWatch, from: number): void {
    this.watches.add(w);
    if (this.dispatched === undefined) {
      this.dispatched = afterRevision(from);
      this.assembler = new RevisionAssembler(this.dispatched);
    } else if (from < this.dispatched.rev) {
      w.catchUp(from, this.dispatched);
    }
    if (!this.running) void this.run();
  }

  remove(w: RedisWatch): void {
    this.watches.delete(w);
  }

  /** Stop reading and drop the connection. */
  close(): void {
    this.closed = true;
    this.conn.disconnect();
  }

  /**
   * The entries after revision `after` up to `upTo` (inclusive), checked whole and
   * contiguous. Throws LogHole when the log no longer has them.
   */
  async range(after: number, upTo: LogPosition): Promise<LogEntry[]> {
    const compacted = Number((await this.cmd.get(COMPACTED_KEY)) ?? 0);
    const start = afterRevision(after);
    if (after < compacted) throw new LogHole(start, `the log was trimmed up to revision ${compacted}`);
    const asm = new RevisionAssembler(start);
    const out: LogEntry[] = [];
    let from = `${after + 1}-0`;
    for (;;) {
      const page = parseEntries(await this.cmd.xrange(LOG_KEY, from, streamId(upTo), 'COUNT', READ_COUNT));
      out.push(...asm.take(page, false));
      const last = page[page.length - 1];
      if (last === undefined || page.length < READ_COUNT) break;
      from = `(${last.id}`;
    }
    const last = out[out.length - 1];
    if (last === undefined || last.rev !== upTo.rev || (upTo.seq !== MAX_SEQ && last.seq !== upTo.seq)) {
      throw new LogHole(asm.readFrom, `the range ends before ${describePosition(upTo)}`);
    }
    return out;
  }

  private async run(): Promise<void> {
    this.running = true;
    let failures = 0;
    while (!this.closed && this.watches.size > 0) {
      try {
        await this.step();
        if (failures > 0) this.log?.info({ failures }, 'change log reader recovered');
        failures = 0;
      } catch (err) {
        if (this.closed) break;
        this.log?.debug({ err }, 'change log read failed');
        for (const w of this.watches) w.interrupted('reading the change log failed', err as Error);
        const base = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** failures++);
        await sleep(Math.round(base * (0.5 + Math.random() / 2)), undefined, { ref: false });
      }
    }
    this.running = false;
    if (this.watches.size === 0) {
      // Idle: the next watch starts the reader afresh from its own snapshot.
      this.epoch = undefined;
      this.assembler = undefined;
      this.dispatched = undefined;
    }
  }

  /** One XREAD (and its history check), handed to the watches. */
  private async step(): Promise<void> {
    if (this.epoch === undefined) this.epoch = (await this.init(false))[0];
    const asm = this.assembler;
    if (asm === undefined) return;
    const from = asm.readFrom;
    const p = this.conn.pipeline();
    p.xread('COUNT', READ_COUNT, 'BLOCK', BLOCK_MS, 'STREAMS', LOG_KEY, streamId(from));
    queueScript(p, 'vxCheck', from.token === undefined ? ['', ''] : [streamId(from), from.token]);
    const res = (await p.exec()) ?? [];
    const [readErr, read] = res[0] ?? [new Error('no reply to XREAD')];
    const [checkErr, check] = res[1] ?? [new Error('no reply to the history check')];
    if (readErr) throw readErr;
    if (checkErr) throw checkErr;
    const broken = this.judge(check as [string, number, number], from);
    if (broken !== undefined) return this.restart(broken.reason, broken.lost);
    // XREAD: null on timeout, else [[stream, entries]].
    const entries = parseEntries((read as Array<[string, unknown]> | null)?.[0]?.[1]);
    if (entries.length === 0) return;
    let complete: LogEntry[];
    try {
      complete = asm.take(entries, entries.length === READ_COUNT);
    } catch (err) {
      if (err instanceof LogHole) return this.restart(err.message, false);
      throw err;
    }
    const last = complete[complete.length - 1];
    if (last === undefined) return;
    this.dispatched = positionOf(last);
    this.onRevision(last.rev);
    for (const w of this.watches) w.push(complete);
  }

  /**
   * Why the history read from `from` is not the store's any more (`lost`: certainly
   * lost, not merely trimmed), or undefined when it still is.
   */
  private judge([epoch, rev, same]: [string, number, number], from: LogPosition): { reason: string; lost: boolean } | undefined {
    if (epoch !== this.epoch) {
      const reason = epoch === '' ? 'the store lost its data (FLUSHALL, or a restart without it)' : 'the store was re-initialised (its epoch changed)';
      return { reason, lost: true };
    }
    if (rev < from.rev) return { reason: `the store's revision went back from ${from.rev} to ${rev} (a restart from older data)`, lost: true };
    if (same === 0) return { reason: `the change log no longer holds ${describePosition(from)} (trimmed, or lost with the server's data)`, lost: false };
    return undefined;
  }

  /** Start again from the store's current revision; every watch re-lists. */
  private async restart(reason: string, lost: boolean): Promise<void> {
    this.log?.warn({ reason }, 'change log broken: every watch re-lists');
    const [epoch, rev] = await this.init(lost);
    this.epoch = epoch;
    this.dispatched = afterRevision(rev);
    this.assembler = new RevisionAssembler(this.dispatched);
    for (const w of this.watches) w.resync(reason);
  }

  /** Make sure a history exists; after a loss, revisions go on above what we have seen. → [epoch, rev] */
  private async init(lost: boolean): Promise<[string, number]> {
    const floor = Math.max(this.floor(), this.dispatched?.rev ?? 0);
    const [epoch, rev] = (await runScript(this.conn, 'vxInit', [randomBytes(8).toString('hex'), floor, lost ? '1' : '0'])) as [string, number];
    return [epoch, Number(rev)];
  }
}

export interface RedisWatchOptions {
  prefix: string;
  from: ListResult;
  handler: WatchHandler;
  reader: LogReader;
  /** Consistent listing of a prefix (the store's list). */
  list: (prefix: string) => Promise<ListResult>;
  backoff: BackoffOptions;
  /** Called once when the watch is closed. */
  onClosed: (w: RedisWatch) => void;
  logger?: Logger | undefined;
}

export class RedisWatch implements Watch {
  private readonly prefix: string;
  private readonly handler: WatchHandler;
  private readonly reader: LogReader;
  private readonly list: (prefix: string) => Promise<ListResult>;
  private readonly backoff: BackoffOptions;
  private readonly onClosed: (w: RedisWatch) => void;
  private readonly log: Logger | undefined;
  /** What the handler has been told. */
  private readonly state: WatchState;
  private chain: Promise<void> = Promise.resolve();
  private failures = 0;
  private closed = false;

  constructor(opts: RedisWatchOptions) {
    this.prefix = opts.prefix;
    this.handler = opts.handler;
    this.reader = opts.reader;
    this.list = opts.list;
    this.backoff = opts.backoff;
    this.onClosed = opts.onClosed;
    this.log = opts.logger?.child({ watch: opts.prefix });
    this.state = new WatchState(opts.from);
  }

  /** {@inheritDoc Watch.revision} */
  get revision(): number {
    return this.state.delivered;
  }

  /** {@inheritDoc Watch.close} */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.reader.remove(this);
    this.onClosed(this);
  }

  /** Whole revisions just read from the log, in order (from the reader). */
  push(entries: LogEntry[]): void {
    if (this.closed) return;
    const mine = entries.filter((e) => e.key.startsWith(this.prefix)).map((e) => e.event);
    if (mine.length > 0) this.enqueue(() => this.deliverLogged(mine));
  }

  /** The handler is behind the reader: read (after, upTo] before what is pushed next. */
  catchUp(after: number, upTo: LogPosition): void {
    this.enqueue(async () => {
      while (!this.closed) {
        let entries: LogEntry[];
        try {
          entries = await this.reader.range(after, upTo);
        } catch (err) {
          if (err instanceof LogHole) return this.relist(err.message);
          this.interrupted('reading the change log failed', err as Error);
          await this.pause();
          continue;
        }
        this.failures = 0;
        await this.deliverLogged(entries.filter((e) => e.key.startsWith(this.prefix)).map((e) => e.event));
        return;
      }
    });
  }

  /** The history this watch needs is gone: re-list and deliver the difference. */
  resync(reason: string): void {
    this.enqueue(() => this.relist(reason));
  }

  /** Tell the handler about a failure the watch is retrying. */
  interrupted(reason: string, err: Error): void {
    if (this.closed) return;
    const e = new StoreWatchInterrupted(this.prefix, reason, err);
    this.log?.warn({ err: e }, 'watch interrupted');
    this.handler.onError?.(e);
  }

  /**
   * Re-list, deliver the difference against what the handler was told. What the reader
   * pushed after this was queued follows it; the list is at least that recent, so
   * nothing falls between.
   */
  private async relist(reason: string): Promise<void> {
    while (!this.closed) {
      let snapshot: ListResult;
      try {
        snapshot = await this.list(this.prefix);
      } catch (err) {
        this.interrupted('re-list failed', err as Error);
        await this.pause();
        continue;
      }
      if (this.closed) return;
      this.failures = 0;
      const events = this.state.diff(snapshot);
      this.log?.info({ reason, revision: snapshot.revision, changes: events.length }, 'watch resynced by re-listing');
      this.handler.onResync?.(reason);
      await this.deliver(events, snapshot.revision);
      return;
    }
  }

  private async deliverLogged(events: WatchEvent[]): Promise<void> {
    const admitted = this.state.admit(events);
    await this.deliver(admitted.events, admitted.revision);
  }

  private async deliver(events: WatchEvent[], revision: number): Promise<void> {
    if (this.closed || events.length === 0) return;
    this.state.delivered = Math.max(this.state.delivered, revision);
    try {
      await this.handler.onEvents(events, revision);
    } catch (err) {
      // The events count as delivered: redelivering would break "never twice".
      this.log?.error({ err, revision }, 'watch handler failed');
      this.handler.onError?.(err as Error);
    }
  }

  private async pause(): Promise<void> {
    const base = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** this.failures++);
    await sleep(Math.round(base * (0.5 + Math.random() / 2)), undefined, { ref: false });
  }

  private enqueue(task: () => Promise<void>): void {
    this.chain = this.chain.then(task).catch((err: unknown) => this.log?.error({ err }, 'watch task failed'));
  }
}
