/**
 * A comparable form of `nft -j list table ip vxnet`, for the drift check: what the
 * kernel holds right after an apply is compared with what it holds later.
 *
 * Why compare with a read-back instead of the desired text: nft normalises on the way
 * in (priority names become numbers, `auto-merge` joins intervals, statements are
 * reordered into its canonical form), so the kernel's listing never equals the text
 * that was sent; it does equal itself until someone changes the table.
 *
 * Dropped: the metainfo object (nft's version), every `handle` (renumbered on each
 * apply), and the values of counters (they move with traffic; a counter's presence
 * is kept).
 */

/** One object of the listing (table, set, chain, rule…) as canonical JSON, in listing order. */
export type NormalisedTable = string[];

/** Normalises nft's JSON listing of one table. Throws TypeError when `json` is not an nft listing. */
export function normaliseTable(json: unknown): NormalisedTable {
  const items = (json as { nftables?: unknown } | null)?.nftables;
  if (!Array.isArray(items)) throw new TypeError('not an nft JSON listing (no "nftables" array)');
  return items.filter((item) => !(item && typeof item === 'object' && 'metainfo' in item)).map((item) => canonical(strip(item)));
}

/** The same value without `handle` keys and counter values, recursively. */
function strip(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(strip);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === 'handle') continue;
    out[k] = k === 'counter' && v !== null && typeof v === 'object' ? {} : strip(v);
  }
  return out;
}

/** JSON with object keys sorted, so equal values give equal text. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`;
}

/** What differs between two normalised listings: objects only in `before` (removed) and only in `after` (added). */
export function diffTables(before: NormalisedTable, after: NormalisedTable): { removed: string[]; added: string[] } {
  const count = (list: NormalisedTable) => {
    const m = new Map<string, number>();
    for (const x of list) m.set(x, (m.get(x) ?? 0) + 1);
    return m;
  };
  const b = count(before);
  const a = count(after);
  const only = (x: Map<string, number>, y: Map<string, number>) =>
    [...x].flatMap(([item, n]) => Array<string>(Math.max(0, n - (y.get(item) ?? 0))).fill(item));
  return { removed: only(b, a), added: only(a, b) };
}

/** True when the two listings are the same objects in the same order. */
export function sameTable(a: NormalisedTable, b: NormalisedTable): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
