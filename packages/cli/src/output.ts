/** Human output: aligned tables with upper-case headers, as docker prints them. */

export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('   ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/**
 * A table printed as its rows arrive (pages of a list): the column widths are those of
 * the first rows written (at least the headers'), as kubectl does with chunked lists; a
 * later cell that is wider pushes the rest of its line right.
 */
export class TableStream {
  private widths: number[] | undefined;

  constructor(private readonly headers: string[]) {}

  /** Print these rows (the headers first, with the first call). */
  write(rows: string[][]): void {
    let out = rows;
    if (this.widths === undefined) {
      this.widths = this.headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
      out = [this.headers, ...rows];
    }
    if (out.length > 0) print(out.map((r) => this.line(r)).join('\n'));
  }

  private line(cells: string[]): string {
    return cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(this.widths?.[i] ?? 0))).join('   ').trimEnd();
  }
}

/**
 * A JSON array printed element by element, byte for byte what printJson prints for the
 * whole array: `[`, each element indented, `]` on end().
 */
export class JsonArrayStream {
  private count = 0;

  write(values: unknown[]): void {
    for (const v of values) {
      const text = JSON.stringify(v, null, 2).replace(/^/gm, '  ');
      process.stdout.write(`${this.count === 0 ? '[\n' : ',\n'}${text}`);
      this.count++;
    }
  }

  end(): void {
    process.stdout.write(this.count === 0 ? '[]\n' : '\n]\n');
  }
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
