import t from 'tap';
import type { ContainerStats } from '@vxnet/common/api';
import { cpuPercent } from '@vxnet/common/api';
import { statsRow, statsTable } from '../src/commands/stats.js';
import { cpuTimeText, startText } from '../src/commands/top.js';

const ID = 'c'.repeat(64);

function sample(more: Partial<ContainerStats> = {}): ContainerStats {
  return {
    id: ID, name: 'web', running: true, read: '2026-01-01T00:00:00.000Z',
    cpu: { usageNs: 0, systemNs: 0, onlineCpus: 2 }, memory: { usage: 1.5 * 1024 * 1024, limit: 1024 ** 3 }, pids: 2,
    networks: { eth0: { rxBytes: 1200, rxPackets: 1, rxErrors: 0, rxDropped: 0, txBytes: 648, txPackets: 1, txErrors: 0, txDropped: 0 },
      eth1: { rxBytes: 800, rxPackets: 1, rxErrors: 0, rxDropped: 0, txBytes: 352, txPackets: 1, txErrors: 0, txDropped: 0 } },
    ...more,
  };
}

t.test('CPU % as docker: container time over host time, times the CPUs online', async (t) => {
  // one second of host time on 2 CPUs is 2e9 ns; the container used half a CPU (0.5e9 ns)
  t.equal(cpuPercent({ usageNs: 1e9, systemNs: 10e9, onlineCpus: 2 }, { usageNs: 1.5e9, systemNs: 12e9, onlineCpus: 2 }), 50);
  t.equal(cpuPercent({ usageNs: 1, systemNs: 5, onlineCpus: 2 }, { usageNs: 2, systemNs: 5, onlineCpus: 2 }), 0, 'no host time passed');
  t.equal(cpuPercent({ usageNs: 9, systemNs: 5, onlineCpus: 2 }, { usageNs: 2, systemNs: 6, onlineCpus: 2 }), 0, 'a restarted container');
});

t.test('a row from two samples; the first has no CPU % yet', async (t) => {
  const prev = sample({ cpu: { usageNs: 1e9, systemNs: 10e9, onlineCpus: 2 } });
  const cur = sample({ cpu: { usageNs: 1.2e9, systemNs: 12e9, onlineCpus: 2 } });
  const row = statsRow(prev, cur);
  t.equal(row.cpuPercent.toFixed(2), '20.00');
  t.same(row.net, { rxBytes: 2000, txBytes: 1000 }, 'all interfaces summed');
  t.equal(row.memory.percent.toFixed(2), '0.15');
  t.equal(statsRow(undefined, cur).cpuPercent, 0);
  t.equal(statsRow(sample({ running: false }), cur).cpuPercent, 0);
});

t.test('the table: docker\'s columns; "--" for a container not running', async (t) => {
  const rows = [statsRow(undefined, sample()), statsRow(undefined, sample({ id: 'd'.repeat(64), name: 'old', running: false }))];
  const lines = statsTable(rows).split('\n');
  t.match(lines[0], /^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET I\/O\s+PIDS$/);
  t.match(lines[1], /^cccccccccccc\s+web\s+0\.00%\s+1\.5MiB \/ 1GiB\s+0\.15%\s+2kB \/ 1kB\s+2$/);
  t.match(lines[2], /^dddddddddddd\s+old\s+--\s+-- \/ --\s+--\s+-- \/ --\s+--$/);
});

t.test('top: STIME and TIME as ps prints them', async (t) => {
  const now = new Date(2026, 5, 15, 12, 0).getTime();
  t.equal(startText(new Date(2026, 5, 15, 9, 5).toISOString(), now), '09:05');
  t.equal(startText(new Date(2026, 2, 3, 9, 5).toISOString(), now), 'Mar03');
  t.equal(startText(new Date(2024, 2, 3).toISOString(), now), '2024');
  t.equal(cpuTimeText(0.4), '00:00:00');
  t.equal(cpuTimeText(3725), '01:02:05');
  t.equal(cpuTimeText(2 * 86_400 + 61), '2-00:01:01');
});
