/**
 * Where an agent's memory is, from its own Prometheus metrics (prom-client's default
 * process and Node.js series, GET /metrics on its API socket) and /proc: RSS against
 * the V8 heap (committed and used, young generation apart) and memory outside it.
 */
import { request } from 'node:http';
import { readFileSync } from 'node:fs';

export interface AgentMemory {
  /** VmRSS and VmHWM, MB (MiB). */
  rss: number;
  hwm: number;
  /** V8 heap committed and used, MB. */
  heapTotal: number;
  heapUsed: number;
  /** Young generation (new space) committed, MB: grows to 3 × --max-semi-space-size under allocation bursts. */
  newSpace: number;
  /** Memory outside the heap that V8 knows of (Buffers, ArrayBuffers), MB. */
  external: number;
}

function text(socketPath: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method: 'GET', path }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks).toString()));
    });
    req.on('error', reject);
    req.end();
  });
}

/** VmRSS and VmHWM of a pid, in MB (MiB). */
export function procMemory(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
}

/** RSS from /proc (read first, before the scrape allocates), then the heap from a scrape of the agent's /metrics. */
export async function agentMemory(pid: number, socketPath: string): Promise<AgentMemory> {
  const proc = procMemory(pid);
  const metrics = await text(socketPath, '/metrics');
  const value = (series: string): number => {
    const line = metrics.split('\n').find((l) => l.startsWith(`${series} `));
    return line ? Number(line.slice(series.length + 1)) / 1048576 : NaN;
  };
  return {
    ...proc,
    heapTotal: value('nodejs_heap_size_total_bytes'),
    heapUsed: value('nodejs_heap_size_used_bytes'),
    newSpace: value('nodejs_heap_space_size_total_bytes{space="new"}'),
    external: value('nodejs_external_memory_bytes'),
  };
}

/** "RSS 120.1 MB (heap 60.2 committed / 41.0 used, new space 3.0, external 2.1)" */
export function memoryText(m: AgentMemory): string {
  return `RSS ${m.rss.toFixed(1)} MB (heap ${m.heapTotal.toFixed(1)} committed / ${m.heapUsed.toFixed(1)} used, new space ${m.newSpace.toFixed(1)}, external ${m.external.toFixed(1)})`;
}
