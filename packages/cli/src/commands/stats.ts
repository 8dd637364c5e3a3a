import { setTimeout as sleep } from 'node:timers/promises';
import { isUserError } from '@vxnet/common';
import { cpuPercent, memoryPercent, networkTotals, type ContainerStats, type ContainerView } from '@vxnet/common/api';
import { engineCall, resolveEngine, seg, type EngineFlags, type EngineTarget } from '../engine-client.js';
import { binarySize, decimalSize, shortId } from '../format.js';
import { print, printJson, table } from '../output.js';

export interface StatsFlags {
  all?: boolean;
  /** commander's name for --no-stream: false when given. */
  stream?: boolean;
  json?: boolean;
}

/** Period of the samples, ms: docker's one second. CPU % is over the last period. */
export const STATS_INTERVAL_MS = 1000;

/** What a row says, computed from two samples of one container (the --json object). */
export interface StatsRow {
  id: string;
  name: string;
  running: boolean;
  read: string;
  cpuPercent: number;
  memory: { usage: number; limit: number; percent: number };
  net: { rxBytes: number; txBytes: number };
  pids: number;
  networks: ContainerStats['networks'];
}

export function statsRow(prev: ContainerStats | undefined, cur: ContainerStats): StatsRow {
  return {
    id: cur.id, name: cur.name, running: cur.running, read: cur.read,
    // a first sample, or one of another run, has no period to measure over yet
    cpuPercent: prev?.running && cur.running ? cpuPercent(prev.cpu, cur.cpu) : 0,
    memory: { ...cur.memory, percent: memoryPercent(cur.memory) },
    net: networkTotals(cur), pids: cur.pids, networks: cur.networks,
  };
}

/** docker stats' table: CONTAINER ID, NAME, CPU %, MEM USAGE / LIMIT, MEM %, NET I/O, PIDS; "--" for a container not running. */
export function statsTable(rows: StatsRow[]): string {
  return table(['CONTAINER ID', 'NAME', 'CPU %', 'MEM USAGE / LIMIT', 'MEM %', 'NET I/O', 'PIDS'], rows.map((r) => r.running
    ? [shortId(r.id), r.name, `${r.cpuPercent.toFixed(2)}%`, `${binarySize(r.memory.usage)} / ${binarySize(r.memory.limit)}`,
      `${r.memory.percent.toFixed(2)}%`, `${decimalSize(r.net.rxBytes)} / ${decimalSize(r.net.txBytes)}`, String(r.pids)]
    : [shortId(r.id), r.name, '--', '-- / --', '--', '-- / --', '--']));
}

/**
 * One sample of each container: those named (an unknown one is an error on the first
 * round, dropped later: it was removed meanwhile), else those listed now (running ones;
 * all with -a), a container removed between list and sample dropped.
 */
async function sampleAll(target: EngineTarget, refs: string[], all: boolean, first: boolean): Promise<ContainerStats[]> {
  const named = refs.length > 0;
  const which = named ? refs : (await engineCall<{ containers: ContainerView[] }>(target, 'GET', `/v1/containers${all ? '?all=1' : ''}`)).containers.map((c) => c.id);
  const samples = await Promise.all(which.map(async (ref) => {
    try {
      return await engineCall<ContainerStats>(target, 'GET', `/v1/containers/${seg(ref)}/stats`);
    } catch (err) {
      if ((named && first) || !isUserError(err) || err.statusCode !== 404) throw err;
      return undefined;
    }
  }));
  return samples.filter((s): s is ContainerStats => s !== undefined);
}

/**
 * `vxnet [-H HOST] stats [-a] [--no-stream] [--json] [CONTAINER…]`: CPU %, memory,
 * network I/O and pids of containers, refreshed every second until interrupted (one
 * table with --no-stream). CPU % needs two samples: the first table comes after one
 * period. --json prints the rows as JSON (one array per line while streaming).
 */
export async function statsCommand(refs: string[], flags: StatsFlags, conn: EngineFlags): Promise<number> {
  const target = resolveEngine(conn);
  const stream = flags.stream !== false;
  let prev = new Map<string, ContainerStats>();
  for (const s of await sampleAll(target, refs, Boolean(flags.all), true)) prev.set(s.id, s);
  for (;;) {
    await sleep(STATS_INTERVAL_MS);
    const cur = await sampleAll(target, refs, Boolean(flags.all), false);
    const rows = cur.map((s) => statsRow(prev.get(s.id), s));
    if (flags.json) {
      if (stream) process.stdout.write(`${JSON.stringify(rows)}\n`);
      else printJson(rows);
    } else {
      // a terminal is redrawn in place, as docker does; a pipe gets one table after another
      if (stream && process.stdout.isTTY) process.stdout.write('\x1b[2J\x1b[H');
      print(statsTable(rows));
      if (stream && !process.stdout.isTTY) print('');
    }
    if (!stream) return 0;
    prev = new Map(cur.map((s) => [s.id, s]));
  }
}
