import t from 'tap';
import dnsPacket, { type Answer, type Packet, type RecordType } from 'dns-packet';
import { DnsResolver, type DnsSnapshot, type Transport } from '../../src/dns/resolver.js';
import { decodeQuery, encodeResponse } from '../../src/dns/wire.js';

const NET_A = 'a'.repeat(64);
const NET_B = 'b'.repeat(64);
const NET_C = 'c'.repeat(64);

/**
 * net-a: web (alias www) on h1, app on h2, cache on both a and b (container "cache")
 * net-b: db, cache
 * net-c: secret
 * 10.1.0.0/16 = net-a, 10.2.0.0/16 = net-b, 10.3.0.0/16 = net-c
 */
function snapshot(extra: DnsSnapshot['endpoints'] = []): DnsSnapshot {
  return {
    networks: [
      { id: NET_A, name: 'net-a', subnet: '10.1.0.0/16' },
      { id: NET_B, name: 'Net-B', subnet: '10.2.0.0/16' },
      { id: NET_C, name: 'net-c', subnet: '10.3.0.0/16' },
    ],
    endpoints: [
      { networkId: NET_A, name: 'web', aliases: ['www'], ip: '10.1.0.2', container: 'c-web' },
      { networkId: NET_A, name: 'app', aliases: [], ip: '10.1.1.2', container: 'c-app' },
      { networkId: NET_A, name: 'cache', aliases: [], ip: '10.1.0.3', container: 'c-cache' },
      { networkId: NET_B, name: 'cache', aliases: [], ip: '10.2.0.3', container: 'c-cache' },
      { networkId: NET_B, name: 'db', aliases: ['Postgres'], ip: '10.2.0.4', container: 'c-db' },
      { networkId: NET_C, name: 'secret', aliases: [], ip: '10.3.0.9', container: 'c-secret' },
      ...extra,
    ],
  };
}

function query(name: string, type: RecordType | 'ANY' = 'A', opts: { edns?: number } = {}): Packet {
  const wire = dnsPacket.encode({
    type: 'query', id: 4242, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: type as RecordType, name, class: 'IN' }],
    additionals: opts.edns ? [{ type: 'OPT', name: '.', udpPayloadSize: opts.edns, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] : [],
  });
  return decodeQuery(wire); // as a server sees it
}

function ask(r: DnsResolver, name: string, from: { networkId: string; ip: string }, type: RecordType | 'ANY' = 'A', transport: Transport = 'udp', edns?: number) {
  const res = r.resolve(query(name, type, edns ? { edns } : {}), from, transport);
  if (res.kind === 'forward') return { forward: true as const };
  const wire = encodeResponse(res.response); // as the server sends it
  const d = dnsPacket.decode(wire); // and as a client reads it
  return { forward: false as const, rcode: (d as unknown as { rcode: string }).rcode, tc: d.flag_tc, aa: d.flag_aa, id: d.id, answers: (d.answers ?? []) as Array<Answer & { data: string; ttl: number }>, size: wire.length, additionals: d.additionals ?? [] };
}

const fromWeb = { networkId: NET_A, ip: '10.1.0.2' };
const fromCache = { networkId: NET_B, ip: '10.2.0.3' };
const ips = (r: ReturnType<typeof ask>) => (r.forward ? [] : r.answers.map((a) => a.data));

t.test('A for names and aliases on the client network, across hosts', async (t) => {
  const r = new DnsResolver(snapshot());
  const web = ask(r, 'web', fromWeb);
  t.equal(web.forward, false);
  t.same(ips(web), ['10.1.0.2']);
  if (!web.forward) {
    t.equal(web.rcode, 'NOERROR');
    t.equal(web.aa, true, 'authoritative');
    t.equal(web.id, 4242, 'id echoed');
    t.equal(web.answers[0]?.ttl, 5, 'short TTL');
  }
  t.same(ips(ask(r, 'www', fromWeb)), ['10.1.0.2'], 'alias');
  t.same(ips(ask(r, 'app', fromWeb)), ['10.1.1.2'], 'container on another host');
  t.same(ips(ask(r, 'app.net-a', fromWeb)), ['10.1.1.2'], 'name.<network>');
  t.same(ips(ask(r, 'app.net-a.', fromWeb)), ['10.1.1.2'], 'fully qualified');
});

