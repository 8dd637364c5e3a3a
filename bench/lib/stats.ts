/** Latency bookkeeping and report writing shared by the benchmarks. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

/** p50 and p99 of samples in ms. */
export function summarize(samples: number[]): { p50: number; p99: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: percentile(s, 0.5), p99: percentile(s, 0.99) };
}

/** Wall time of one call, in ms. */
export async function time(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

export const ms = (v: number): string => v.toFixed(3);

/** Write bench/results/<name>.md and say where. */
export function writeReport(name: string, markdown: string): void {
  const out = fileURLToPath(new URL(`../../results/${name}.md`, import.meta.url));
  mkdirSync(join(out, '..'), { recursive: true });
  writeFileSync(out, markdown);
  console.log(`\nwritten to ${out}`);
}
