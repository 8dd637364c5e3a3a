/** Human output: aligned tables with upper-case headers, as docker prints them. */

export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('   ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Aligned `Key:   value` lines, as `docker info` prints them. */
export function fields(pairs: Array<[string, string]>): string {
  const width = Math.max(0, ...pairs.map(([k]) => k.length + 1));
  return pairs.map(([k, v]) => `${`${k}:`.padEnd(width)}  ${v}`).join('\n');
}

/** Write lines (already joined or not) to stdout with a final newline. */
export function print(text: string): void {
  process.stdout.write(`${text}\n`);
}