t.test('names are case-insensitive', async (t) => {
  const r = new DnsResolver(snapshot());
  t.same(ips(ask(r, 'WEB', fromWeb)), ['10.1.0.2']);
  t.same(ips(ask(r, 'Www.NET-A', fromWeb)), ['10.1.0.2']);
  t.same(ips(ask(r, 'postgres', fromCache)), ['10.2.0.4'], 'alias registered in mixed case');
  t.same(ips(ask(r, 'db.net-b', fromCache)), ['10.2.0.4'], 'network name registered in mixed case');
  const answer = ask(r, 'WeB', fromWeb);
  if (!answer.forward) t.equal(answer.answers[0]?.name, 'WeB', 'the question is echoed as asked');
});

t.test('a container sees every network it is attached to, and nothing else', async (t) => {
  const r = new DnsResolver(snapshot());
  t.same(ips(ask(r, 'db', fromCache)), ['10.2.0.4'], 'cache asks from net-b');
  t.same(ips(ask(r, 'web', fromCache)), ['10.1.0.2'], 'cache is on net-a too, so it sees web while asking on net-b');
  t.same(ips(ask(r, 'cache', fromWeb)), ['10.1.0.3'], 'web sees only cache\'s net-a address');
  t.same(ips(ask(r, 'cache', fromCache)), ['10.1.0.3', '10.2.0.3'], 'cache sees itself on both');
  for (const name of ['db', 'postgres', 'db.net-b', 'secret', 'secret.net-c', 'nothing', 'nothing.net-a', 'nothing.net-c']) {
    const a = ask(r, name, fromWeb);
    t.equal(a.forward, false, `${name} is internal, not forwarded`);
    if (!a.forward) {
      t.equal(a.rcode, 'NXDOMAIN', `${name}: NXDOMAIN for web`);
      t.same(a.answers, []);
    }
  }
  const secret = ask(r, 'secret', { networkId: NET_C, ip: '10.3.0.9' });
  t.same(ips(secret), ['10.3.0.9'], 'but secret resolves on net-c');
});

t.test('an address without a record sees the network the query came in on', async (t) => {
  const r = new DnsResolver(snapshot());
  t.same(ips(ask(r, 'web', { networkId: NET_A, ip: '10.1.0.200' })), ['10.1.0.2']);
  const db = ask(r, 'db', { networkId: NET_A, ip: '10.1.0.200' });
  t.equal(!db.forward && db.rcode, 'NXDOMAIN');
});

t.test('a shared alias returns every address, rotated per query', async (t) => {
  const r = new DnsResolver(snapshot([
    { networkId: NET_A, name: 'api-1', aliases: ['api'], ip: '10.1.0.10', container: 'c-api-1' },
    { networkId: NET_A, name: 'api-2', aliases: ['api'], ip: '10.1.1.10', container: 'c-api-2' },
    { networkId: NET_A, name: 'api-3', aliases: ['API'], ip: '10.1.2.10', container: 'c-api-3' },
  ]));
  const firsts = new Set<string>();
  for (let i = 0; i < 6; i++) {
    const got = ips(ask(r, 'api', fromWeb));
    t.same([...got].sort(), ['10.1.0.10', '10.1.1.10', '10.1.2.10'], 'all three every time');
    firsts.add(got[0] as string);
  }
  t.equal(firsts.size, 3, 'each address comes first in turn');
});

