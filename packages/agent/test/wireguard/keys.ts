/**
 * The host's WireGuard key: node:crypto X25519 in WireGuard's base64 (checked on
 * RFC 7748's test vector), the 0600 key file made once and kept, refusal of a file
 * that holds no key, and a private key that no JSON, string or inspect form shows.
 */
import t from 'tap';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { PrivateKey, isWireGuardKey, loadOrCreateKey } from '../../src/wireguard/keys.js';

// RFC 7748 §6.1, Alice: private 77076d0a…2c2a, public 8520f009…4e6a, in base64
const ALICE = 'dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=';
const ALICE_PUBLIC = 'hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=';

function tmp(t: { teardown: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'vxnet-wgkey-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('public key of a known private key (RFC 7748 test vector)', async (t) => {
  t.equal(new PrivateKey(ALICE).publicKey(), ALICE_PUBLIC);
});

t.test('generated keys are WireGuard keys and differ', async (t) => {
  const a = PrivateKey.generate();
  const b = PrivateKey.generate();
  t.ok(isWireGuardKey(a.reveal()));
  t.ok(isWireGuardKey(a.publicKey()));
  t.not(a.reveal(), b.reveal());
  t.not(a.publicKey(), a.reveal());
});

t.test('the private key never shows in JSON, strings, inspect or errors', async (t) => {
  const key = new PrivateKey(ALICE);
  const shown = [JSON.stringify({ key }), String(key), `${key}`, inspect(key), inspect({ deep: { key } }, { depth: 5 })];
  for (const s of shown) t.notMatch(s, ALICE, s);
  const bad = `${ALICE.slice(0, 40)}!!!=`;
  const err = (() => {
    try {
      new PrivateKey(bad);
    } catch (e) {
      return e as Error;
    }
    return undefined;
  })();
  t.type(err, TypeError, 'a bad key is refused');
  t.notMatch(err?.message ?? '', ALICE.slice(0, 40), 'and not echoed');
});

t.test('key file: made once, 0600, kept across loads', async (t) => {
  const file = join(tmp(t), 'wireguard.key');
  const first = loadOrCreateKey(file);
  t.equal(first.created, true);
  t.equal(statSync(file).mode & 0o777, 0o600);
  t.equal(readFileSync(file, 'utf8').trim(), first.key.reveal());
  const again = loadOrCreateKey(file);
  t.equal(again.created, false);
  t.equal(again.key.publicKey(), first.key.publicKey(), 'same public key after a restart');
});

t.test('a key file without a key stops the agent instead of making a new identity', async (t) => {
  const file = join(tmp(t), 'wireguard.key');
  writeFileSync(file, 'garbage\n', { mode: 0o600 });
  t.throws(() => loadOrCreateKey(file), { code: 'VXNET_WIREGUARD_KEY_UNREADABLE', message: /holds no WireGuard key.*delete it to make a new key/ });
  t.equal(readFileSync(file, 'utf8'), 'garbage\n', 'left as it was');
  if (process.getuid?.() !== 0) {
    writeFileSync(file, `${ALICE}\n`);
    chmodSync(file, 0);
    t.throws(() => loadOrCreateKey(file), { code: 'VXNET_WIREGUARD_KEY_UNREADABLE', message: /EACCES/ });
  }
});
