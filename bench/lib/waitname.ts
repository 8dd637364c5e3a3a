/**
 * A watcher for "when does NAME answer from here", run inside a container's network
 * namespace (nsenter --net=/proc/PID/ns/net node waitname.js NAME TIMEOUT_MS [SERVER]):
 *
 *   1. every 5 ms, an A query for NAME to SERVER:53 (default Docker's embedded DNS,
 *      127.0.0.11; a vxnet container's is the nameserver of its resolv.conf), fire
 *      and forget, so an upstream that stalls on unknown names never stalls the poll
 *      (what shared/anchors/docker/waitname.c does);
 *   2. once an answer carries an address, `ping -D -c1 -w TIMEOUT -i 0.005 IP`: an echo
 *      every 5 ms until the first reply, whose wall-clock time ping prints (-D).
 *
 * Prints "ready" once the first query is out, then one JSON line
 * {"resolvedMs": epoch ms, "reachableMs": epoch ms, "ip": "…"} (or {"error": "…"}),
 * on the same clock as the caller's Date.now().
 */
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';

const EMBEDDED_DNS = '127.0.0.11';
const EVERY_MS = 5;

export function query(name: string, id: number): Buffer {
  const labels = name.split('.').filter(Boolean).map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'ascii')]));
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(0x0100, 2); // RD
  header.writeUInt16BE(1, 4); // QDCOUNT
  return Buffer.concat([header, ...labels, Buffer.from([0, 0, 1, 0, 1])]); // root, QTYPE A, QCLASS IN
}

function skipName(msg: Buffer, at: number): number {
  for (;;) {
    const len = msg[at];
    if (len === undefined) throw new Error('truncated name');
    if (len === 0) return at + 1;
    if ((len & 0xc0) === 0xc0) return at + 2;
    at += 1 + len;
  }
}

/** The first A record of a NOERROR answer, or undefined. */
export function firstAddress(msg: Buffer): string | undefined {
  if (msg.length < 12 || (msg.readUInt16BE(2) & 0x000f) !== 0) return undefined;
  const qd = msg.readUInt16BE(4);
  const an = msg.readUInt16BE(6);
  let at = 12;
  for (let i = 0; i < qd; i++) at = skipName(msg, at) + 4;
  for (let i = 0; i < an; i++) {
    at = skipName(msg, at);
    const type = msg.readUInt16BE(at);
    const rdlength = msg.readUInt16BE(at + 8);
    at += 10;
    if (type === 1 && rdlength === 4) return [...msg.subarray(at, at + 4)].join('.');
    at += rdlength;
  }
  return undefined;
}

/**
 * First reply time (epoch ms) of `ip`: `ping -D -n -c1 -i 0.005 -w SECONDS IP`, an echo
 * every 5 ms until the first reply, whose wall-clock time ping prints (-D). Rejects when
 * ping printed no reply (none within `seconds`, or an ICMP error ended it). ping's output
 * is read once its stdout has closed ('close'), not when it exited ('exit'): a ping
 * answered at once exits right after writing its reply line, and on a busy event loop
 * Node can report the exit before that line has been read. `ping` is the program to run
 * (a stand-in in the unit test).
 */
export function firstReply(ip: string, seconds: number, ping = 'ping'): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn(ping, ['-D', '-n', '-c1', '-i', '0.005', '-w', String(seconds), ip], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    p.on('error', reject);
    p.on('close', () => {
      const m = /^\[(\d+\.\d+)\] \d+ bytes from/m.exec(out);
      if (m?.[1]) resolve(Number(m[1]) * 1000);
      else reject(new Error(`${ip} did not answer ping within ${seconds} s`));
    });
  });
}

async function main(name: string, timeoutMs: number, server: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const sock = createSocket('udp4');
  let id = 0;
  const found = new Promise<{ ip: string; at: number }>((resolve, reject) => {
    sock.on('message', (m) => {
      const ip = firstAddress(m);
      if (ip) resolve({ ip, at: Date.now() });
    });
    sock.on('error', reject);
  });
  const send = () => sock.send(query(name, (id = (id + 1) & 0xffff)), 53, server);
  send();
  process.stdout.write('ready\n');
  const timer = setInterval(send, EVERY_MS);
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${name} did not resolve within ${timeoutMs} ms`)), timeoutMs).unref());
  const { ip, at } = await Promise.race([found, timeout]);
  clearInterval(timer);
  sock.close();
  const seconds = Math.max(1, Math.ceil((deadline - Date.now()) / 1000));
  const reachable = await firstReply(ip, seconds).catch((err: Error) => {
    throw new Error(`${name} resolved but ${err.message}`);
  });
  process.stdout.write(`${JSON.stringify({ resolvedMs: at, reachableMs: reachable, ip })}\n`);
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '')) {
  const [name, timeout, server] = process.argv.slice(2);
  main(name ?? '', Number(timeout ?? 30_000), server ?? EMBEDDED_DNS).then(() => process.exit(0), (err: Error) => {
    process.stdout.write(`${JSON.stringify({ error: err.message })}\n`);
    process.exit(1); // the poll's interval would keep it alive
  });
}
