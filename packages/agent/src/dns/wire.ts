/**
 * A fast codec for the one shape the servers see most: a query with one question
 * (and maybe an EDNS OPT record), and our own answers (A and PTR records about the
 * question's name, maybe OPT). Everything else goes through dns-packet, which is
 * general but allocates a decoded object per field and never compresses names;
 * on the hot path this codec roughly doubles the answers per second (bench/dns.ts).
 *
 * Both sides produce and accept dns-packet's `Packet` objects, so the resolver sees
 * the same thing whichever decoder ran. Answers here point at the question name with
 * a compression pointer (0xC00C), 16 bytes per A record.
 */
import dnsPacket, { type Answer, type OptAnswer, type Packet, type RecordType } from 'dns-packet';

const TYPE_NAMES: Record<number, RecordType | 'ANY'> = { 1: 'A', 12: 'PTR', 28: 'AAAA', 255: 'ANY', 33: 'SRV', 16: 'TXT', 15: 'MX', 5: 'CNAME', 2: 'NS', 6: 'SOA', 65: 'HTTPS' as RecordType };
const TYPE_CODES: Record<string, number> = { A: 1, PTR: 12, AAAA: 28, ANY: 255, SRV: 33, TXT: 16, MX: 15, CNAME: 5, NS: 2, SOA: 6, HTTPS: 65 };
const CLASS_IN = 1;
const CLASS_ANY = 255;
const TYPE_OPT = 41;
const QUESTION_POINTER = 0xc00c;

/**
 * Decode a query. The common shape (one question of a common type, class IN or ANY,
 * no answer/authority records, at most an OPT additional, no name compression) is
 * parsed here; anything else by dns-packet. Throws on malformed input, like dns-packet.
 */
export function decodeQuery(msg: Buffer): Packet {
  const fast = decodeFast(msg);
  return fast ?? dnsPacket.decode(msg);
}

function decodeFast(msg: Buffer): Packet | undefined {
  if (msg.length < 17) return undefined;
  const flags = msg.readUInt16BE(2);
  if (flags & 0x8000) return undefined; // a response
  if (msg.readUInt16BE(4) !== 1 || msg.readUInt16BE(6) !== 0 || msg.readUInt16BE(8) !== 0) return undefined;
  const arcount = msg.readUInt16BE(10);
  if (arcount > 1) return undefined;
  let off = 12;
  let name = '';
  for (;;) {
    const len = msg[off];
    if (len === undefined || len > 63) return undefined; // truncated, or a compression pointer
    off++;
    if (len === 0) break;
    if (off + len > msg.length) return undefined;
    for (let i = off; i < off + len; i++) {
      const c = msg[i] as number;
      if (c <= 0x20 || c === 0x2e || c >= 0x7f) return undefined; // dot, space, non-ASCII: let dns-packet decide
    }
    name += (name ? '.' : '') + msg.toString('latin1', off, off + len);
    off += len;
    if (name.length > 253) return undefined;
  }
  if (off + 4 > msg.length) return undefined;
  const type = TYPE_NAMES[msg.readUInt16BE(off)];
  const cls = msg.readUInt16BE(off + 2);
  if (!type || (cls !== CLASS_IN && cls !== CLASS_ANY)) return undefined;
  off += 4;
  const additionals: Answer[] = [];
  if (arcount === 1) {
    // OPT: root name, type 41, class = UDP payload size, TTL = ext rcode/version/flags, rdata
    if (off + 11 > msg.length || msg[off] !== 0 || msg.readUInt16BE(off + 1) !== TYPE_OPT) return undefined;
    const rdlen = msg.readUInt16BE(off + 9);
    if (off + 11 + rdlen !== msg.length) return undefined;
    const ttl = msg.readUInt32BE(off + 5);
    additionals.push({
      type: 'OPT', name: '.', udpPayloadSize: msg.readUInt16BE(off + 3), extendedRcode: ttl >>> 24, ednsVersion: (ttl >>> 16) & 0xff,
      flags: ttl & 0xffff, flag_do: (ttl & 0x8000) !== 0, options: [],
    });
  } else if (off !== msg.length) {
    return undefined;
  }
  return {
    type: 'query', id: msg.readUInt16BE(0), flags: flags & 0x7fff,
    questions: [{ name, type: type as RecordType, class: cls === CLASS_IN ? 'IN' : 'ANY' }],
    answers: [], authorities: [], additionals,
  };
}

