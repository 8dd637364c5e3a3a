import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatUpstream, parseUpstream, upstreamsFromResolvConf } from '../../src/dns/upstreams.js';

t.test('parseUpstream', async (t) => {
  t.same(parseUpstream('192.0.2.53'), { address: '192.0.2.53', port: 53 });
  t.same(parseUpstream(' 192.0.2.53:5353 '), { address: '192.0.2.53', port: 5353 });
  t.same(parseUpstream('::1'), { address: '::1', port: 53 });
  t.same(parseUpstream('[2001:db8::1]:5300'), { address: '2001:db8::1', port: 5300 });
  for (const bad of ['', 'dns.example', '192.0.2.1:0', '192.0.2.1:70000', '192.0.2.1:x', '192.0.2', '[192.0.2.1', '1.2.3.4:53:53']) {
    t.equal(parseUpstream(bad), undefined, `rejects "${bad}"`);
  }
});

t.test('resolv.conf nameservers', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vxnet-dns-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const conf = join(dir, 'resolv.conf');
  writeFileSync(conf, '# comment\nsearch example\nnameserver 198.51.100.53\nnameserver fe80::1%eth0\nnameserver bogus\noptions ndots:2\n');
  t.same(upstreamsFromResolvConf(conf), [{ address: '198.51.100.53', port: 53 }, { address: 'fe80::1', port: 53 }]);
  t.same(upstreamsFromResolvConf(join(dir, 'missing')), [], 'missing file: none');
});

t.test('formatUpstream writes what parseUpstream reads', async (t) => {
  for (const u of [{ address: '192.0.2.53', port: 53 }, { address: '2001:db8::1', port: 5300 }]) t.same(parseUpstream(formatUpstream(u)), u, formatUpstream(u));
  t.equal(formatUpstream({ address: '::1', port: 53 }), '[::1]:53');
});
