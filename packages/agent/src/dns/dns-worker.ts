/**
 * Entry point of one of the agent's DNS worker threads, which together serve every
 * joined network. dgram.bind()/net.listen() create their fds on a later tick, so they
 * cannot be wrapped in a synchronous setns window on the main thread
 * (shared/notes/kernel.md). This thread creates no other sockets, so it can enter a
 * network's namespace, bind on the gateway and the DNS address (VXNET_DNS_ADDRESS),
 * wait until all are listening, and come back; serve and unserve requests run one at
 * a time. A socket stays in the namespace it was made in, so one set of threads
 * answers on all networks (a thread per network cost ~15 MB each).
 *
 * Several threads: each binds its own UDP socket on every address, in one
 * SO_REUSEPORT group whose datagrams the kernel spreads at random over the threads
 * (bindUdpReusePort in @vxnet/netns; Node 20's dgram has no reusePort option, but
 * adopts the fd). A random spread, not the kernel's default hash of the sender's
 * address and port: one busy client socket (a resolver library, dnsperf -c1) would
 * otherwise load one thread only. Thread 0 alone listens on TCP (rare: truncated
 * answers) and is the only one when `threads` is 1, on a plain exclusive UDP bind.
 *
 * Internal names are answered here, from the last snapshot the main thread posted,
 * synchronously in the socket callback. The encoded UDP answers that do not rotate
 * (at most one record) are kept per network and client address, keyed by the query's
 * bytes after its id, and sent again with only the id changed: a repeated query costs
 * a map lookup and a copy instead of decode, resolve and encode. Every snapshot
 * empties that cache before the thread says it applied it.
 *
 * Other queries are posted to the main thread (the namespace has no route to the
 * upstreams) and answered when it replies; each waits on its own, so a dead upstream
 * never holds up anything else.
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
/** Cached answers per thread at most, all networks (then the cache starts again empty): < 2 MB. */
const ANSWER_CACHE_MAX = 5_000;
/** Queries longer than this are answered without the cache (a name near 255 bytes, EDNS options). */
const ANSWER_CACHE_QUERY_MAX = 300;

const rotation = new Uint32Array(cfg.rotation);
const resolverOptions = { ttl: cfg.ttl, rotation: (bucket: number) => Atomics.add(rotation, bucket, 1) };
let resolver = new DnsResolver({ networks: [], endpoints: [] }, resolverOptions);
const forwards = new Map<number, { query: Packet; respond: Respond }>();
let nextForward = 1;

/**
 * Answers sent, by who made them and rcode (the metrics scrape asks for them):
 * slot KIND × 8 + rcode (the low 4 bits of byte 3) for NOERROR…REFUSED, + 6 for any other.
 */
const KIND: Record<QueryCount['kind'], number> = { internal: 0, forwarded: 1 };
const KINDS: Array<QueryCount['kind']> = ['internal', 'forwarded'];
const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED', 'OTHER'];
const answered = new Float64Array(KINDS.length * 8);

function count(kind: number, wire: Buffer): void {
  const rcode = (wire[3] ?? 0) & 0x0f;
  const slot = kind * 8 + (rcode < 6 ? rcode : 6);
  answered[slot] = (answered[slot] as number) + 1;
}

/** `respond`, counting the answer by who made it and its rcode. */
function counted(kind: number, respond: Respond): Respond {
  return (wire) => {
    count(kind, wire);
    respond(wire);
  };
}

interface Served {
  udp: dgram.Socket[];
  tcp: net.Server[];
  connections: Set<net.Socket>;
}
const served = new Map<string, Served>();
/**
 * `${serve tag} ${client address} ${query bytes after the id, latin1}` -> encoded
 * answer (any id), in a buffer of its own (a slice of Node's pool would keep a whole
 * 8 KB slab alive per entry). Emptied by every snapshot.
 */
const answers = new Map<string, Buffer>();
let nextTag = 1;
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