t.test('resolvers sharing one rotation counter rotate together (one per DNS thread)', async (t) => {
  const extra = [
    { networkId: NET_A, name: 'api-1', aliases: ['api'], ip: '10.1.0.10', container: 'c-api-1' },
    { networkId: NET_A, name: 'api-2', aliases: ['api'], ip: '10.1.1.10', container: 'c-api-2' },
    { networkId: NET_A, name: 'api-3', aliases: ['api'], ip: '10.1.2.10', container: 'c-api-3' },
  ];
  const counters = new Map<number, number>();
  let counter = 0;
  const rotation = (bucket: number) => {
    counter++;
    const n = counters.get(bucket) ?? 0;
    counters.set(bucket, n + 1);
    return n;
  };
  const one = new DnsResolver(snapshot(extra), { rotation });
  const two = new DnsResolver(snapshot(extra), { rotation });
  // thread one answers twice, then thread two once: still each address first once
  const firsts = [ask(one, 'api', fromWeb), ask(one, 'api', fromWeb), ask(two, 'api', fromWeb)].map((r) => ips(r)[0]);
  t.same([...firsts].sort(), ['10.1.0.10', '10.1.1.10', '10.1.2.10']);
  t.equal(counter, 3, 'one counter value per rotated answer');
  ask(one, 'web', fromWeb);
  t.equal(counter, 3, 'a single address takes no counter value');
});

t.test('a name keeps rotating when queries for other rotated names come in between', async (t) => {
  const r = new DnsResolver(snapshot([
    { networkId: NET_A, name: 'api-1', aliases: ['api'], ip: '10.1.0.10', container: 'c-api-1' },
    { networkId: NET_A, name: 'api-2', aliases: ['api'], ip: '10.1.1.10', container: 'c-api-2' },
    { networkId: NET_A, name: 'api-3', aliases: ['api'], ip: '10.1.2.10', container: 'c-api-3' },
    { networkId: NET_A, name: 'db-1', aliases: ['pool'], ip: '10.1.0.20', container: 'c-db-1' },
    { networkId: NET_A, name: 'db-2', aliases: ['pool'], ip: '10.1.1.20', container: 'c-db-2' },
  ]));
  const firsts: string[] = [];
  for (let i = 0; i < 3; i++) {
    firsts.push(ips(ask(r, 'api', fromWeb))[0] as string);
    ask(r, 'pool', fromWeb);
  }
  t.same([...firsts].sort(), ['10.1.0.10', '10.1.1.10', '10.1.2.10'], 'each api address first once in three api queries');
});

t.test('PTR for addresses on the client networks only', async (t) => {
  const r = new DnsResolver(snapshot());
  const web = ask(r, '2.0.1.10.in-addr.arpa', fromWeb, 'PTR');
  if (!web.forward) {
    t.equal(web.rcode, 'NOERROR');
    t.same(web.answers.map((a) => a.data), ['web.net-a', 'www.net-a'], 'name first, then aliases');
  } else t.fail('forwarded');
  const db = ask(r, '4.0.2.10.in-addr.arpa', fromWeb, 'PTR');
  t.equal(!db.forward && db.rcode, 'NXDOMAIN', 'db is on a network web is not on');
  const unknown = ask(r, '99.0.1.10.in-addr.arpa', fromWeb, 'PTR');
  t.equal(!unknown.forward && unknown.rcode, 'NXDOMAIN', 'an unused address of a network subnet is internal');
  t.equal(ask(r, '1.1.168.192.in-addr.arpa', fromWeb, 'PTR').forward, true, 'outside every network: forwarded');
});

t.test('other types of internal names: empty NOERROR, not NXDOMAIN', async (t) => {
  const r = new DnsResolver(snapshot());
  const aaaa = ask(r, 'web', fromWeb, 'AAAA');
  t.equal(!aaaa.forward && aaaa.rcode, 'NOERROR');
  t.same(!aaaa.forward && aaaa.answers, []);
  t.same(ips(ask(r, 'web', fromWeb, 'ANY')), ['10.1.0.2'], 'ANY gets the A records');
});

t.test('forward decision for external names', async (t) => {
  const r = new DnsResolver(snapshot());
  for (const name of ['example.com', 'deb.debian.org', 'web.example.com', 'net-a.example']) {
    t.equal(ask(r, name, fromWeb).forward, true, name);
  }
  t.equal(ask(r, 'example.com', fromWeb, 'MX').forward, true, 'any type');
  const single = ask(r, 'localhostx', fromWeb);
  t.equal(!single.forward && single.rcode, 'NXDOMAIN', 'single-label names never leave');
});

