/**
 * The Agent's decisions about encrypted networks (issue 13), on the fakes of
 * helpers/agent-fixture.ts and a fake Encryption that records the WireGuard peers it
 * is given: refusal without WireGuard (nothing made), VTEPs on tunnel addresses,
 * FDB entries to peers' tunnel addresses, WireGuard peers following liveness, plain
 * networks untouched. The real device is test/encrypted.ts.
 */
import t from 'tap';
import type { HostAlive, SubnetLease } from '@vxnet/common';
import { HOST, NET, attach, fixture, k, network, nothingLeaked, nsOf } from './helpers/agent-fixture.js';
import type { Encryption, WgPeer } from '../src/wireguard/index.js';

const ENC = network('e', { name: 'net-e', vni: 5000, subnet: '10.130.0.0/16', encrypted: true, options: { encrypted: '' } });
const KEY_H2 = 'mBd4A0QsdJm3Y0GRTrtHjb87nqQrRRxjNJs3LGQ8g2U=';

class FakeEncryption implements Encryption {
  readonly applied: WgPeer[][] = [];
  readonly status = { available: true as const, backend: 'wireguard-go' as const, device: 'vxwg0', publicKey: 'x'.repeat(43) + '=', tunnelIp: '100.127.0.1', port: 51820 };
  async setPeers(peers: WgPeer[]): Promise<void> {
    this.applied.push(peers);
  }
  close(): void {}
}

async function peerHost(f: Awaited<ReturnType<typeof fixture>>, host: string, wireguard: boolean, netIds: string[]): Promise<void> {
  const alive: HostAlive = {
    name: host, underlayIp: '192.0.2.2', since: new Date().toISOString(),
    ...(wireguard ? { wireguard: { publicKey: KEY_H2, tunnelIp: '100.127.0.2', port: 51820, backend: 'wireguard-go' as const } } : {}),
  };
  await f.store.put(k.hostAlive(host), JSON.stringify(alive));
  for (const [i, netId] of netIds.entries()) {
    const subnet = netId === NET.id ? '10.128.2.0/24' : '10.130.2.0/24';
    const lease: SubnetLease = {
      networkId: netId, subnet, host, underlayIp: '192.0.2.2', vtepMac: `02:00:00:00:0${i}:02`, acquiredAt: '', renewedAt: '', expiresAt: '2099-01-01T00:00:00Z',
    };
    await f.store.put(k.lease(netId, subnet), JSON.stringify(lease));
  }
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

t.test('without WireGuard an encrypted network is refused, with the reason, and nothing is made', async (t) => {
  const f = await fixture(t, [NET, ENC]);
  await f.agent.start();
  await t.rejects(attach(f, 'c1', { network: ENC.name }), {
    code: 'VXNET_ENCRYPTION_UNAVAILABLE',
    message: /could not join encrypted network "net-e" on host h1: WireGuard is unavailable there \(no WireGuard is configured for this agent\); an encrypted network is never carried in plaintext/,
  });
  await nothingLeaked(t, f);
  t.notOk(f.dp.calls.some((c) => c.includes(nsOf(ENC))), 'no data-plane call for the encrypted network');
  await attach(f, 'c2');
  t.equal(f.dp.kernel.get(nsOf(NET))?.vtep?.underlayIp, '192.0.2.1', 'a plain network still joins');
});

t.test('encrypted: the VTEP sends from the tunnel address without a device, MTU - 80; plain networks unchanged', async (t) => {
  const enc = new FakeEncryption();
  const f = await fixture(t, [NET, ENC], { encryption: enc });
  await f.agent.start();
  await attach(f, 'c1', { network: ENC.name });
  await attach(f, 'c2');
  t.same(f.dp.kernel.get(nsOf(ENC))?.vtep, { netns: nsOf(ENC), vni: 5000, mtu: 1370, underlayIp: '100.127.0.1', underlayDevice: null });
  t.same(f.dp.kernel.get(nsOf(NET))?.vtep, { netns: nsOf(NET), vni: 4096, mtu: 1450, underlayIp: '192.0.2.1', underlayDevice: 'eth0' });
  const ep = f.agent.endpoints().find((e) => e.name === 'c1');
  t.equal(ep?.mtu, 1370, 'endpoints get the encrypted MTU');
});

t.test('peers: FDB to tunnel addresses on encrypted networks, WireGuard peers follow liveness', async (t) => {
  const enc = new FakeEncryption();
  const f = await fixture(t, [NET, ENC], { encryption: enc });
  await f.agent.start();
  await attach(f, 'c1', { network: ENC.name });
  await attach(f, 'c2');
  await peerHost(f, 'h2', true, [NET.id, ENC.id]);
  await settle();
  t.same(f.dp.kernel.get(nsOf(ENC))?.peers.get('10.130.2.0/24')?.underlayIp, '100.127.0.2', 'encrypted: VXLAN goes to the tunnel address');
  t.same(f.dp.kernel.get(nsOf(NET))?.peers.get('10.128.2.0/24')?.underlayIp, '192.0.2.2', 'plain: VXLAN goes to the underlay address');
  t.same(enc.applied.at(-1), [{ host: 'h2', publicKey: KEY_H2, tunnelIp: '100.127.0.2', endpoint: { ip: '192.0.2.2', port: 51820 } }]);
  const applies = enc.applied.length;
  await f.store.put(k.endpoint(NET.id, 'x'), JSON.stringify({ id: 'x', networkId: NET.id, name: 'x', aliases: [], ip: '10.128.2.9', mac: '', host: 'h2', container: 'x', createdAt: '' }));
  await settle();
  t.equal(enc.applied.length, applies, 'an unrelated change does not run wg again');

  await f.store.delete(k.hostAlive('h2'));
  await settle();
  t.same(enc.applied.at(-1), [], 'a dead host is no WireGuard peer');
  t.equal(f.dp.kernel.get(nsOf(ENC))?.peers.size, 0, 'nor a VXLAN peer');
});

t.test('a host without WireGuard is a peer on plain networks only: never reached in plaintext', async (t) => {
  const enc = new FakeEncryption();
  const f = await fixture(t, [NET, ENC], { encryption: enc });
  await f.agent.start();
  await attach(f, 'c1', { network: ENC.name });
  await attach(f, 'c2');
  await peerHost(f, 'h3', false, [NET.id, ENC.id]);
  await settle();
  t.equal(f.dp.kernel.get(nsOf(ENC))?.peers.size, 0);
  t.equal(f.dp.kernel.get(nsOf(NET))?.peers.size, 1);
  t.same(enc.applied.at(-1), []);
  t.equal(HOST, 'h1');
});