/**
 * Answer one query (`send` is called now, or later for a forwarded one). Returns the
 * answer when it came from the records and is the same for the same query from the
 * same client until the next snapshot (no round-robin: at most one record), so that
 * the caller may keep it; undefined otherwise.
 */
function handle(networkId: string, msg: Buffer, clientIp: string, transport: Transport, send: Respond): Buffer | undefined {
  let query: Packet;
  try {
    query = decodeQuery(msg);
  } catch {
    const e = formErr(msg);
    if (e) {
      count(KIND.internal, e);
      send(e);
    }
    return undefined;
  }
  if (query.type === 'response') return undefined; // never answer answers (reflection loops)
  const r = resolver.resolve(query, { networkId, ip: clientIp }, transport);
  if (r.kind === 'answer') {
    const wire = encodeResponse(r.response);
    count(KIND.internal, wire);
    send(wire);
    return (r.response.answers?.length ?? 0) <= 1 ? wire : undefined;
  }
  if (forwards.size >= cfg.maxForwards) {
    const wire = encodeResponse(reply(query, 'SERVFAIL', []));
    count(KIND.internal, wire);
    send(wire);
    return undefined;
  }
  const id = nextForward++;
  forwards.set(id, { query, respond: counted(KIND.forwarded, send) });
  post({ type: 'forward', id, query: msg, transport });
  return undefined;
}

/**
 * dgram's default lookup resolves even an address literal through dns.lookup, one
 * process.nextTick per send; replies only ever go to the literal a query came from.
 */
function literal(address: string, _family: unknown, callback: (err: null, address: string, family: number) => void): void {
  callback(null, address, 4);
}

function serveUdp(networkId: string, address: string, tag: number): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const udp = dgram.createSocket({ type: 'udp4', lookup: literal as unknown as dgram.SocketOptions['lookup'] });
    udp.once('error', reject);
    udp.on('message', (msg, rinfo) => {
      const key = msg.length <= ANSWER_CACHE_QUERY_MAX ? `${tag} ${rinfo.address} ${msg.toString('latin1', 2)}` : undefined;
      const known = key === undefined ? undefined : answers.get(key);
      if (known) {
        const out = Buffer.allocUnsafe(known.length);
        known.copy(out);
        out[0] = msg[0] as number;
        out[1] = msg[1] as number;
        count(KIND.internal, out);
        udp.send(out, rinfo.port, rinfo.address);
        return;
      }
      const wire = handle(networkId, msg, rinfo.address, 'udp', (w) => udp.send(w, rinfo.port, rinfo.address));
      if (wire && key !== undefined) {
        if (answers.size >= ANSWER_CACHE_MAX) answers.clear();
        const own = Buffer.allocUnsafeSlow(wire.length);
        wire.copy(own);
        answers.set(key, own);
      }
    });
    const listening = () => {
      udp.off('error', reject);
      udp.on('error', () => undefined); // per-datagram send errors (client gone): nothing to do
      try {
        udp.setRecvBufferSize(4 << 20);
      } catch {
        // capped by net.core.rmem_max: the default still works
      }
      resolve(udp);
    };
    if (cfg.threads === 1) {
      udp.bind(cfg.port, address, listening);
      return;
    }
    try {
      udp.bind({ fd: native().bindUdpReusePort(address, cfg.port, cfg.threads) }, listening);
    } catch (err) {
      udp.close();
      reject(err as Error);
    }
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
  const tag = nextTag++;
  try {
    enterNetns(netnsPath);
    for (const address of addresses) {
      s.udp.push(await serveUdp(networkId, address, tag));
      if (cfg.index === 0) s.tcp.push(await serveTcp(networkId, address, s.connections));
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
      resolver = new DnsResolver(m.snapshot, resolverOptions);
      answers.clear();
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
    case 'stats': {
      const queries: QueryCount[] = [];
      answered.forEach((n, slot) => {
        if (n > 0) queries.push({ kind: KINDS[slot >> 3] as QueryCount['kind'], rcode: RCODES[slot & 7] as string, count: n });
      });
      post({ type: 'stats', id: m.id, queries });
      break;
    }
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
