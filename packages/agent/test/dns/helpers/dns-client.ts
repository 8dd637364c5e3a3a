/**
 * A tiny DNS client for the tests, run inside a client namespace:
 *
 *   nsenter --net=/run/netns/NS node dns-client.js '<json>'
 *
 * {"mode":"batch","server":"10.77.0.1","port":53,"timeoutMs":3000,"queries":[{"name":"web","type":"A","tcp":false,"edns":0,"delayMs":0}]}
 *   sends every query at once (each after its delayMs), prints one JSON array of
 *   {name, rcode, tc, answers, ms, error?} in query order.
 * {"mode":"watch","server":...,"query":{...},"until":"NXDOMAIN","intervalMs":5,"maxMs":3000}
 *   asks again and again; prints "ready" after the first answer, then
 *   "done <epoch ms> <rcode>" when the rcode is `until` (or "timeout").
 */
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket, { type RecordType } from 'dns-packet';

interface Q { name: string; type?: string; tcp?: boolean; edns?: number; delayMs?: number }
interface Result { name: string; rcode: string; tc: boolean; answers: string[]; ms: number; error?: string }

const cfg = JSON.parse(process.argv[2] ?? '{}') as {
  mode: 'batch' | 'watch'; server: string; port?: number; timeoutMs?: number;
  queries?: Q[]; query?: Q; until?: string; intervalMs?: number; maxMs?: number;
};
const port = cfg.port ?? 53;
const timeoutMs = cfg.timeoutMs ?? 3000;
let nextId = 1;

function encode(q: Q, id: number): Buffer {
  return dnsPacket.encode({
    type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name: q.name, type: (q.type ?? 'A') as RecordType, class: 'IN' }],
    additionals: q.edns ? [{ type: 'OPT', name: '.', udpPayloadSize: q.edns, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] : [],
  });
}

function result(q: Q, wire: Buffer, t0: number): Result {
  const d = dnsPacket.decode(wire);
  return {
    name: q.name, rcode: (d as unknown as { rcode: string }).rcode, tc: d.flag_tc,
    answers: (d.answers ?? []).map((a) => String((a as { data: unknown }).data)), ms: performance.now() - t0,
  };
}

const udp = dgram.createSocket('udp4');
const waiting = new Map<number, (wire: Buffer) => void>();
udp.on('message', (msg) => waiting.get(msg.readUInt16BE(0))?.(msg));

function viaUdp(q: Q): Promise<Result> {
  const id = nextId++ & 0xffff;
  const t0 = performance.now();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      waiting.delete(id);
      resolve({ name: q.name, rcode: 'TIMEOUT', tc: false, answers: [], ms: performance.now() - t0 });
    }, timeoutMs);
    waiting.set(id, (wire) => {
      clearTimeout(timer);
      waiting.delete(id);
      resolve(result(q, wire, t0));
    });
    udp.send(encode(q, id), port, cfg.server);
  });
}

function viaTcp(q: Q): Promise<Result> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const wire = encode(q, nextId++ & 0xffff);
    const frame = Buffer.alloc(2 + wire.length);
    frame.writeUInt16BE(wire.length, 0);
    wire.copy(frame, 2);
    let buf = Buffer.alloc(0);
    const sock = net.connect({ host: cfg.server, port }, () => sock.write(frame));
    const fail = (error: string) => {
      sock.destroy();
      resolve({ name: q.name, rcode: 'ERROR', tc: false, answers: [], ms: performance.now() - t0, error });
    };
    const timer = setTimeout(() => fail('timeout'), timeoutMs);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        clearTimeout(timer);
        sock.destroy();
        resolve(result(q, buf.subarray(2, 2 + buf.readUInt16BE(0)), t0));
      }
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      fail(err.message);
    });
  });
}

const ask = (q: Q) => (q.tcp ? viaTcp(q) : viaUdp(q));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  if (cfg.mode === 'batch') {
    const out = await Promise.all((cfg.queries ?? []).map(async (q) => {
      if (q.delayMs) await sleep(q.delayMs);
      return ask(q);
    }));
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } else {
    const q = cfg.query as Q;
    const end = Date.now() + (cfg.maxMs ?? 3000);
    let first = true;
    while (Date.now() < end) {
      const r = await ask(q);
      if (first) {
        process.stdout.write('ready\n');
        first = false;
      }
      if (r.rcode === cfg.until) {
        process.stdout.write(`done ${Date.now()} ${r.rcode}\n`);
        break;
      }
      await sleep(cfg.intervalMs ?? 5);
    }
    if (Date.now() >= end) process.stdout.write('timeout\n');
  }
  udp.close();
}

void main();
