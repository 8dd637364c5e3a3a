/**
 * Forwards queries the resolver does not answer to the host's upstream resolvers,
 * from the agent's main thread, i.e. from the host network namespace (the network
 * namespaces where the DNS workers listen have no route to the underlay).
 *
 * Each query tries the upstreams in order, one at a time, each for `timeoutMs`; an
 * upstream that timed out or refused the port (ICMP unreachable on the connected
 * socket) is moved to the back of the order for `deadForMs`, so that one dead
 * resolver costs one timeout, not one per query. A SERVFAIL/REFUSED answer also moves
 * on to the next upstream, but is returned if nothing better comes. Queries are
 * independent promises: a slow upstream never delays another query, and internal
 * names never come here at all.
 *
 * UDP: one connected socket per upstream, a fresh random transaction id per attempt
 * (the client's id is restored on the way back), replies accepted only from that
 * upstream with that id. TCP queries are forwarded over TCP (one connection each).
 */
import { randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import net, { isIPv6 } from 'node:net';
import type { Logger } from '@vxnet/common';
import type { Transport } from './resolver.js';
import type { Upstream } from './upstreams.js';

export interface ForwarderOptions {
  upstreams: Upstream[];
  /** Per upstream attempt, ms. Default 2000. */
  timeoutMs?: number;
  /** How long an upstream that failed stays at the back of the order, ms. Default 30000. */
  deadForMs?: number;
  /** Forwarded queries in flight at most; beyond, forward() answers undefined at once. Default 4096. */
  maxPending?: number;
  log: Logger;
}

interface Pending {
  clientId: number;
  resolve: (reply: Buffer | undefined) => void;
  timer: NodeJS.Timeout;
}

interface UdpUpstream {
  upstream: Upstream;
  socket: dgram.Socket | undefined;
  connected: boolean;
  /** sends waiting for connect() */
  queued: Array<() => void>;
  pending: Map<number, Pending>;
  deadUntil: number;
}

const RCODE_SERVFAIL = 2;
const RCODE_REFUSED = 5;

export class Forwarder {
  private readonly ups: UdpUpstream[];
  private readonly timeoutMs: number;
  private readonly deadForMs: number;
  private readonly maxPending: number;
  private inFlight = 0;
  private closed = false;
  /** Upstream attempts that got no answer (timeout, socket error), since start; monotonic. */
  upstreamFailures = 0;

  constructor(private readonly o: ForwarderOptions) {
    this.ups = o.upstreams.map((upstream) => ({ upstream, socket: undefined, connected: false, queued: [], pending: new Map(), deadUntil: 0 }));
    this.timeoutMs = o.timeoutMs ?? 2000;
    this.deadForMs = o.deadForMs ?? 30_000;
    this.maxPending = o.maxPending ?? 4096;
  }

  get upstreams(): Upstream[] {
    return this.ups.map((u) => u.upstream);
  }

  /**
   * The first useful reply to `query` (wire format, the client's id) from the
   * upstreams, with the client's id; undefined when none answered (the caller
   * answers SERVFAIL). Never rejects.
   */
  async forward(query: Buffer, transport: Transport): Promise<Buffer | undefined> {
    if (this.closed || query.length < 12 || this.inFlight >= this.maxPending) return undefined;
    this.inFlight++;
    try {
      const now = Date.now();
      const order = [...this.ups.filter((u) => u.deadUntil <= now), ...this.ups.filter((u) => u.deadUntil > now)];
      let fallback: Buffer | undefined;
      for (const u of order) {
        const reply = transport === 'tcp' ? await this.viaTcp(u, query) : await this.viaUdp(u, query);
        if (this.closed) return undefined;
        if (!reply) {
          this.upstreamFailures++;
          if (u.deadUntil <= Date.now()) this.o.log.warn({ upstream: u.upstream }, 'DNS upstream did not answer; trying the next one');
          u.deadUntil = Date.now() + this.deadForMs;
          continue;
        }
        u.deadUntil = 0;
        const rcode = (reply[3] ?? 0) & 0x0f;
        if (rcode === RCODE_SERVFAIL || rcode === RCODE_REFUSED) {
          fallback ??= reply;
          continue;
        }
        return reply;
      }
      return fallback;
    } finally {
      this.inFlight--;
    }
  }

  /** Close the sockets; queries in flight resolve undefined. Idempotent. */
  close(): void {
    this.closed = true;
    for (const u of this.ups) {
      this.failAll(u);
      u.socket?.close();
      u.socket = undefined;
      u.connected = false;
      u.queued = [];
    }
  }

  private socketFor(u: UdpUpstream): dgram.Socket {
    if (u.socket) return u.socket;
    const s = dgram.createSocket(isIPv6(u.upstream.address) ? 'udp6' : 'udp4');
    s.on('message', (msg, rinfo) => {
      if (msg.length < 12 || (msg[2] ?? 0) < 0x80) return; // not a response
      if (rinfo.address !== u.upstream.address || rinfo.port !== u.upstream.port) return;
      const txid = msg.readUInt16BE(0);
      const p = u.pending.get(txid);
      if (!p) return;
      msg.writeUInt16BE(p.clientId, 0);
      this.settle(u, txid, msg);
    });
    // ECONNREFUSED (ICMP port unreachable) and friends arrive here on a connected
    // socket: every query waiting on this upstream moves on now instead of timing out.
    s.on('error', (err) => {
      this.o.log.debug({ err, upstream: u.upstream }, 'DNS upstream socket error');
      this.failAll(u);
    });
    s.once('connect', () => {
      u.connected = true;
      for (const send of u.queued.splice(0)) send();
    });
    s.connect(u.upstream.port, u.upstream.address);
    u.socket = s;
    return s;
  }

  private settle(u: UdpUpstream, txid: number, reply: Buffer | undefined): void {
    const p = u.pending.get(txid);
    if (!p) return;
    u.pending.delete(txid);
    clearTimeout(p.timer);
    p.resolve(reply);
  }

  private failAll(u: UdpUpstream): void {
    const all = [...u.pending.values()];
    u.pending.clear();
    for (const p of all) {
      clearTimeout(p.timer);
      p.resolve(undefined);
    }
  }

  private viaUdp(u: UdpUpstream, query: Buffer): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      const socket = this.socketFor(u);
      let txid = randomInt(65536);
      while (u.pending.has(txid)) txid = (txid + 1) & 0xffff;
      const out = Buffer.from(query);
      out.writeUInt16BE(txid, 0);
      u.pending.set(txid, {
        clientId: query.readUInt16BE(0),
        resolve,
        timer: setTimeout(() => this.settle(u, txid, undefined), this.timeoutMs),
      });
      const send = () => socket.send(out, (err) => {
        if (err) this.settle(u, txid, undefined);
      });
      // connect() completes on a later tick; until then sends wait in line
      if (u.connected) send();
      else u.queued.push(send);
    });
  }

  private viaTcp(u: UdpUpstream, query: Buffer): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      let done = false;
      let buf = Buffer.alloc(0);
      const sock = net.connect({ host: u.upstream.address, port: u.upstream.port });
      const finish = (reply: Buffer | undefined) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        sock.destroy();
        resolve(reply);
      };
      const timer = setTimeout(() => finish(undefined), this.timeoutMs);
      const frame = Buffer.alloc(2 + query.length);
      frame.writeUInt16BE(query.length, 0);
      query.copy(frame, 2);
      sock.on('connect', () => sock.write(frame));
      sock.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length < 2) return;
        const len = buf.readUInt16BE(0);
        if (buf.length >= 2 + len) finish(buf.subarray(2, 2 + len));
      });
      sock.on('error', () => finish(undefined));
      sock.on('close', () => finish(undefined));
    });
  }
}
