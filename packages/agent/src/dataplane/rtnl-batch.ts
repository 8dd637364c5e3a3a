/**
 * Many rtnetlink requests in few datagrams: the netlink counterpart of
 * `ip -batch` / `bridge -batch`, without a round trip per request.
 *
 * Why a socket of its own: netlink 0.3.0's request() sends one message per
 * datagram and settles one JS promise per reply, so 3,000 kernel entries cost
 * 3,000 round trips through libuv and the request gate (see openRtnl). Its
 * NetlinkSocket also reassembles dumps across every reply on the socket, so
 * foreign replies must not arrive there while a dump runs. A second, raw socket
 * (RawNetlinkSocket, the package's lowest layer) in the same namespace keeps the
 * batch's replies away from the gated socket, and its sequence numbers cannot
 * collide with the library's.
 *
 * How: the kernel processes every nlmsghdr of a datagram in order, inside the
 * sendmsg call (netlink_rcv_skb), and carries on after a failed one. It answers
 * a failed message with NLMSG_ERROR whether or not NLM_F_ACK is set, and a
 * successful one only if NLM_F_ACK is set. So every message gets its own
 * sequence number, only the last message of a datagram asks for an ACK, and
 * the reply to that last message (queued after every earlier error) closes the
 * datagram: every sequence number without an error reply succeeded. ACKing
 * every message as well was measured at +40 ms per 3,000 messages (one skb,
 * two recvmsg calls and one JS callback each) for no information.
 *
 * A datagram is bounded by the send buffer, and by the receive buffer in case
 * every message fails (the kernel drops replies that do not fit and reports
 * ENOBUFS): sizes come from the buffers the kernel actually granted.
 */
import { Flags, Protocol, RawNetlinkSocket } from 'netlink';
import { getSystemErrorName } from 'node:util';

import { inNetns } from '@vxnet/netns';
import { REQUEST_TIMEOUT_MS } from './rtnl.js';

const NLMSG_ERROR = 2;
const HEADER_LENGTH = 16;
/**
 * Upper bound of the receive-buffer charge (skb truesize) of one error reply,
 * which echoes the request (< 100 bytes here): ~1,280 bytes on x86-64, doubled
 * for margin.
 */
const REPLY_CHARGE_BYTES = 2_560;
/** Buffers asked for; the kernel caps them at net.core.{r,w}mem_max and doubles them. */
const WANT_RCVBUF = 4 << 20;
const WANT_SNDBUF = 1 << 20;
/** netlink_sendmsg refuses a datagram longer than sk_sndbuf - 32. */
const SNDBUF_SLACK = 64;

const align4 = (n: number): number => (n + 3) & ~3;

/**
 * Netlink messages written back to back into one growing buffer: nlmsghdr
 * (length, type, flags; sequence number and port are filled in at send time),
 * a zeroed family header, then attributes, each message 4-byte aligned.
 */
export class BatchWriter {
  buf: Buffer;
  /** Offset of each message's nlmsghdr, in order. */
  readonly starts: number[] = [];
  private off = 0;
  private start = 0;

  constructor(capacity = 4096) {
    this.buf = Buffer.alloc(capacity);
  }

  /** Number of messages written so far. */
  get count(): number {
    return this.starts.length;
  }

  /** Starts a message; returns the offset of its family header (`headerLength` zero bytes). */
  begin(type: number, flags: number, headerLength: number): number {
    this.reserve(HEADER_LENGTH + headerLength + 64);
    this.start = this.off;
    this.starts.push(this.off);
    this.buf.writeUInt16LE(type, this.off + 4);
    this.buf.writeUInt16LE(flags, this.off + 6);
    this.off += HEADER_LENGTH + headerLength;
    return this.off - headerLength;
  }

  /** An attribute holding an IPv4 address given as u32 (network byte order on the wire). */
  ipv4(type: number, addr: number): void {
    const o = this.attr(type, 4);
    this.buf.writeUInt32BE(addr >>> 0, o);
  }

  /** An attribute holding a host-order u32. */
  u32(type: number, value: number): void {
    const o = this.attr(type, 4);
    this.buf.writeUInt32LE(value >>> 0, o);
  }

  /** An attribute holding raw bytes. */
  bytes(type: number, data: Uint8Array): void {
    const o = this.attr(type, data.length);
    this.buf.set(data, o);
  }

  /** Ends the message: nlmsg_len is its exact length; the next one starts aligned. */
  end(): void {
    this.buf.writeUInt32LE(this.off - this.start, this.start);
    this.off = align4(this.off);
  }

  /** The bytes of message `i`, header included (its exact nlmsg_len). */
  message(i: number): Buffer {
    const s = this.starts[i]!;
    return this.buf.subarray(s, s + this.buf.readUInt32LE(s));
  }

  /** End offset (aligned) of message `i`. */
  endOf(i: number): number {
    return i + 1 < this.starts.length ? this.starts[i + 1]! : this.off;
  }

