import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dnsUpstreamsFromArgs, parseUpstream, parseUpstreamList, upstreamsFromResolvConf } from '../../src/dns/upstreams.js';

t.test('parseUpstream', async (t) => {
  t.same(parseUpstream('192.0.2.53'), { address: '192.0.2.53', port: 53 });
  t.same(parseUpstream(' 192.0.2.53:5353 '), { address: '192.0.2.53', port: 5353 });
  t.same(parseUpstream('::1'), { address: '::1', port: 53 });
  t.same(parseUpstream('[2001:db8::1]:5300'), { address: '2001:db8::1', port: 5300 });
  for (const bad of ['', 'dns.example', '192.0.2.1:0', '192.0.2.1:70000', '192.0.2.1:x', '192.0.2', '[192.0.2.1', '1.2.3.4:53:53']) {
    t.equal(parseUpstream(bad), undefined, `rejects "${bad}"`);
  }
});

t.test('parseUpstreamList names every bad entry', async (t) => {
  t.same(parseUpstreamList('192.0.2.1, 192.0.2.2:5353'), [{ address: '192.0.2.1', port: 53 }, { address: '192.0.2.2', port: 5353 }]);
  t.throws(() => parseUpstreamList('192.0.2.1,bad,worse:1'), /invalid DNS upstream "bad", "worse:1"/);
});

t.test('resolv.conf nameservers, flag, environment, in that precedence', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vxnet-dns-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const conf = join(dir, 'resolv.conf');
  writeFileSync(conf, '# comment\nsearch example\nnameserver 198.51.100.53\nnameserver fe80::1%eth0\nnameserver bogus\noptions ndots:2\n');
  t.same(upstreamsFromResolvConf(conf), [{ address: '198.51.100.53', port: 53 }, { address: 'fe80::1', port: 53 }]);
  t.same(upstreamsFromResolvConf(join(dir, 'missing')), [], 'missing file: none');

  const argv = ['--host', 'h1', '--dns-upstream', '192.0.2.9:5353', '--state-dir', '/x'];
  t.same(dnsUpstreamsFromArgs(argv, {}, conf), { upstreams: [{ address: '192.0.2.9', port: 5353 }], rest: ['--host', 'h1', '--state-dir', '/x'] }, 'flag, removed from argv');
  t.same(dnsUpstreamsFromArgs(['--dns-upstream=192.0.2.8'], { VXNET_DNS_UPSTREAM: '192.0.2.7' }, conf).upstreams, [{ address: '192.0.2.8', port: 53 }], 'flag beats env');
  t.same(dnsUpstreamsFromArgs([], { VXNET_DNS_UPSTREAM: '192.0.2.7' }, conf).upstreams, [{ address: '192.0.2.7', port: 53 }], 'env beats resolv.conf');
  t.same(dnsUpstreamsFromArgs([], {}, conf).upstreams[0], { address: '198.51.100.53', port: 53 }, 'resolv.conf last');
  t.throws(() => dnsUpstreamsFromArgs(['--dns-upstream'], {}, conf), /needs a value/);
});
