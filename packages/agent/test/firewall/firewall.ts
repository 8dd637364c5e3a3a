/**
 * Firewall policy over a fake nft (a table held as text, listings derived from it,
 * failures injectable) and a fake forwarding switch: presence check, apply only on
 * change, drift repaired and named, a failed apply retried, unavailable stays so.
 */
import t from 'tap';
import pino from 'pino';

import { EMPTY_STATE, Firewall, type FirewallState, type Forwarding } from '../../src/firewall/index.js';
import { FakeNft } from '../helpers/fake-nft.js';

function fixture(forwardingOn = true) {
  const nft = new FakeNft();
  const logged: Array<{ level: number; msg: string; [k: string]: unknown }> = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void logged.push(JSON.parse(line)) });
  let forwarding = forwardingOn ? '1' : '0';
  let forwardingError: Error | undefined;
  const fwd: Forwarding = {
    ensure: () => {
      if (forwardingError) throw forwardingError;
      const was = forwarding;
      forwarding = '1';
      return was === '0';
    },
  };
  const fw = new Firewall({ nft, forwarding: fwd, log });
  return {
    nft, fw, logged,
    forwarding: () => forwarding,
    setForwarding: (v: string) => (forwarding = v),
    failForwarding: (e: Error) => (forwardingError = e),
  };
}

const STATE: FirewallState = { uplinks: ['vxu-aaaaaaaaaaa'], networks: ['10.128.0.0/16'], internalNetworks: [], ports: [] };

t.test('probe: forwarding on, nft checks the desired text, available', async (t) => {
  const f = fixture(false);
  t.same(f.fw.status, { available: false, reason: 'the firewall was not checked yet' });
  t.same(await f.fw.probe(STATE), { available: true, reason: null });
  t.equal(f.forwarding(), '1', 'ip_forward turned on');
  t.same(f.nft.calls, ['check'], 'checked, nothing applied');
  t.ok(f.logged.some((l) => l.msg === 'IPv4 forwarding turned on'));
});

t.test('probe: nft unusable -> unavailable with the reason, logged once, apply refused, check a no-op', async (t) => {
  const f = fixture();
  f.nft.failCheck = 'could not run nft: nft not found';
  const s = await f.fw.probe(STATE);
  t.equal(s.available, false);
  t.match(s.reason, /^nftables is not usable: could not run nft: nft not found/);
  t.equal(f.logged.filter((l) => l.level >= 50).length, 1, 'one error logged');
  await t.rejects(f.fw.apply(STATE), TypeError);
  t.equal(await f.fw.check(STATE), false);
  t.same(f.nft.calls, ['check'], 'nft never asked to apply or list');
});

t.test('probe: forwarding cannot be set -> unavailable', async (t) => {
  const f = fixture();
  f.failForwarding(new Error('EROFS: read-only file system'));
  const s = await f.fw.probe(STATE);
  t.equal(s.available, false);
  t.match(s.reason, /net\.ipv4\.ip_forward could not be set: EROFS/);
});

t.test('apply writes only when the text changes', async (t) => {
  const f = fixture();
  await f.fw.probe(EMPTY_STATE);
  t.equal(await f.fw.apply(STATE), true);
  t.equal(await f.fw.apply({ ...STATE, uplinks: [...STATE.uplinks] }), false, 'same state: nothing sent');
  t.equal(await f.fw.apply({ ...STATE, networks: ['10.128.0.0/16', '10.129.0.0/16'] }), true);
  t.same(f.nft.calls.filter((c) => c === 'apply').length, 2);
});

t.test('a refused apply throws VXNET_FIREWALL_FAILED with nft\'s message; the next check re-applies', async (t) => {
  const f = fixture();
  await f.fw.probe(EMPTY_STATE);
  f.nft.failApply = 'Error: Could not process rule: No buffer space available';
  await t.rejects(f.fw.apply(STATE), { code: 'VXNET_FIREWALL_FAILED', message: /could not apply the nftables table ip vxnet: .*No buffer space/ });
  f.nft.failApply = undefined;
  t.equal(await f.fw.check(STATE), true, 're-applied');
  t.match(f.nft.table, /vxu-aaaaaaaaaaa/);
  t.equal(await f.fw.check(STATE), false, 'then quiet');
});

t.test('drift: an edit behind the agent\'s back is named and repaired; no edit, nothing done', async (t) => {
  const f = fixture();
  await f.fw.probe(EMPTY_STATE);
  await f.fw.apply(STATE);
  t.equal(await f.fw.check(STATE), false, 'handles changed, nothing else: no drift');
  const applied = f.nft.table;
  f.nft.table = applied?.replace('\t\toifname @uplinks drop\n', '');
  t.equal(await f.fw.check(STATE), true);
  t.equal(f.nft.table, applied, 'the table is back');
  const warn = f.logged.find((l) => l.msg === 'table ip vxnet was changed behind the agent; re-applying') as { drift?: { removed: string[]; added: string[] } } | undefined;
  t.ok(warn, 'a warning');
  t.match(warn?.drift?.removed, [/oifname @uplinks drop/], 'naming the removed rule');
  t.same(warn?.drift?.added, []);
});

t.test('drift: the table deleted is re-created', async (t) => {
  const f = fixture();
  await f.fw.probe(EMPTY_STATE);
  await f.fw.apply(STATE);
  f.nft.table = undefined;
  t.equal(await f.fw.check(STATE), true);
  t.ok(f.nft.table);
  t.ok(f.logged.some((l) => (l as { drift?: { tableDeleted?: boolean } }).drift?.tableDeleted === true));
});

t.test('check turns forwarding back on when someone turned it off', async (t) => {
  const f = fixture();
  await f.fw.probe(EMPTY_STATE);
  await f.fw.apply(STATE);
  f.setForwarding('0');
  await f.fw.check(STATE);
  t.equal(f.forwarding(), '1');
  t.ok(f.logged.some((l) => l.msg === 'IPv4 forwarding had been turned off; turned it on again'));
});
