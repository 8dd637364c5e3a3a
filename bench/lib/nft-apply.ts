/**
 * One apply of the agent's whole nftables table (renderTransaction, applied by NftCli
 * exactly as the agent does) with N networks, in a namespace of its own, timed; and the
 * smallest possible `nft -f -` (an empty table) in the same namespace as the baseline.
 */
import { execFileSync } from 'node:child_process';
import { NftCli, renderTransaction, type FirewallState } from '@vxnet/agent';
import { summarize, time } from './stats.js';

export interface ApplyBench {
  runs: number;
  baseline: { p50: number; p99: number };
  full: { p50: number; p99: number };
}

/** A host with `networks` networks (10.<i>.0.0/16 style), one published port each, all with uplinks. */
function state(networks: number): FirewallState {
  const hex = (i: number) => i.toString(16).padStart(11, '0');
  return {
    uplinks: Array.from({ length: networks }, (_, i) => `vxu-${hex(i)}`),
    networks: Array.from({ length: networks }, (_, i) => `10.${64 + Math.floor(i / 2)}.${(i % 2) * 128}.0/17`),
    internalNetworks: [],
    ports: Array.from({ length: networks }, (_, i) => ({
      hostIp: '192.0.2.1', hostPort: 10_000 + i, protocol: 'tcp' as const,
      containerIp: `10.${64 + Math.floor(i / 2)}.${(i % 2) * 128 + 1}.2`, containerPort: 80, endpointId: hex(i).padEnd(16, '0'),
    })),
  };
}

export async function applyBench(networks: number, runs: number): Promise<ApplyBench> {
  const ns = `vxnet-bench-nft-${process.pid}`;
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    const nft = new NftCli({ netns: ns });
    const text = renderTransaction(state(networks));
    const empty = 'table ip vxnet-bench {}\ndelete table ip vxnet-bench\ntable ip vxnet-bench {}\n';
    await nft.apply(text); // warm-up, and proof it applies
    await nft.apply(empty);
    const full: number[] = [];
    const baseline: number[] = [];
    for (let i = 0; i < runs; i++) {
      full.push(await time(() => nft.apply(text)));
      baseline.push(await time(() => nft.apply(empty)));
    }
    return { runs, full: summarize(full), baseline: summarize(baseline) };
  } finally {
    execFileSync('ip', ['netns', 'delete', ns]);
  }
}
