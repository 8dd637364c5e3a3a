/**
 * What a watch has told its handler, shared by the etcd and Redis watches: the rules
 * that make "no event lost, none delivered twice" hold across resumes and re-lists.
 *
 * `known` is what the handler has been told exists (key -> record) and `delivered` the
 * last revision it was given. An event read from the server's history is new only if
 * its revision is above both. When the history a watch needs is gone (compacted,
 * trimmed, or lost with the server's data), it re-lists and delivers the difference
 * against `known`: puts for new or changed keys, deletes for vanished ones.
 */
import type { KeyValue, ListResult, WatchEvent } from './store.js';

export class WatchState {
  readonly known: Map<string, KeyValue>;
  delivered: number;

  constructor(from: ListResult) {
    this.known = new Map(from.items.map((kv) => [kv.key, kv]));
    this.delivered = from.revision;
  }

  /**
   * Of events read from the server's history, in revision order, those the handler has
   * not been told, with `prev` filled in from `known` where the server sent none.
   * Records them as told. `revision` is the last admitted event's (or `delivered`).
   */
  admit(events: WatchEvent[]): { events: WatchEvent[]; revision: number } {
    const out: WatchEvent[] = [];
    let revision = this.delivered;
    for (const ev of events) {
      const key = ev.type === 'put' ? ev.kv.key : ev.key;
      const rev = ev.type === 'put' ? ev.kv.modRevision : ev.revision;
      if (rev <= this.delivered || rev <= (this.known.get(key)?.modRevision ?? 0)) continue;
      const prev = ev.prev ?? this.known.get(key);
      revision = Math.max(revision, rev);
      if (ev.type === 'put') {
        this.known.set(key, ev.kv);
        out.push(prev === undefined ? { type: 'put', kv: ev.kv } : { type: 'put', kv: ev.kv, prev });
      } else {
        this.known.delete(key);
        out.push(prev === undefined ? { type: 'delete', key, revision: rev } : { type: 'delete', key, revision: rev, prev });
      }
    }
    return { events: out, revision };
  }

  /**
   * The difference between what the handler was told and a fresh snapshot, recorded as
   * told; `delivered` becomes the snapshot's revision. Records are compared whole, not
   * by modRevision alone: after a store lost its history, a revision number can come
   * back with another write behind it.
   */
  diff(snapshot: ListResult): WatchEvent[] {
    const events: WatchEvent[] = [];
    const present = new Set<string>();
    for (const kv of snapshot.items) {
      present.add(kv.key);
      const prev = this.known.get(kv.key);
      if (prev !== undefined && sameRecord(prev, kv)) continue;
      events.push(prev === undefined ? { type: 'put', kv } : { type: 'put', kv, prev });
      this.known.set(kv.key, kv);
    }
    for (const [key, prev] of this.known) {
      if (present.has(key)) continue;
      events.push({ type: 'delete', key, revision: snapshot.revision, prev });
      this.known.delete(key);
    }
    this.delivered = snapshot.revision;
    return events;
  }
}

function sameRecord(a: KeyValue, b: KeyValue): boolean {
  return (
    a.modRevision === b.modRevision &&
    a.createRevision === b.createRevision &&
    a.version === b.version &&
    a.value === b.value &&
    a.lease === b.lease
  );
}
