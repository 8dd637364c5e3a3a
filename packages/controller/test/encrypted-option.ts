/**
 * `--opt encrypted`: the spellings that mean yes or no, a typo refused (never a silent
 * plaintext network), and the API's create and inspect of an encrypted network.
 */
import t from 'tap';
import { MemoryStore, keys, silentLogger } from '@vxnet/common';
import { build } from '../src/app.js';
import { encryptedOption, validateCreateRequest } from '../src/network/allocate.js';

t.test('encryptedOption', async (t) => {
  t.equal(encryptedOption(undefined), false);
  t.equal(encryptedOption({}), false);
  for (const v of ['', 'true', 'TRUE', 'yes', '1']) t.equal(encryptedOption({ encrypted: v }), true, v);
  for (const v of ['false', 'no', '0']) t.equal(encryptedOption({ encrypted: v }), false, v);
  t.match(encryptedOption({ encrypted: 'ture' }), /invalid option encrypted="ture"/);
});

t.test('validateCreateRequest carries it, and refuses a typo', async (t) => {
  t.equal(validateCreateRequest({ name: 'n1', options: { encrypted: '' } }).encrypted, true);
  t.equal(validateCreateRequest({ name: 'n1' }).encrypted, false);
  t.throws(() => validateCreateRequest({ name: 'n1', options: { encrypted: 'maybe' } }), { code: 'VXNET_INVALID_ARGUMENT', message: /invalid option encrypted="maybe"/ });
});

t.test('API: an encrypted network is stored and inspected as such, with each live host\'s backend; refused when no live host has WireGuard', async (t) => {
  const store = new MemoryStore();
  const k = keys('/t/');
  const app = await build({ store, keys: k, pool: { defaultPool: '10.128.0.0/9', defaultBlockLength: 16, excluded: [] }, logger: silentLogger() });
  t.teardown(() => app.close());
  const alive = (name: string, wg: boolean) => store.put(k.hostAlive(name), JSON.stringify({
    name, underlayIp: '192.0.2.1', since: '', ...(wg ? { wireguard: { publicKey: 'p'.repeat(43) + '=', tunnelIp: '100.127.0.1', port: 51820, backend: 'wireguard-go' } } : {}),
  }));

  const noHosts = await app.inject({ method: 'POST', url: '/v1/networks', payload: { name: 'e0', options: { encrypted: '' } } });
  t.equal(noHosts.statusCode, 201, 'no live host yet: allowed (agents refuse to join without WireGuard)');
  t.equal(noHosts.json().encrypted, true);

  await alive('h1', false);
  const refused = await app.inject({ method: 'POST', url: '/v1/networks', payload: { name: 'e1', options: { encrypted: 'true' } } });
  t.equal(refused.statusCode, 409);
  t.match(refused.json(), { code: 'VXNET_ENCRYPTION_UNAVAILABLE', message: /could not create network "e1": --opt encrypted needs WireGuard, and none of the live hosts \(h1\) has it/ });
  const plain = await app.inject({ method: 'POST', url: '/v1/networks', payload: { name: 'p1' } });
  t.equal(plain.statusCode, 201);
  t.equal(plain.json().encrypted, undefined, 'a plain network has no encrypted field');

  await alive('h2', true);
  const ok = await app.inject({ method: 'POST', url: '/v1/networks', payload: { name: 'e2', options: { encrypted: '' } } });
  t.equal(ok.statusCode, 201);
  const net = ok.json() as { id: string };
  for (const [host, ip] of [['h1', '192.0.2.1'], ['h2', '192.0.2.2']] as const) {
    const subnet = host === 'h1' ? '10.130.0.0/24' : '10.130.1.0/24';
    await store.put(k.lease(net.id, subnet), JSON.stringify({ networkId: net.id, subnet, host, underlayIp: ip, vtepMac: '02:00:00:00:00:01', acquiredAt: '', renewedAt: '', expiresAt: '' }));
  }
  const detail = (await app.inject({ url: '/v1/networks/e2' })).json() as { network: { encrypted: boolean }; hosts: Array<{ host: string; encryption?: string }> };
  t.equal(detail.network.encrypted, true);
  t.same(detail.hosts.map((h) => [h.host, h.encryption]), [['h1', undefined], ['h2', 'wireguard-go']]);
  t.notMatch(JSON.stringify(detail), /privateKey/i);
});
