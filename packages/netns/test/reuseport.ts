/**
 * bindUdpReusePort for real, on loopback in this process's namespace: two sockets
 * bound to one address and port, adopted by dgram, share the datagrams of a single
 * client socket (the random spread; the kernel's default hash would give them all to
 * one); a socket without SO_REUSEPORT on the port refuses the group (EADDRINUSE); a
 * bad address or port is EINVAL.
 */
import t from 'tap';
import dgram from 'node:dgram';
import { existsSync } from 'node:fs';
import { NATIVE_ADDON_PATH, native } from '../src/native.js';

/** A loopback UDP port free a moment ago. */
async function freePort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

if (!existsSync(NATIVE_ADDON_PATH)) {
  t.plan(0, `skip: native addon not built: ${NATIVE_ADDON_PATH}`);
} else {
  t.test('two sockets in one group share one client socket\'s datagrams', async (t) => {
    const port = await freePort();
    const got = [0, 0];
    const servers = [0, 1].map((i) => {
      const s = dgram.createSocket('udp4');
      s.on('message', () => got[i]!++);
      s.bind({ fd: native().bindUdpReusePort('127.0.0.1', port, 2) });
      return s;
    });
    const client = dgram.createSocket('udp4');
    t.teardown(() => {
      for (const s of [...servers, client]) s.close();
    });
    t.equal(servers[0]?.address().port, port, 'dgram adopted the bound fd');
    // 200 datagrams: all on one socket by chance has probability 2^-199
    for (let i = 0; i < 200; i++) client.send(Buffer.from([i]), port, '127.0.0.1');
    for (let i = 0; i < 100 && (got[0] ?? 0) + (got[1] ?? 0) < 200; i++) await new Promise((r) => setTimeout(r, 20));
    t.equal((got[0] ?? 0) + (got[1] ?? 0), 200, 'every datagram received once');
    t.ok((got[0] ?? 0) > 0 && (got[1] ?? 0) > 0, `both sockets received some (${got.join(' + ')})`);
  });

  t.test('a socket without SO_REUSEPORT keeps the port; bad input is EINVAL', async (t) => {
    const plain = dgram.createSocket('udp4');
    await new Promise<void>((r) => plain.bind(0, '127.0.0.1', () => r()));
    t.teardown(() => plain.close());
    t.throws(() => native().bindUdpReusePort('127.0.0.1', plain.address().port, 1), { code: 'EADDRINUSE' });
    t.throws(() => native().bindUdpReusePort('127.0.0.1', 65536, 1), { code: 'EINVAL' });
    t.throws(() => native().bindUdpReusePort('not-an-address', 53, 1), { code: 'EINVAL' });
  });
}
