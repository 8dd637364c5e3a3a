/**
 * Entry point of the agent's one DNS worker thread, serving every joined network.
 * dgram.bind()/net.listen() create their fds on a later tick, so they cannot be
 * wrapped in a synchronous setns window on the main thread (shared/notes/kernel.md).
 * This thread creates no other sockets, so it can enter a network's namespace, bind
 * UDP and TCP on the gateway and the DNS address (VXNET_DNS_ADDRESS), wait until all
 * are listening, and come back; serve and unserve requests run one at a time. A socket stays in the namespace it was made in,
 * so one thread answers on all networks (one worker per network cost ~15 MB each).
 *
 * Internal names are answered here, from the last snapshot the main thread posted,
 * synchronously in the socket callback. Other queries are posted to the main thread
 * (the namespace has no route to the upstreams) and answered when it replies; each
 * waits on its own, so a dead upstream never holds up anything else.
 */
import { closeSync, openSync } from 'node:fs';
import dgram from 'node:dgram';
import net from 'node:net';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import type { Packet } from 'dns-packet';
import { CLONE_NEWNET, native } from '@vxnet/netns';
import type { FromWorker, QueryCount, ToWorker, WorkerConfig } from './protocol.js';
import { DnsResolver, reply, type Transport } from './resolver.js';
import { decodeQuery, encodeResponse } from './wire.js';

const cfg = workerData as WorkerConfig;
if (!parentPort) throw new Error('dns-worker.js must run as a worker thread');
const port: MessagePort = parentPort;
const post = (m: FromWorker) => port.postMessage(m);

/** How to send a reply back to whoever asked. */
type Respond = (wire: Buffer) => void;

const TCP_IDLE_MS = 10_000;
const TCP_MAX_CONNECTIONS = 256;
const RCODE_FORMERR = 1;

let resolver = new DnsResolver({ networks: [], endpoints: [] }, { ttl: cfg.ttl });
const forwards = new Map<number, { query: Packet; respond: Respond }>();
let nextForward = 1;

/** Answers sent, by `${kind} ${rcode}` (the metrics scrape asks for them). */
const answered = new Map<string, number>();
const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];
/** `respond`, counting the answer by who made it and its rcode (the low 4 bits of byte 3). */
function counted(kind: QueryCount['kind'], respond: Respond): Respond {
  return (wire) => {
    const key = `${kind} ${RCODES[(wire[3] ?? 0) & 0x0f] ?? 'OTHER'}`;
    answered.set(key, (answered.get(key) ?? 0) + 1);
    respond(wire);
  };
}

interface Served {
  udp: dgram.Socket[];
  tcp: net.Server[];
  connections: Set<net.Socket>;
}
const served = new Map<string, Served>();
/** This thread's own namespace, to come back to after binding in a network's. */
const home = openSync('/proc/thread-self/ns/net', 'r');
let ops: Promise<void> = Promise.resolve();

function enterNetns(path: string): void {
  const fd = openSync(path, 'r');
  try {
    native().setns(fd, CLONE_NEWNET);
  } finally {
    closeSync(fd);
  }
}

/** FORMERR with only a header, for input too broken to decode. */
function formErr(msg: Buffer): Buffer | undefined {
  if (msg.length < 12 || (msg[2] ?? 0) & 0x80) return undefined;
  const out = Buffer.alloc(12);
  msg.copy(out, 0, 0, 2);
  out[2] = 0x80 | ((msg[2] ?? 0) & 0x79); // QR, opcode, RD
  out[3] = 0x80 | RCODE_FORMERR;
  return out;
}

function handle(networkId: string, msg: Buffer, clientIp: string, transport: Transport, send: Respond): void {
  const respond = counted('internal', send);
  let query: Packet;
  try {
    query = decodeQuery(msg);
  } catch {
    const e = formErr(msg);
    if (e) respond(e);
    return;
  }
  if (query.type === 'response') return; // never answer answers (reflection loops)
  const r = resolver.resolve(query, { networkId, ip: clientIp }, transport);
  if (r.kind === 'answer') {
    respond(encodeResponse(r.response));
    return;
  }
  if (forwards.size >= cfg.maxForwards) {
    respond(encodeResponse(reply(query, 'SERVFAIL', [])));
    return;
  }
  const id = nextForward++;
  forwards.set(id, { query, respond: counted('forwarded', send) });
  post({ type: 'forward', id, query: msg, transport });
}

