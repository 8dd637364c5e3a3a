/**
 * The bind check on loopback of this process (TCP and UDP, a held port and a free
 * one), and inside a namespace this file creates (through the worker thread): the
 * port a process holds in that namespace is seen as used, the same port in the
 * root namespace is not. Nothing is left bound.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';

import { localPortProbe, netnsPortProbe } from '../../src/ports/port-probe.js';
import { makeNs, removeAll, skipReason, testPrefix } from '../dataplane/helpers/sim.js';

const listenTcp = (port = 0): Promise<net.Server> =>
  new Promise((resolve) => {
    const s = net.createServer();
    s.listen({ host: '127.0.0.1', port }, () => resolve(s));
  });
const portOf = (s: net.Server) => (s.address() as net.AddressInfo).port;

t.test('local: a held TCP port is EADDRINUSE, a free one is free, and the check leaves nothing bound', async (t) => {
  const held = await listenTcp();
  t.teardown(() => held.close());
  const free = await listenTcp();
  const freePort = portOf(free);
  await new Promise((r) => free.close(r));
  t.same(await localPortProbe.check([
    { ip: '127.0.0.1', port: portOf(held), protocol: 'tcp' },
    { ip: '127.0.0.1', port: freePort, protocol: 'tcp' },
  ]), ['EADDRINUSE', undefined]);
  const again = await listenTcp(freePort);
  t.pass('the checked port can be bound right after');
  await new Promise((r) => again.close(r));
});

t.test('local: a held UDP port (even with SO_REUSEADDR) is EADDRINUSE; an address not on the host is EADDRNOTAVAIL', async (t) => {
  const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  await new Promise<void>((r) => sock.bind({ address: '127.0.0.1', port: 0 }, () => r()));
  t.teardown(() => sock.close());
  t.same(await localPortProbe.check([
    { ip: '127.0.0.1', port: sock.address().port, protocol: 'udp' },
    { ip: '0.0.0.0', port: sock.address().port, protocol: 'udp' },
    { ip: '198.51.100.77', port: 9, protocol: 'tcp' },
  ]), ['EADDRINUSE', 'EADDRINUSE', 'EADDRNOTAVAIL']);
});

const skip = skipReason();
t.test('in a namespace: the worker binds there, not here', { skip: skip ?? false }, async (t) => {
  const prefix = testPrefix('pp');
  const ns = makeNs(`${prefix}-h1`);
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', "require('net').createServer().listen(7077, '127.0.0.1', () => console.log('up'))"], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => {
    if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
    removeAll(prefix);
  });
  await new Promise((r) => child.stdout.once('data', r));
  const target = { ip: '127.0.0.1', port: 7077, protocol: 'tcp' as const };
  t.same(await netnsPortProbe(ns).check([target, { ...target, port: 7078 }]), ['EADDRINUSE', undefined]);
  t.same(await localPortProbe.check([target]), [undefined], 'the root namespace has nothing on it');
});
