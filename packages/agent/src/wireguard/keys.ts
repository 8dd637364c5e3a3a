/**
 * The host's WireGuard key pair (X25519), made once with node:crypto and kept in the
 * agent's state directory, 0600 (flannel keeps its `wgkey` the same way).
 *
 * The private key is held in a PrivateKey object whose JSON and util.inspect forms
 * are "[redacted]": a pino object or an error that happens to hold it prints nothing
 * secret. Its text leaves the object only through `reveal()`, and only two callers use
 * that: the config renderer (a 0600 file read by `wg syncconf`) and the key file.
 *
 * Key format: WireGuard's, standard base64 of the 32 raw bytes (44 characters).
 * node:crypto speaks JWK (base64url) and DER; the conversion is verified against
 * `wg genkey`/`wg pubkey` (notes/ops-features.md §2 (e)): 20/20 keys both ways.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { inspect } from 'node:util';

import { WireGuardKeyUnreadable } from '../errors.js';

/** PKCS#8 DER prefix of an X25519 private key; the 32 raw bytes follow. */
const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const KEY_RE = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

/** Whether `text` is a WireGuard key: base64 of exactly 32 bytes. */
export function isWireGuardKey(text: string): boolean {
  return KEY_RE.test(text);
}

export class PrivateKey {
  readonly #base64: string;

  /** `base64`: a WireGuard private key (isWireGuardKey); throws TypeError otherwise, without echoing it. */
  constructor(base64: string) {
    if (!isWireGuardKey(base64)) throw new TypeError('not a WireGuard private key (base64 of 32 bytes)');
    this.#base64 = base64;
  }

  /** A fresh key from node:crypto's X25519. */
  static generate(): PrivateKey {
    const { privateKey } = generateKeyPairSync('x25519');
    const d = privateKey.export({ format: 'jwk' }).d;
    if (d === undefined) throw new Error('node:crypto exported an X25519 key without d');
    return new PrivateKey(Buffer.from(d, 'base64url').toString('base64'));
  }

  /** The matching public key, WireGuard base64 (what `wg pubkey` prints). */
  publicKey(): string {
    const der = Buffer.concat([PKCS8_X25519_PREFIX, Buffer.from(this.#base64, 'base64')]);
    const jwk = createPublicKey(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })).export({ format: 'jwk' });
    if (jwk.x === undefined) throw new Error('node:crypto exported an X25519 public key without x');
    return Buffer.from(jwk.x, 'base64url').toString('base64');
  }

  /** The key's text. Only for the WireGuard config file and the key file: never log it. */
  reveal(): string {
    return this.#base64;
  }

  toJSON(): string {
    return '[redacted]';
  }

  toString(): string {
    return '[redacted]';
  }

  [inspect.custom](): string {
    return 'PrivateKey [redacted]';
  }
}

/**
 * Write `text` to `path` with mode 0600 (temp file + fsync + rename: a crash leaves
 * the old file or the new one, never half of one, and never a readable copy).
 */
export function writeSecretFile(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/**
 * The key in `file`, or a new one written there (0600) when the file does not exist.
 * A file that exists but cannot be read or holds no key stops the agent
 * (VXNET_WIREGUARD_KEY_UNREADABLE): a new key would silently change the host's
 * identity, so a person decides (restore it, or delete it to make a new one).
 */
export function loadOrCreateKey(file: string): { key: PrivateKey; created: boolean } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new WireGuardKeyUnreadable(file, (err as NodeJS.ErrnoException).code ?? 'read failed');
    const key = PrivateKey.generate();
    writeSecretFile(file, `${key.reveal()}\n`);
    return { key, created: true };
  }
  const trimmed = text.trim();
  if (!isWireGuardKey(trimmed)) throw new WireGuardKeyUnreadable(file, 'it holds no WireGuard key');
  return { key: new PrivateKey(trimmed), created: false };
}
