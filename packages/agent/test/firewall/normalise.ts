/** The drift check's comparable form of `nft -j list table ip vxnet`. */
import t from 'tap';

import { diffTables, normaliseTable, sameTable } from '../../src/firewall/index.js';

/** A listing as nft 1.0.6 prints it (abridged), with handles and a counter. */
const listing = (handleBase: number, packets: number) => ({
  nftables: [
    { metainfo: { version: '1.0.6', release_name: 'Lester Gooch #5', json_schema_version: 1 } },
    { table: { family: 'ip', name: 'vxnet', handle: handleBase } },
    { set: { family: 'ip', name: 'uplinks', table: 'vxnet', type: 'ifname', handle: handleBase + 1, elem: ['vxu-aaaaaaaaaaa'] } },
    { chain: { family: 'ip', table: 'vxnet', name: 'forward', handle: handleBase + 2, type: 'filter', hook: 'forward', prio: 0, policy: 'accept' } },
    {
      rule: {
        family: 'ip', table: 'vxnet', chain: 'forward', handle: handleBase + 3,
        expr: [{ match: { op: '==', left: { meta: { key: 'oifname' } }, right: '@uplinks' } }, { counter: { packets, bytes: packets * 84 } }, { drop: null }],
      },
    },
  ],
});

t.test('handles, counter values and metainfo are dropped; the rest kept in order', async (t) => {
  const n = normaliseTable(listing(2, 7));
  t.equal(n.length, 4, 'table, set, chain, rule');
  t.notMatch(n.join('\n'), /handle|metainfo|packets|bytes/);
  t.match(n[3], /"counter":\{\}/, 'the counter itself is still there');
  t.equal(n[0], '{"table":{"family":"ip","name":"vxnet"}}', 'keys sorted');
});

t.test('the same table after a re-apply (new handles) and more traffic (counters) is the same', async (t) => {
  t.ok(sameTable(normaliseTable(listing(2, 7)), normaliseTable(listing(40, 9000))));
});

t.test('a changed element or rule is a difference, named by diffTables', async (t) => {
  const before = normaliseTable(listing(2, 0));
  const edited = listing(2, 0);
  (edited.nftables[2] as { set: { elem: string[] } }).set.elem = ['vxu-aaaaaaaaaaa', 'eth0'];
  edited.nftables.splice(4, 1); // the rule deleted
  const after = normaliseTable(edited);
  t.notOk(sameTable(before, after));
  const d = diffTables(before, after);
  t.equal(d.removed.length, 2, 'the old set and the rule');
  t.match(d.removed.join('\n'), /"drop":null/);
  t.equal(d.added.length, 1);
  t.match(d.added[0], /"eth0"/);
});

t.test('reordered rules are a difference without removed or added objects', async (t) => {
  const a = normaliseTable(listing(2, 0));
  const b = [a[0]!, a[1]!, a[3]!, a[2]!];
  t.notOk(sameTable(a, b));
  t.same(diffTables(a, b), { removed: [], added: [] });
});

t.test('not a listing', async (t) => {
  t.throws(() => normaliseTable({ foo: 1 }), TypeError);
  t.throws(() => normaliseTable(null), TypeError);
});
