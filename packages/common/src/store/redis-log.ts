/**
 * Reading RedisStore's change log (the `{vx}:log` stream, see redis-scripts.ts): entry
 * ids, entries as watch events, and the one rule that makes reading it safe.
 *
 * The rule: revisions in the log are dense and a revision's entries are numbered from
 * 0, so each entry must follow the previous one exactly (same revision and sequence + 1,
 * or next revision and sequence 0). Anything else is a hole: the history was trimmed
 * (XTRIM) or lost (FLUSHALL, a restart from an older data set), and the reader must
 * re-list. XREAD itself never says so: it returns whatever is above the id it is given.
 *
 * A read of COUNT entries can end inside a revision (a deletePrefix of many keys). The
 * entries of that last revision are held back until the rest has been read, so a batch
 * always carries whole revisions.
 */
import type { KeyValue, WatchEvent } from './store.js';

/** Sequence numbers above any real one: `<rev>-MAX` is "after every entry of rev". */
export const MAX_SEQ = '18446744073709551615';

/** A place in the log: after entry `rev-seq`, or after revision `rev` when seq is MAX_SEQ. */
export interface LogPosition {
  rev: number;
  seq: number | typeof MAX_SEQ;
  /** The op id of that entry (undefined for an after-revision position): proves it is still the same entry. */
  token: string | undefined;
}

export interface LogEntry {
  /** Stream id, `<rev>-<seq>`. */
  id: string;
  rev: number;
  seq: number;
  /** Op id of the mutation that wrote it. */
  token: string;
  key: string;
  event: WatchEvent;
}

/** The position just after a whole revision. */
export function afterRevision(rev: number): LogPosition {
  return { rev, seq: MAX_SEQ, token: undefined };
}

export function positionOf(e: LogEntry): LogPosition {
  return { rev: e.rev, seq: e.seq, token: e.token };
}

export function streamId(p: LogPosition): string {
  return `${p.rev}-${p.seq}`;
}

/** True when `e` is the entry right after position `p`. */
export function follows(p: LogPosition, e: LogEntry): boolean {
  if (p.seq === MAX_SEQ) return e.rev === p.rev + 1 && e.seq === 0;
  return (e.rev === p.rev && e.seq === p.seq + 1) || (e.rev === p.rev + 1 && e.seq === 0);
}

/** A position for humans: `revision 12` or `entry 12-3`. */
export function describePosition(p: LogPosition): string {
  return p.seq === MAX_SEQ ? `revision ${p.rev}` : `entry ${p.rev}-${p.seq}`;
}

/** The log lost entries after a position (see the top of this file). */
export class LogHole extends Error {
  /** @param detail what was found instead, e.g. `the next is entry 40-0` */
  constructor(after: LogPosition, detail: string) {
    super(`the change log has nothing right after ${describePosition(after)} (${detail}): it was trimmed or lost`);
  }
}

/** Entries of XRANGE / one stream of XREAD: [[id, [field, value, …]], …] → LogEntry. */
export function parseEntries(raw: unknown): LogEntry[] {
  if (!Array.isArray(raw)) return [];
  return raw.map(([id, fields]: [string, string[]]) => parseEntry(id, fields));
}

function parseEntry(id: string, flat: string[]): LogEntry {
  const f = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) f.set(flat[i] as string, flat[i + 1] as string);
  const dash = id.indexOf('-');
  const rev = Number(id.slice(0, dash));
  const seq = Number(id.slice(dash + 1));
  const key = f.get('k') ?? '';
  const prev = f.has('pc') ? record(key, f.get('pv'), f.get('pc'), f.get('pm'), f.get('pn'), f.get('pl')) : undefined;
  let event: WatchEvent;
  if (f.get('t') === 'p') {
    const kv = record(key, f.get('v'), f.get('c'), String(rev), f.get('n'), f.get('l'));
    event = prev === undefined ? { type: 'put', kv } : { type: 'put', kv, prev };
  } else {
    event = prev === undefined ? { type: 'delete', key, revision: rev } : { type: 'delete', key, revision: rev, prev };
  }
  return { id, rev, seq, token: f.get('o') ?? '', key, event };
}

/** A record from the store's string fields (lease '' means none). */
export function record(key: string, value: unknown, c: unknown, m: unknown, n: unknown, lease: unknown): KeyValue {
  return {
    key,
    value: String(value ?? ''),
    createRevision: Number(c),
    modRevision: Number(m),
    version: Number(n),
    lease: lease === '' || lease === undefined || lease === null ? undefined : String(lease),
  };
}

/**
 * Checks that reads of the log continue one another and hands out whole revisions.
 * Feed it each read in order; it throws LogHole at the first gap.
 */
export class RevisionAssembler {
  /** Entries of a revision that may not be complete yet. */
  private pending: LogEntry[] = [];

  /** @param position where reading starts: the last entry (or revision) already had. */
  constructor(private position: LogPosition) {}

  /** Where the next read must start (exclusive): the last entry read, pending ones included. */
  get readFrom(): LogPosition {
    return this.position;
  }

  /**
   * Take one read. `mayBeCut` when the read hit its COUNT, so its last revision may
   * continue in the next read. Returns the entries of the revisions now complete.
   */
  take(entries: LogEntry[], mayBeCut: boolean): LogEntry[] {
    for (const e of entries) {
      if (!follows(this.position, e)) throw new LogHole(this.position, `the next is entry ${e.id}`);
      this.position = positionOf(e);
    }
    const all = this.pending.concat(entries);
    const last = all[all.length - 1];
    if (!mayBeCut || last === undefined) {
      this.pending = [];
      return all;
    }
    let cut = all.length;
    while (cut > 0 && all[cut - 1]?.rev === last.rev) cut--;
    this.pending = all.slice(cut);
    return all.slice(0, cut);
  }
}
