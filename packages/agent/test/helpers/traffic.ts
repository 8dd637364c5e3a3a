/**
 * Small traffic tools for privileged tests, each a node process started inside a
 * namespace the test made (`ip netns exec`), killed by its pid: a TCP server that
 * answers `hello <peer address>`, a TCP client that prints the answer, a UDP
 * counter and a UDP sender with sequence numbers (for loss across a restart).
 */
import { spawn, type ChildProcess } from 'node:child_process';

const children = new Set<ChildProcess>();

/** Kills every process started here that is still running (by pid). */
export function killTrafficProcesses(): void {
  for (const c of children) if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) process.kill(c.pid, 'SIGKILL');
  children.clear();
}

function nodeIn(ns: string, script: string, args: string[]): ChildProcess {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

/** First line the child prints on stdout (rejects if it exits first or after `ms`). */
function firstLine(child: ChildProcess, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`no output within ${ms} ms: ${err}`)), ms);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(out.slice(0, nl));
      }
    });
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before printing: ${err}`));
    });
  });
}

const SERVER = `
const net = require('net');
const [port, host] = process.argv.slice(1);
net.createServer((s) => s.end('hello ' + s.remoteAddress + '\\n')).listen(Number(port), host, () => console.log('listening'));
`;

/** A TCP server in `ns` on ip:port answering `hello <peer>`; resolves once it listens. */
export async function startHelloServer(ns: string, ip: string, port: number): Promise<ChildProcess> {
  const child = nodeIn(ns, SERVER, [String(port), ip]);
  await firstLine(child, 5000);
  return child;
}

const CLIENT = `
const net = require('net');
const [host, port, ms] = process.argv.slice(1);
const s = net.connect(Number(port), host);
let d = '';
s.on('data', (b) => (d += b));
s.on('end', () => console.log(d.trim()));
s.on('error', (e) => console.log('error ' + e.code));
s.setTimeout(Number(ms), () => { console.log('timeout'); s.destroy(); });
`;

/** Connects from `ns` to ip:port; the answer (`hello <peer>`), or `error CODE` / `timeout`. */
export async function tcpHello(ns: string, ip: string, port: number, timeoutMs = 2000): Promise<string> {
  return firstLine(nodeIn(ns, CLIENT, [ip, String(port), String(timeoutMs)]), timeoutMs + 5000);
}

const COUNTER = `
const d = require('dgram').createSocket('udp4');
const seen = new Set(); let src = '';
d.on('message', (m, r) => { seen.add(Number(m.toString())); src = r.address; });
d.bind(Number(process.argv[1]), () => console.log('listening'));
process.on('SIGTERM', () => {
  const max = seen.size ? Math.max(...seen) : -1;
  let lost = 0; for (let i = 0; i <= max; i++) if (!seen.has(i)) lost++;
  console.log(JSON.stringify({ received: seen.size, max, lost, src }));
  process.exit(0);
});
`;

const SENDER = `
const d = require('dgram').createSocket('udp4');
const [host, port, every] = process.argv.slice(1);
let i = 0;
setInterval(() => d.send(String(i++), Number(port), host), Number(every));
console.log('sending');
`;

export interface UdpResult {
  received: number;
  max: number;
  lost: number;
  src: string;
}

/**
 * A UDP stream from `fromNs` to ip:port (received in `toNs`), one datagram every
 * `everyMs`. `stop()` stops the sender, lets the last datagrams land, and returns
 * what arrived: count, highest sequence number, gaps, the source address seen.
 */
export async function startUdpStream(fromNs: string, toNs: string, ip: string, port: number, everyMs: number): Promise<{ stop(): Promise<UdpResult> }> {
  const counter = nodeIn(toNs, COUNTER, [String(port)]);
  await firstLine(counter, 5000);
  const sender = nodeIn(fromNs, SENDER, [ip, String(port), String(everyMs)]);
  await firstLine(sender, 5000);
  return {
    async stop() {
      if (sender.pid !== undefined) process.kill(sender.pid, 'SIGKILL');
      await new Promise((r) => setTimeout(r, 200));
      const result = new Promise<string>((resolve) => {
        let out = '';
        counter.stdout?.on('data', (d: Buffer) => (out += d.toString()));
        counter.on('exit', () => resolve(out.trim().split('\n').pop() ?? ''));
      });
      if (counter.pid !== undefined) process.kill(counter.pid, 'SIGTERM');
      return JSON.parse(await result) as UdpResult;
    },
  };
}
