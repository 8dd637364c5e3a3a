/**
 * The WireGuard config file for `wg syncconf` and the parse of `wg show IF dump`
 * (pure): rendered bytes, invalid peers refused, the private key dropped on reading.
 */
import t from 'tap';
import { PrivateKey } from '../../src/wireguard/keys.js';
import { deviceMatches, parseDump, renderConfig, type WgPeer } from '../../src/wireguard/wg-config.js';

const PRIV = 'dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=';
const PUB = 'hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=';
const P2 = 'mBd4A0QsdJm3Y0GRTrtHjb87nqQrRRxjNJs3LGQ8g2U=';
const P3 = 'AAd4A0QsdJm3Y0GRTrtHjb87nqQrRRxjNJs3LGQ8g2U=';
const peer = (publicKey: string, n: number): WgPeer => ({ publicKey, tunnelIp: `100.127.0.${n}`, endpoint: { ip: `192.0.2.${n}`, port: 51820 } });

t.test('renderConfig: interface then peers sorted by key, one /32 each', async (t) => {
  const text = renderConfig({ privateKey: new PrivateKey(PRIV), listenPort: 51820, peers: [peer(P2, 2), peer(P3, 3)] });
  t.equal(text, [
    '[Interface]', `PrivateKey = ${PRIV}`, 'ListenPort = 51820', '',
    '[Peer]', `PublicKey = ${P3}`, 'AllowedIPs = 100.127.0.3/32', 'Endpoint = 192.0.2.3:51820', 'PersistentKeepalive = 25', '',
    '[Peer]', `PublicKey = ${P2}`, 'AllowedIPs = 100.127.0.2/32', 'Endpoint = 192.0.2.2:51820', 'PersistentKeepalive = 25', '',
  ].join('\n'));
  t.equal(renderConfig({ privateKey: new PrivateKey(PRIV), listenPort: 51820, peers: [] }), `[Interface]\nPrivateKey = ${PRIV}\nListenPort = 51820\n`);
});

t.test('renderConfig refuses what would inject lines or mean something else', async (t) => {
  const key = new PrivateKey(PRIV);
  t.throws(() => renderConfig({ privateKey: key, listenPort: 51820, peers: [{ ...peer(P2, 2), publicKey: `${P2}\nAllowedIPs = 0.0.0.0/0` }] }), TypeError);
  t.throws(() => renderConfig({ privateKey: key, listenPort: 51820, peers: [{ ...peer(P2, 2), tunnelIp: '0.0.0.0/0' }] }), TypeError);
  t.throws(() => renderConfig({ privateKey: key, listenPort: 51820, peers: [{ ...peer(P2, 2), endpoint: { ip: 'evil.example', port: 1 } }] }), TypeError);
  t.throws(() => renderConfig({ privateKey: key, listenPort: 0, peers: [] }), TypeError);
});

t.test('parseDump drops the private key; deviceMatches compares the rest', async (t) => {
  const dump = [
    `${PRIV}\t${PUB}\t51820\toff`,
    `${P2}\t(none)\t192.0.2.2:51820\t100.127.0.2/32\t1764400000\t1200\t3400\toff`,
  ].join('\n') + '\n';
  const state = parseDump(dump);
  t.same(state, {
    publicKey: PUB, listenPort: 51820,
    peers: [{ publicKey: P2, endpoint: '192.0.2.2:51820', allowedIps: ['100.127.0.2/32'], latestHandshake: 1764400000, rxBytes: 1200, txBytes: 3400 }],
  });
  t.notMatch(JSON.stringify(state), PRIV);
  t.ok(deviceMatches(state, { publicKey: PUB, listenPort: 51820, peers: [peer(P2, 2)] }));
  t.notOk(deviceMatches(state, { publicKey: PUB, listenPort: 51820, peers: [] }), 'an extra peer on the device');
  t.notOk(deviceMatches(state, { publicKey: PUB, listenPort: 51820, peers: [{ ...peer(P2, 2), tunnelIp: '100.127.0.9' }] }), 'another allowed IP');
  t.notOk(deviceMatches(state, { publicKey: PUB, listenPort: 51821, peers: [peer(P2, 2)] }), 'another port');
});

t.test('parseDump of a fresh device without a key, and of garbage (not quoted back)', async (t) => {
  t.same(parseDump('(none)\t(none)\t0\toff\n'), { publicKey: '', listenPort: 0, peers: [] });
  t.throws(() => parseDump(''), /no interface line/);
  let message = '';
  try {
    parseDump(`${PRIV}\tnot-a-key\t1\toff\n`);
  } catch (err) {
    message = (err as Error).message;
  }
  t.match(message, /holds no public key/);
  t.notMatch(message, PRIV, 'the dump is not quoted back');
  t.throws(() => parseDump(`${PRIV}\t${PUB}\t1\toff\nshort\tline\n`), /peer line 1 has 2 fields/);
});