/** True when encodeResponse can write `p` itself (our answers); false: use dns-packet. */
function fastEncodable(p: Packet): boolean {
  const q = p.questions?.[0];
  if (!q || (p.questions?.length ?? 0) !== 1 || (p.authorities?.length ?? 0) !== 0 || TYPE_CODES[q.type] === undefined) return false;
  for (const a of p.answers ?? []) {
    if ((a.type !== 'A' && a.type !== 'PTR') || a.name !== q.name || typeof (a as { data?: unknown }).data !== 'string') return false;
  }
  for (const a of p.additionals ?? []) if (a.type !== 'OPT' || (a.options?.length ?? 0) !== 0) return false;
  return true;
}

function nameLength(name: string): number {
  const n = name.endsWith('.') ? name.slice(0, -1) : name;
  return n.length === 0 ? 1 : Buffer.byteLength(n) + 2;
}

function writeName(buf: Buffer, off: number, name: string): number {
  const n = name.endsWith('.') ? name.slice(0, -1) : name;
  if (n.length > 0) {
    for (const label of n.split('.')) {
      const len = buf.write(label, off + 1);
      buf[off] = len;
      off += len + 1;
    }
  }
  buf[off] = 0;
  return off + 1;
}

/** Size of encodeResponse(p) in bytes. */
export function encodedLength(p: Packet): number {
  if (!fastEncodable(p)) return dnsPacket.encodingLength(p);
  const q = p.questions?.[0] as { name: string };
  let len = 12 + nameLength(q.name) + 4;
  for (const a of p.answers ?? []) len += 12 + (a.type === 'A' ? 4 : nameLength((a as { data: string }).data));
  len += 11 * (p.additionals?.length ?? 0);
  return len;
}

/** Encode a response: our answers compressed (see above), anything else by dns-packet. */
export function encodeResponse(p: Packet): Buffer {
  if (!fastEncodable(p)) return dnsPacket.encode(p);
  const q = p.questions?.[0] as { name: string; type: string; class?: string };
  const answers = p.answers ?? [];
  const additionals = (p.additionals ?? []) as OptAnswer[];
  const buf = Buffer.allocUnsafe(encodedLength(p));
  buf.writeUInt16BE(p.id ?? 0, 0);
  buf.writeUInt16BE(((p.flags ?? 0) & 0x7fff) | (p.type === 'response' ? 0x8000 : 0), 2);
  buf.writeUInt16BE(1, 4);
  buf.writeUInt16BE(answers.length, 6);
  buf.writeUInt16BE(0, 8);
  buf.writeUInt16BE(additionals.length, 10);
  let off = writeName(buf, 12, q.name);
  buf.writeUInt16BE(TYPE_CODES[q.type] as number, off);
  buf.writeUInt16BE(q.class === 'ANY' ? CLASS_ANY : CLASS_IN, off + 2);
  off += 4;
  for (const a of answers) {
    const ans = a as { type: 'A' | 'PTR'; data: string; ttl?: number };
    buf.writeUInt16BE(QUESTION_POINTER, off);
    buf.writeUInt16BE(ans.type === 'A' ? 1 : 12, off + 2);
    buf.writeUInt16BE(CLASS_IN, off + 4);
    buf.writeUInt32BE(ans.ttl ?? 0, off + 6);
    off += 10;
    if (ans.type === 'A') {
      buf.writeUInt16BE(4, off);
      off += 2;
      const d = ans.data;
      let part = 0;
      let j = 0;
      for (let i = 0; i < d.length; i++) {
        const c = d.charCodeAt(i);
        if (c === 46) {
          buf[off + j++] = part;
          part = 0;
        } else part = part * 10 + (c - 48);
      }
      buf[off + j] = part;
      off += 4;
    } else {
      const end = writeName(buf, off + 2, ans.data);
      buf.writeUInt16BE(end - off - 2, off);
      off = end;
    }
  }
  for (const o of additionals) {
    buf[off] = 0;
    buf.writeUInt16BE(TYPE_OPT, off + 1);
    buf.writeUInt16BE(o.udpPayloadSize ?? 4096, off + 3);
    buf.writeUInt32BE((((o.extendedRcode ?? 0) << 24) | ((o.ednsVersion ?? 0) << 16) | ((o.flags ?? 0) & 0xffff)) >>> 0, off + 5);
    buf.writeUInt16BE(0, off + 9);
    off += 11;
  }
  return buf;
}
