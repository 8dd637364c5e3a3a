/**
 * The hand-written peer messages against netlink 0.3.0's own encoders (same
 * arguments, byte for byte), and the allocation-free parsers against the shared
 * strict ones. No privileges needed.
 */
import t from 'tap';
import { AttrStream, FlagsNew, rt } from 'netlink';
import { parseCidr, parseIpv4 } from '@vxnet/common';

import { BatchWriter } from '../../src/dataplane/rtnl-batch.js';
import { cidrToU32, ipv4ToU32, macToBuffer, routeMetric, writeFdb, writeNeighbour, writeRoute, writeRouteDelete } from '../../src/dataplane/peer-messages.js';
import { macBuffer } from '../../src/dataplane/rtnl.js';

const CREATE_REPLACE = FlagsNew.CREATE | FlagsNew.REPLACE;

function library(format: (out: AttrStream) => void): Buffer {
  const out = new AttrStream();
  format(out);
  return Buffer.concat(out.bufs);
}

/** One message written with `write`: its nlmsghdr type/flags and payload. */
function ours(write: (w: BatchWriter) => void): { type: number; flags: number; payload: Buffer } {
  const w = new BatchWriter(16);
  write(w);
  const m = w.message(0);
  return { type: m.readUInt16LE(4), flags: m.readUInt16LE(6), payload: m.subarray(16) };
}

const ip4 = (s: string) => Buffer.from(s.split('.').map(Number));
const u32 = (s: string) => ip4(s).readUInt32BE(0);

t.test('route add/delete match rt.formatRouteMessage', async (t) => {
  const m = ours((w) => writeRoute(w, u32('10.141.3.0'), 24, u32('10.141.3.0'), 7));
  t.equal(m.type, rt.MessageType.NEWROUTE);
  t.equal(m.flags, CREATE_REPLACE);
  t.same(
    m.payload,
    library((o) =>
      rt.formatRouteMessage(
        {
          kind: 'route',
          data: { family: 2, dstLen: 24, table: 254, protocol: 'STATIC', scope: 'UNIVERSE', type: 'UNICAST', flags: { __unknown: 4 } },
          attrs: { dst: ip4('10.141.3.0'), gateway: ip4('10.141.3.0'), oif: 7, priority: routeMetric(u32('10.141.3.0')) },
        },
        o,
      ),
    ),
  );
  t.equal(routeMetric(u32('10.141.3.0')), 177013504, 'metric = network address as u32');
  const d = ours((w) => writeRouteDelete(w, u32('10.141.3.0'), 24, u32('10.141.3.0'), 7));
  t.equal(d.type, rt.MessageType.DELROUTE);
  t.equal(d.flags, 0);
  t.same(
    d.payload,
    library((o) => rt.formatRouteMessage({ kind: 'route', data: { family: 2, dstLen: 24, table: 254 }, attrs: { dst: ip4('10.141.3.0'), gateway: ip4('10.141.3.0'), oif: 7 } }, o)),
  );
});

t.test('neighbour and FDB add/delete match rt.formatNeighborMessage', async (t) => {
  const mac = macBuffer('0a:00:00:00:01:ff');
  const n = ours((w) => writeNeighbour(w, u32('10.141.3.0'), 7, mac));
  t.equal(n.type, rt.MessageType.NEWNEIGH);
  t.equal(n.flags, CREATE_REPLACE);
  t.same(n.payload, library((o) => rt.formatNeighborMessage({ kind: 'neighbor', data: { family: 2, ifindex: 7, state: { permanent: true } }, attrs: { dst: ip4('10.141.3.0'), lladdr: mac } }, o)));
  const nd = ours((w) => writeNeighbour(w, u32('10.141.3.0'), 7, undefined));
  t.equal(nd.type, rt.MessageType.DELNEIGH);
  t.same(nd.payload, library((o) => rt.formatNeighborMessage({ kind: 'neighbor', data: { family: 2, ifindex: 7 }, attrs: { dst: ip4('10.141.3.0') } }, o)));

  const f = ours((w) => writeFdb(w, mac, 7, u32('203.0.113.9')));
  t.equal(f.type, rt.MessageType.NEWNEIGH);
  t.equal(f.flags, CREATE_REPLACE);
  t.same(
    f.payload,
    library((o) =>
      rt.formatNeighborMessage({ kind: 'neighbor', data: { family: 7, ifindex: 7, state: { permanent: true }, flags: { self: true } }, attrs: { lladdr: mac, dst: ip4('203.0.113.9') } }, o),
    ),
  );
  const fd = ours((w) => writeFdb(w, mac, 7, undefined));
  t.equal(fd.type, rt.MessageType.DELNEIGH);
  t.same(fd.payload, library((o) => rt.formatNeighborMessage({ kind: 'neighbor', data: { family: 7, ifindex: 7, flags: { self: true } }, attrs: { lladdr: mac } }, o)));
});

t.test('messages are written back to back, each 4-byte aligned with its exact length', async (t) => {
  const w = new BatchWriter(8); // forces growth
  const mac = macBuffer('0a:00:00:00:01:ff');
  for (let i = 0; i < 50; i++) {
    writeRoute(w, u32('10.141.3.0'), 24, u32('10.141.3.0'), 7);
    writeNeighbour(w, u32('10.141.3.0'), 7, mac);
    writeFdb(w, mac, 7, u32('203.0.113.9'));
  }
  t.equal(w.count, 150);
  for (let i = 0; i < w.count; i++) {
    t.equal(w.starts[i]! % 4, 0);
    if (i + 1 < w.count) t.equal(w.starts[i + 1], w.starts[i]! + ((w.message(i).length + 3) & ~3));
  }
  t.equal(w.message(1).length, 16 + 12 + 8 + 10, 'a neighbour message is 46 bytes, padded to 48');
});

t.test('allocation-free parsers agree with the shared strict ones', async (t) => {
  const ips = ['0.0.0.0', '10.1.2.3', '255.255.255.255', '256.1.1.1', '01.1.1.1', '1.1.1', '1.1.1.1.1', '1..1.1', '', 'a.b.c.d', '1.1.1.1 ', '1.1.1.00', '10.0.0.0'];
  for (const s of ips) t.equal(ipv4ToU32(s), parseIpv4(s), `ip "${s}"`);
  const cidrs = ['10.0.0.0/16', '10.1.2.0/24', '0.0.0.0/0', '10.1.2.3/32', '10.1.2.1/24', '10.1.2.0/33', '10.1.2.0/', '10.1.2.0/024', '10.1.2.0', '10.1.2.0/2a', '1.1.1/8'];
  for (const s of cidrs) {
    let want: { network: number; prefixLength: number } | undefined;
    try {
      const c = parseCidr(s);
      want = { network: c.network, prefixLength: c.prefixLength };
    } catch {
      want = undefined;
    }
    t.same(cidrToU32(s), want, `cidr "${s}"`);
  }
  const macs = ['0a:00:00:00:01:ff', '0A:BB:cc:DD:ee:FF', '0a:00:00:00:01', '0a-00-00-00-01-ff', '0g:00:00:00:01:ff', '0a:00:00:00:01:ff:'];
  for (const s of macs) {
    let want: Buffer | undefined;
    try {
      want = macBuffer(s);
    } catch {
      want = undefined;
    }
    t.same(macToBuffer(s), want, `mac "${s}"`);
  }
});