function serveUdp(networkId: string, address: string): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const udp = dgram.createSocket({ type: 'udp4' });
    udp.once('error', reject);
    udp.on('message', (msg, rinfo) => {
      handle(networkId, msg, rinfo.address, 'udp', (wire) => udp.send(wire, rinfo.port, rinfo.address));
    });
    udp.bind(cfg.port, address, () => {
      udp.off('error', reject);
      udp.on('error', () => undefined); // per-datagram send errors (client gone): nothing to do
      try {
        udp.setRecvBufferSize(4 << 20);
      } catch {
        // capped by net.core.rmem_max: the default still works
      }
      resolve(udp);
    });
  });
}

function serveTcp(networkId: string, address: string, connections: Set<net.Socket>): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((sock) => {
      connections.add(sock);
      sock.on('close', () => connections.delete(sock));
      sock.setTimeout(TCP_IDLE_MS, () => sock.destroy());
      sock.setNoDelay(true);
      sock.on('error', () => undefined);
      const clientIp = sock.remoteAddress?.replace(/^::ffff:/, '') ?? '';
      let buf = Buffer.alloc(0);
      const respond: Respond = (wire) => {
        if (sock.destroyed) return;
        const frame = Buffer.allocUnsafe(2 + wire.length);
        frame.writeUInt16BE(wire.length, 0);
        wire.copy(frame, 2);
        sock.write(frame);
      };
      // RFC 7766: several queries per connection, answered as they complete
      sock.on('data', (d) => {
        buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
        while (buf.length >= 2) {
          const len = buf.readUInt16BE(0);
          if (buf.length < 2 + len) break;
          handle(networkId, buf.subarray(2, 2 + len), clientIp, 'tcp', respond);
          buf = buf.subarray(2 + len);
        }
      });
    });
    server.maxConnections = TCP_MAX_CONNECTIONS;
    server.once('error', reject);
    server.listen({ port: cfg.port, host: address, exclusive: true }, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/** Bind a network's sockets inside its namespace, on every address, then return to this thread's own. */
async function serve(networkId: string, netnsPath: string, addresses: string[]): Promise<void> {
  if (served.has(networkId)) return;
  const s: Served = { udp: [], tcp: [], connections: new Set() };
  try {
    enterNetns(netnsPath);
    for (const address of addresses) {
      s.udp.push(await serveUdp(networkId, address));
      s.tcp.push(await serveTcp(networkId, address, s.connections));
    }
    served.set(networkId, s);
    post({ type: 'serving', networkId });
  } catch (err) {
    close(s);
    const e = err as NodeJS.ErrnoException;
    post({ type: 'failed', networkId, message: e.message, code: e.code });
  } finally {
    native().setns(home, CLONE_NEWNET);
  }
}

function close(s: Served): void {
  for (const u of s.udp) u.close();
  for (const t of s.tcp) t.close();
  for (const c of s.connections) c.destroy();
}

function unserve(networkId: string): void {
  const s = served.get(networkId);
  served.delete(networkId);
  if (s) close(s);
  post({ type: 'unserved', networkId });
}

port.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'snapshot':
      resolver = new DnsResolver(m.snapshot, { ttl: cfg.ttl });
      post({ type: 'applied', version: m.version });
      break;
    case 'serve':
      ops = ops.then(() => serve(m.networkId, m.netnsPath, m.addresses));
      break;
    case 'unserve':
      ops = ops.then(() => unserve(m.networkId));
      break;
    case 'reply': {
      const f = forwards.get(m.id);
      if (!f) break;
      forwards.delete(m.id);
      f.respond(m.reply ? Buffer.from(m.reply.buffer, m.reply.byteOffset, m.reply.byteLength) : encodeResponse(reply(f.query, 'SERVFAIL', [])));
      break;
    }
    case 'stats':
      post({ type: 'stats', id: m.id, queries: [...answered].map(([key, count]) => {
        const [kind, rcode] = key.split(' ') as [QueryCount['kind'], string];
        return { kind, rcode, count };
      }) });
      break;
    case 'close':
      ops = ops.then(() => {
        for (const id of [...served.keys()]) unserve(id);
        closeSync(home);
        post({ type: 'closed' });
        port.close();
      });
      break;
  }
});
post({ type: 'ready' });
