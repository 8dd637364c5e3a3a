import t from 'tap';
import { cmdlineText, parseMemTotal, parseNetDev, parsePasswd, parsePidStat, parseStatusUid, parseSystemStat, ttyName } from '../src/stats/proc-files.js';

t.test('/proc/PID/stat: fields counted from the last ")", so a comm with spaces and parentheses does not shift them', async (t) => {
  // as the kernel wrote it for `cat` on this project's host
  const cat = parsePidStat('471 (cat) R 468 468 29331 0 -1 4194304 101 0 0 0 3 2 0 0 20 0 1 0 1968525 3133440 409 18446744073709551615 0 0 0 0 0 0 0\n');
  t.same(cat, { pid: 471, comm: 'cat', state: 'R', ppid: 468, ttyNr: 0, utime: 3, stime: 2, startTicks: 1968525 });
  const odd = parsePidStat('12 (a) b (c)) S 1 12 12 34816 12 0 0 0 0 0 250 50 0 0 20 0 1 0 777 0 0');
  t.equal(odd.comm, 'a) b (c)');
  t.equal(odd.ppid, 1);
  t.equal(odd.ttyNr, 34816);
  t.equal(odd.utime + odd.stime, 300);
  t.equal(odd.startTicks, 777);
  t.throws(() => parsePidStat('garbage'));
  t.throws(() => parsePidStat('1 (x) S a b'), /field 4/);
});

t.test('/proc/stat: the aggregate cpu line\'s first seven fields, the cpuN lines, btime', async (t) => {
  const s = parseSystemStat([
    'cpu  1428360 15541 389318 2030500 9209 0 14272 392 0 0',
    'cpu0 703908 8248 189418 1034142 1577 0 6018 182 0 0',
    'cpu1 724451 7292 199900 996358 7631 0 8254 210 0 0',
    'intr 1 2 3', 'ctxt 123', 'btime 1795937113', 'processes 5',
  ].join('\n'));
  t.equal(s.cpuTicks, 1428360 + 15541 + 389318 + 2030500 + 9209 + 0 + 14272, 'steal and guest are not summed (docker\'s denominator)');
  t.equal(s.onlineCpus, 2);
  t.equal(s.bootTime, 1795937113);
  t.throws(() => parseSystemStat('cpu 1 2 3\n'), /no cpu/);
});

t.test('/proc/PID/net/dev: receive and transmit columns per interface', async (t) => {
  const text = [
    'Inter-|   Receive                                                |  Transmit',
    ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
    '    lo: 211316276  518192    0    0    0     0          0         0 211316276  518192    0    0    0     0       0          0',
    '  eth0:    9876      54    1    2    0     0          0         0     5432      32    3    4    0     0       0          0',
    'eth1:1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16',
  ].join('\n');
  const d = parseNetDev(text);
  t.same(Object.keys(d), ['lo', 'eth0', 'eth1'], 'a name glued to its first number (a large counter) still parses');
  t.same(d.eth0, { rxBytes: 9876, rxPackets: 54, rxErrors: 1, rxDropped: 2, txBytes: 5432, txPackets: 32, txErrors: 3, txDropped: 4 });
  t.same(d.eth1, { rxBytes: 1, rxPackets: 2, rxErrors: 3, rxDropped: 4, txBytes: 9, txPackets: 10, txErrors: 11, txDropped: 12 });
});

t.test('meminfo, status, passwd, cmdline', async (t) => {
  t.equal(parseMemTotal('MemTotal:        8008896 kB\nMemFree:  1 kB\n'), 8008896 * 1024);
  t.throws(() => parseMemTotal('MemFree: 1 kB'));
  t.equal(parseStatusUid('Name:\tsh\nUid:\t1000\t0\t0\t0\nGid:\t0\t0\t0\t0\n'), 1000, 'the real uid');
  const users = parsePasswd('root:x:0:0:root:/root:/bin/bash\n# comment\nnobody:x:65534:65534::/:/usr/sbin/nologin\ntoor:x:0:0::/:/bin/sh\nbad line\n');
  t.equal(users.get(0), 'root', 'the first name of a uid wins');
  t.equal(users.get(65534), 'nobody');
  t.equal(cmdlineText(Buffer.from('sleep\u0000300\u0000')), 'sleep 300');
  t.equal(cmdlineText(Buffer.from('')), '');
});

t.test('tty_nr as ps names it', async (t) => {
  t.equal(ttyName(0), '?');
  t.equal(ttyName((136 << 8) | 0), 'pts/0');
  t.equal(ttyName((136 << 8) | 5), 'pts/5');
  t.equal(ttyName((137 << 8) | 2), 'pts/258', 'the second pts major continues the numbering');
  t.equal(ttyName((136 << 8) | (1 << 20)), 'pts/256', 'high minor bits');
  t.equal(ttyName((4 << 8) | 1), 'tty1');
  t.equal(ttyName((4 << 8) | 65), 'ttyS1');
  t.equal(ttyName(5 << 8), '?');
});