t.test('TC over UDP when the answer does not fit; full answer over TCP', async (t) => {
  const many: DnsSnapshot['endpoints'] = [];
  for (let i = 0; i < 100; i++) many.push({ networkId: NET_A, name: `worker-${i}`, aliases: ['workers'], ip: `10.1.3.${i + 1}`, container: `c-w${i}` });
  const r60 = new DnsResolver(snapshot(many.slice(0, 60)));
  const udp = ask(r60, 'workers', fromWeb);
  if (udp.forward) return t.fail('forwarded');
  t.equal(udp.tc, true, '60 addresses over plain UDP: truncated');
  t.same(udp.answers, [], 'no partial answer');
  t.ok(udp.size <= 512, `UDP reply ${udp.size} bytes`);
  const tcp = ask(r60, 'workers', fromWeb, 'A', 'tcp');
  if (tcp.forward) return t.fail('forwarded');
  t.equal(tcp.tc, false);
  t.equal(tcp.answers.length, 60, 'all 60 over TCP');
  t.equal(tcp.size, 12 + 9 + 4 + 60 * 16, 'answers point at the question name (16 bytes per A record)');
  const edns = ask(r60, 'workers', fromWeb, 'A', 'udp', 4096);
  if (edns.forward) return t.fail('forwarded');
  t.equal(edns.tc, false, '60 fit in an EDNS answer (996 bytes)');
  t.equal(edns.answers.length, 60);
  t.ok(edns.additionals.some((a) => a.type === 'OPT'), 'OPT echoed');

  const r100 = new DnsResolver(snapshot(many));
  const e100 = ask(r100, 'workers', fromWeb, 'A', 'udp', 4096);
  t.equal(!e100.forward && e100.tc, true, '100 addresses: over 1232 bytes, truncated even with EDNS 4096');
  const t100 = ask(r100, 'workers', fromWeb, 'A', 'tcp');
  t.equal(!t100.forward && t100.answers.length, 100, 'all 100 over TCP');

  const r10 = new DnsResolver(snapshot(many.slice(0, 10)));
  const small = ask(r10, 'workers', fromWeb);
  t.equal(!small.forward && small.tc, false, '10 fit in 512 bytes');
  t.equal(!small.forward && small.answers.length, 10);
  const r40 = new DnsResolver(snapshot(many.slice(0, 40)));
  const p40 = ask(r40, 'workers', fromWeb);
  t.equal(!p40.forward && p40.tc, true, '40 do not fit in 512');
});

t.test('malformed and unusual queries', async (t) => {
  const r = new DnsResolver(snapshot());
  const notify = r.resolve({ type: 'query', id: 1, flags: 4 << 11, questions: [{ type: 'A', name: 'web' }] }, fromWeb, 'udp');
  t.equal(notify.kind === 'answer' && (notify.response.flags ?? 0) & 0xf, 4, 'other opcodes: NOTIMP');
  const none = r.resolve({ type: 'query', id: 1, flags: 0, questions: [] }, fromWeb, 'udp');
  t.equal(none.kind === 'answer' && (none.response.flags ?? 0) & 0xf, 1, 'no question: FORMERR');
  const two = r.resolve({ type: 'query', id: 1, flags: 0, questions: [{ type: 'A', name: 'web' }, { type: 'A', name: 'app' }] }, fromWeb, 'udp');
  t.equal(two.kind === 'answer' && (two.response.flags ?? 0) & 0xf, 1, 'two questions: FORMERR');
});

t.test('a new snapshot replaces the old one', async (t) => {
  const s = snapshot();
  s.endpoints = s.endpoints.filter((e) => e.name !== 'app');
  const r = new DnsResolver(s);
  const app = ask(r, 'app', fromWeb);
  t.equal(!app.forward && app.rcode, 'NXDOMAIN', 'removed container no longer resolves');
});
