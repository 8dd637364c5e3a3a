import t from 'tap';
import dnsPacket, { type Packet, type RecordType } from 'dns-packet';
import { decodeQuery, encodedLength, encodeResponse } from '../../src/dns/wire.js';

function q(name: string, type: string, edns?: number, id = 77): Buffer {
  return dnsPacket.encode({
    type: 'query', id, flags: dnsPacket.RECURSION_DESIRED | dnsPacket.CHECKING_DISABLED, questions: [{ name, type: type as RecordType, class: 'IN' }],
    additionals: edns ? [{ type: 'OPT', name: '.', udpPayloadSize: edns, extendedRcode: 0, ednsVersion: 0, flags: dnsPacket.DNSSEC_OK, flag_do: true, options: [] }] : [],
  });
}

t.test('decodeQuery agrees with dns-packet on common queries', async (t) => {
  for (const [name, type, edns] of [['web', 'A'], ['Web.Net-A', 'AAAA', 1232], ['2.0.1.10.in-addr.arpa', 'PTR'], ['x', 'ANY', 4096], ['a_b-c.example.com', 'MX']] as Array<[string, string, number?]>) {
    const wire = q(name, type, edns);
    const mine = decodeQuery(wire);
    const ref = dnsPacket.decode(wire);
    t.equal(mine.id, ref.id, `${name} ${type}: id`);
    t.equal(mine.flags, ref.flags, 'flags');
    t.same(mine.questions, ref.questions, 'question');
    const opt = mine.additionals?.[0] as { udpPayloadSize?: number; flag_do?: boolean } | undefined;
    if (edns) {
      t.equal(opt?.udpPayloadSize, edns, 'EDNS size');
      t.equal(opt?.flag_do, true, 'DO bit');
    } else t.same(mine.additionals, []);
  }
});

t.test('decodeQuery falls back to dns-packet for unusual shapes', async (t) => {
  const twoQuestions = dnsPacket.encode({ type: 'query', id: 1, questions: [{ name: 'a', type: 'A' }, { name: 'b', type: 'A' }] });
  t.equal(decodeQuery(twoQuestions).questions?.length, 2);
  const rare = q('x.example', 'NAPTR');
  t.equal(decodeQuery(rare).questions?.[0]?.type, 'NAPTR');
  t.throws(() => decodeQuery(Buffer.from([0, 1, 0, 0, 0, 1])), 'too short throws');
  const truncatedName = Buffer.concat([q('web', 'A').subarray(0, 14)]);
  t.throws(() => decodeQuery(truncatedName), 'truncated name throws');
});

t.test('encodeResponse: compressed A and PTR answers that dns-packet reads back', async (t) => {
  const resp: Packet = {
    type: 'response', id: 9, flags: dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.RECURSION_AVAILABLE | 3,
    questions: [{ name: 'Web', type: 'A', class: 'IN' }],
    answers: [{ type: 'A', class: 'IN', name: 'Web', ttl: 5, data: '10.1.0.2' }, { type: 'A', class: 'IN', name: 'Web', ttl: 5, data: '192.168.255.1' }],
    authorities: [], additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }],
  };
  const wire = encodeResponse(resp);
  t.equal(wire.length, encodedLength(resp), 'encodedLength is exact');
  t.equal(wire.length, 12 + 5 + 4 + 2 * 16 + 11);
  const d = dnsPacket.decode(wire);
  t.equal(d.id, 9);
  t.equal(d.flag_aa, true);
  t.equal((d as unknown as { rcode: string }).rcode, 'NXDOMAIN');
  t.same(d.answers?.map((a) => [a.name, (a as { data: string }).data, (a as { ttl: number }).ttl]), [['Web', '10.1.0.2', 5], ['Web', '192.168.255.1', 5]]);
  t.equal((d.additionals?.[0] as { udpPayloadSize: number }).udpPayloadSize, 1232);

  const ptr: Packet = {
    type: 'response', id: 1, flags: 0, questions: [{ name: '2.0.1.10.in-addr.arpa', type: 'PTR', class: 'IN' }],
    answers: [{ type: 'PTR', name: '2.0.1.10.in-addr.arpa', ttl: 5, data: 'web.net-a' }], authorities: [], additionals: [],
  };
  const pw = encodeResponse(ptr);
  t.equal(pw.length, encodedLength(ptr));
  t.equal((dnsPacket.decode(pw).answers?.[0] as { data: string }).data, 'web.net-a');
});

t.test('encodeResponse hands anything else to dns-packet', async (t) => {
  const other: Packet = {
    type: 'response', id: 1, flags: 0, questions: [{ name: 'x', type: 'TXT' }],
    answers: [{ type: 'TXT', name: 'x', ttl: 5, data: 'hello' }], authorities: [], additionals: [],
  };
  t.same(encodeResponse(other), dnsPacket.encode(other));
  t.equal(encodedLength(other), dnsPacket.encodingLength(other));
});