  private attr(type: number, length: number): number {
    this.off = align4(this.off);
    this.reserve(4 + length + 3);
    this.buf.writeUInt16LE(4 + length, this.off);
    this.buf.writeUInt16LE(type, this.off + 2);
    this.off += 4 + length;
    return this.off - length;
  }

  private reserve(n: number): void {
    if (this.off + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.off + n));
    this.buf.copy(next, 0, 0, this.off);
    this.buf = next;
  }
}

/**
 * A raw rtnetlink socket for batches, opened in `netns` (name or path) or in
 * the calling thread's namespace. run() calls on one instance must not overlap.
 */
export class RtnlBatchSocket {
  private readonly raw: RawNetlinkSocket;
  private readonly port: number;
  private seq = 1;
  /** First and last sequence number of the datagram in flight, and its first message's index. */
  private window = { first: 0, last: 0, base: 0 };
  private results: Array<string | undefined> = [];
  private wake: ((err?: Error) => void) | undefined;
  private readonly maxMessages: number;
  private readonly maxBytes: number;

  constructor(netns?: string) {
    const open = () => new RawNetlinkSocket(Protocol.ROUTE, { recvBufferSize: WANT_RCVBUF, sendBufferSize: WANT_SNDBUF });
    this.raw = netns === undefined ? open() : inNetns(netns, open);
    this.raw.unref();
    this.port = this.raw.address().port;
    this.maxMessages = Math.max(1, Math.floor(this.raw.getRecvBufferSize() / REPLY_CHARGE_BYTES));
    this.maxBytes = this.raw.getSendBufferSize() - SNDBUF_SLACK;
    this.raw.on('message', (buf) => this.receive(buf));
    // ENOBUFS here means replies were dropped: the outcome of some messages is unknown.
    this.raw.on('error', (err) => this.wake?.(err));
  }

  /**
   * Sends every message of `batch` (REQUEST added to its flags) and returns, per
   * message in order, undefined for success or the errno name the kernel
   * answered (e.g. 'EINVAL'). Rejects only when the batch itself failed (send
   * error, replies lost, no reply within REQUEST_TIMEOUT_MS); messages of
   * earlier datagrams have then been applied.
   */
  async run(batch: BatchWriter): Promise<Array<string | undefined>> {
    const n = batch.count;
    this.results = new Array<string | undefined>(n).fill(undefined);
    let i = 0;
    while (i < n) {
      const first = i;
      const from = batch.starts[first]!;
      while (i < n && i - first < this.maxMessages && (i === first || batch.endOf(i) - from <= this.maxBytes)) i++;
      const firstSeq = this.seq;
      for (let k = first; k < i; k++) {
        const s = batch.starts[k]!;
        const flags = batch.buf.readUInt16LE(s + 6) | Flags.REQUEST | (k === i - 1 ? Flags.ACK : 0);
        batch.buf.writeUInt16LE(flags, s + 6);
        batch.buf.writeUInt32LE(this.nextSeq(), s + 8);
        batch.buf.writeUInt32LE(this.port, s + 12);
      }
      this.window = { first: firstSeq, last: firstSeq + (i - first - 1), base: first };
      await this.sendAndWait(batch.buf.subarray(from, batch.endOf(i - 1)));
    }
    return this.results;
  }

  close(): void {
    this.raw.close();
  }

  /** Sequence numbers stay below 2^31 - n so that a datagram's range never wraps. */
  private nextSeq(): number {
    const s = this.seq;
    this.seq = this.seq >= 0x7fff0000 ? 1 : this.seq + 1;
    return s;
  }

  private sendAndWait(datagram: Buffer): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => this.wake?.(new Error(`no reply to a batch of netlink requests within ${REQUEST_TIMEOUT_MS} ms`)), REQUEST_TIMEOUT_MS);
      this.wake = (err) => {
        clearTimeout(timer);
        this.wake = undefined;
        this.raw.unref();
        if (err) reject(err);
        else resolve();
      };
      this.raw.ref();
      this.raw.send(datagram, {}, (err) => {
        if (err) this.wake?.(err);
      });
    });
  }

  /** One datagram from the kernel: NLMSG_ERROR replies, possibly several back to back. */
  private receive(buf: Buffer): void {
    const { first, last, base } = this.window;
    let off = 0;
    let closed = false;
    while (off + HEADER_LENGTH <= buf.length) {
      const len = buf.readUInt32LE(off);
      if (len < HEADER_LENGTH || off + len > buf.length) break;
      const type = buf.readUInt16LE(off + 4);
      const seq = buf.readUInt32LE(off + 8);
      if (type === NLMSG_ERROR && len >= HEADER_LENGTH + 4 && seq >= first && seq <= last) {
        const errno = -buf.readInt32LE(off + HEADER_LENGTH);
        if (errno !== 0) this.results[base + (seq - first)] = errnoName(errno);
        if (seq === last) closed = true;
      }
      off += align4(len);
    }
    if (closed) this.wake?.();
  }
}

function errnoName(errno: number): string {
  try {
    return getSystemErrorName(-errno);
  } catch {
    return `errno ${errno}`;
  }
}
