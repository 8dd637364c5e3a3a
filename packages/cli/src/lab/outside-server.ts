/**
 * The lab's outside responder: a stand-in for "the internet", run by `lab up` in the
 * outside namespace (vx-<lab>.out), so tests and the demo can show what leaves an
 * overlay and what comes back. It answers on the address given as its one argument:
 *
 *   tcp/7    echo (RFC 862): every byte back, until the client closes
 *   udp/7    echo: every datagram back to its sender
 *   tcp/9    discard (RFC 863): reads and drops, for throughput measurements
 *   tcp/80   HTTP: GET /   -> "ADDRESS:PORT\n" of the client as the outside sees it
 *                 GET /ip -> "ADDRESS\n" (after masquerade: the host's underlay address)
 *
 * Privileged ports need root, which the lab has. It logs one JSON line when every
 * listener is bound ("listening") and one per error; nothing per connection (a
 * benchmark pushes millions of packets through it). SIGTERM closes and exits 0.
 */
import { createSocket } from 'node:dgram';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer, isIPv4, type Server } from 'node:net';
import { OUTSIDE_PORTS } from './outside.js';

function log(msg: string, extra: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), name: 'vxnet-lab-outside', msg, ...extra })}\n`);
}

function listen(server: Server, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

async function main(): Promise<void> {
  const address = process.argv[2] ?? '';
  if (!isIPv4(address)) {
    process.stderr.write(`usage: outside-server IPV4-ADDRESS (got "${address}")\n`);
    process.exit(2);
  }
  const echo = createTcpServer((conn) => {
    conn.on('error', () => conn.destroy());
    conn.pipe(conn);
  });
  const discard = createTcpServer((conn) => {
    conn.on('error', () => conn.destroy());
    conn.resume();
  });
  const http = createHttpServer((req, res) => {
    const who = req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '';
    const body = req.url === '/ip' ? `${who}\n` : `${who}:${req.socket.remotePort ?? 0}\n`;
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), connection: 'close' });
    res.end(body);
  });
  const udp = createSocket('udp4');
  udp.on('message', (data, from) => udp.send(data, from.port, from.address));
  udp.on('error', (err) => log('udp error', { err: { message: err.message } }));
  for (const s of [echo, discard, http]) s.on('error', (err) => log('tcp error', { err: { message: err.message } }));

  await listen(echo, OUTSIDE_PORTS.echo, address);
  await listen(discard, OUTSIDE_PORTS.discard, address);
  await listen(http, OUTSIDE_PORTS.http, address);
  await new Promise<void>((resolve, reject) => {
    udp.once('error', reject);
    udp.bind(OUTSIDE_PORTS.echo, address, () => {
      udp.off('error', reject);
      resolve();
    });
  });
  log('listening', { address, ports: OUTSIDE_PORTS });

  const stop = () => {
    log('stopping');
    udp.close();
    for (const s of [echo, discard, http]) s.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

await main();
