/**
 * Small formatting and parsing helpers shared by the user verbs: times the way
 * `docker ps` prints them, short ids, and strict parsing of flag values (so a typo
 * is a one-line error before any request is sent).
 */
import { InvalidArgument } from '@vxnet/common';

/** Characters of an id shown in tables and by `-q`, as docker does. */
export const SHORT_ID_LENGTH = 12;

export function shortId(id: string): string {
  return id.slice(0, SHORT_ID_LENGTH);
}

/**
 * How long ago, in the words of docker's go-units HumanDuration: "Less than a second
 * ago", "About a minute ago", "3 minutes ago", "2 hours ago", "5 days ago"…
 * A time slightly in the future (clock skew between hosts) reads as "Less than a second ago".
 */
export function timeAgo(iso: string, now = Date.now()): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '-';
  return `${humanDuration(Math.max(0, now - t) / 1000)} ago`;
}

/** go-units HumanDuration, for a number of seconds. */
export function humanDuration(seconds: number): string {
  const s = Math.floor(seconds);
  const minutes = Math.floor(seconds / 60);
  const hours = Math.round(seconds / 3600);
  if (s < 1) return 'Less than a second';
  if (s === 1) return '1 second';
  if (s < 60) return `${s} seconds`;
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(hours / 24 / 365)} years`;
}

/**
 * A duration in seconds as the two largest units, e.g. 23h59m, 2d3h, 4m10s, 45s.
 * Truncates (a lease with 86 399 s left shows 23h59m, never 24h0m).
 */
export function compactDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (d > 0) return `${d}d${h}h`;
  if (h > 0) return `${h}h${m}m`;
  if (m > 0) return `${m}m${sec}s`;
  return `${sec}s`;
}

/** Time left until `seconds` run out: "23h59m", or "expired" once past due. */
export function remaining(seconds: number): string {
  return seconds > 0 ? compactDuration(seconds) : 'expired';
}

/** Seconds from now until an ISO time (negative when past). */
export function secondsUntil(iso: string, now = Date.now()): number {
  return Math.round((Date.parse(iso) - now) / 1000);
}

/** An ISO time in UTC without milliseconds: 2025-01-02T03:04:05Z. */
export function utcTime(iso: string): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  return new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** "2025-01-02T03:04:05Z (3 minutes ago)" */
export function timeWithAgo(iso: string, now = Date.now()): string {
  return `${utcTime(iso)} (${timeAgo(iso, now)})`;
}

/**
 * Parse a decimal integer flag value strictly: digits only (no "12abc", "1e3", "0x10",
 * " 5", "-1", "4.5"). Ranges are the controller's to judge, so that policy lives in
 * one place. Throws InvalidArgument naming the flag.
 */
export function parseIntStrict(flag: string, text: string): number {
  const n = /^[0-9]+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n)) throw new InvalidArgument(`invalid ${flag} "${text}": expected a whole number`);
  return n;
}

/**
 * Turn repeated `k=v` flag values into a map. The value may be empty ("k=") and may
 * contain '='; the key may not be empty. A key given twice keeps the last value, as
 * docker does. Throws InvalidArgument naming the flag.
 */
export function parseKeyValues(flag: string, pairs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const i = pair.indexOf('=');
    if (i < 0) throw new InvalidArgument(`invalid ${flag} "${pair}": expected key=value`);
    if (i === 0) throw new InvalidArgument(`invalid ${flag} "${pair}": the key is empty (expected key=value)`);
    out[pair.slice(0, i)] = pair.slice(i + 1);
  }
  return out;
}

/** A map as "k=v, k2=v2" (sorted by key), or "-" when empty. */
export function formatKeyValues(map: Record<string, string>): string {
  const entries = Object.entries(map).sort(([a], [b]) => a.localeCompare(b));
  return entries.length === 0 ? '-' : entries.map(([k, v]) => `${k}=${v}`).join(', ');
}

/** A commander collector for repeatable options: `--label a=1 --label b=2` -> ['a=1', 'b=2']. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/**
 * A size the way `docker stats` prints it (go-units): four significant digits,
 * trailing zeros dropped, then the unit. `binarySize` for memory (1.5MiB, 7.629GiB),
 * `decimalSize` for network bytes (1.2kB, 648B).
 */
function unitSize(bytes: number, base: number, units: readonly string[]): string {
  let size = bytes;
  let i = 0;
  while (size >= base && i < units.length - 1) {
    size /= base;
    i++;
  }
  return `${Number.parseFloat(size.toPrecision(4))}${units[i]}`;
}

export function binarySize(bytes: number): string {
  return unitSize(bytes, 1024, ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB']);
}

export function decimalSize(bytes: number): string {
  return unitSize(bytes, 1000, ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB']);
}
