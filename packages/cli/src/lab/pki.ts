/**
 * The lab's PKI: one CA per lab, made with Debian's `openssl` at `lab up`, and the
 * certificates a real site would issue from its own CA (docs/deploy.md "TLS"):
 *
 *   ca.crt, ca.key           the lab's CA (EC P-256, 10 years)
 *   etcd.crt/.key            the store's server certificate (etcd's, or Redis's with
 *                            --store redis), SAN = its underlay IP and 127.0.0.1
 *   controller.crt/.key      the controller's TCP API, SAN = its underlay IP
 *   <name>-client.crt/.key   client certificates: the controller's and each agent's
 *                            (etcd clients), and `admin` for the CLI and etcdctl
 *
 * openssl runs with argv arrays only: fixed arguments and file paths the lab derived
 * from its own directory. Nothing a user typed reaches openssl: the subject names are
 * fixed words and host names the lab made (h1, h2…), and subjectAltNames are the
 * lab's own addresses, written to an extension file the lab owns. Keys are 0600 in a
 * 0700 directory.
 *
 * Why EC P-256: key generation is ~1 ms (RSA 2048 ~100 ms, times a dozen certificates
 * on every `lab up`), and etcd (Go), Node and gRPC all accept it.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CommandFailed } from '../errors.js';

/** A certificate and its key, as PEM files. */
export interface CertFiles {
  cert: string;
  key: string;
}

export interface CaFiles extends CertFiles {
  /** Where the CA lives (its files are `ca.crt`, `ca.key`). */
  dir: string;
}

/** What a certificate may be used for: a server (with its addresses), a client, or both. */
export interface IssueOptions {
  /** Subject CN: a fixed word or a lab-made name ([a-z0-9-]). */
  commonName: string;
  /** serverAuth with these IP SANs; absent: a client certificate only. */
  serverIps?: string[];
  /** Validity in days from now (default 825, the longest browsers accept). */
  days?: number;
  /** Make it already expired (valid for one day, 30 days ago): for tests of refusal. */
  expired?: boolean;
}

const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
const IPV4 = /^[0-9]{1,3}(?:\.[0-9]{1,3}){3}$/;

/** Run `openssl ARGS...`; throws CommandFailed with openssl's own message. */
function openssl(args: string[]): void {
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new CommandFailed(`openssl ${args[0]}`, (e.stderr || e.message).trim().split('\n').slice(-2).join(' '));
  }
}

/** A new EC P-256 key at `path`, mode 0600. Equivalent to: openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out PATH */
function newKey(path: string): void {
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path]);
  chmodSync(path, 0o600);
}

/**
 * Make a CA in `dir` (created 0700): ca.key and a self-signed ca.crt. `commonName`
 * tells labs apart in messages (e.g. "vxnet lab CA"). Equivalent to:
 *   openssl req -x509 -new -key ca.key -out ca.crt -days 3650 -subj /CN=NAME -addext …
 */
export function makeCa(dir: string, commonName = 'vxnet lab CA'): CaFiles {
  if (!/^[A-Za-z0-9 -]{1,64}$/.test(commonName)) throw new CommandFailed('making a CA', `bad common name "${commonName}"`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const ca = { dir, cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key') };
  newKey(ca.key);
  openssl([
    'req', '-x509', '-new', '-key', ca.key, '-out', ca.cert, '-days', '3650', '-sha256', '-subj', `/CN=${commonName}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return ca;
}

/**
 * Issue `<dir>/<file>.crt` and `.key` from `ca`. A server certificate carries its IPs
 * as subjectAltNames (what clients check; the CN is ignored) and is also usable as a
 * client certificate; a client certificate is clientAuth only.
 *
 * Expired certificates: `openssl x509 -req` of openssl 3.0 always starts the validity
 * now, so those are signed with `openssl ca -startdate -enddate`, which needs its
 * database files: made in a scratch directory and removed after.
 */
export function issue(ca: CaFiles, dir: string, file: string, opts: IssueOptions): CertFiles {
  if (!NAME.test(file) || !NAME.test(opts.commonName)) throw new CommandFailed('issuing a certificate', `bad name "${file}"/"${opts.commonName}"`);
  for (const a of opts.serverIps ?? []) if (!IPV4.test(a)) throw new CommandFailed('issuing a certificate', `bad IP "${a}"`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const out = { cert: join(dir, `${file}.crt`), key: join(dir, `${file}.key`) };
  const csr = join(dir, `${file}.csr`);
  const ext = join(dir, `${file}.ext`);
  newKey(out.key);
  openssl(['req', '-new', '-key', out.key, '-out', csr, '-subj', `/CN=${opts.commonName}`]);
  const server = opts.serverIps !== undefined;
  writeFileSync(ext, [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    `extendedKeyUsage=${server ? 'serverAuth,clientAuth' : 'clientAuth'}`,
    ...(server ? [`subjectAltName=${(opts.serverIps ?? []).map((a) => `IP:${a}`).join(',')}`] : []),
    '',
  ].join('\n'));
  try {
    if (opts.expired) signExpired(ca, csr, ext, out.cert, dir, file);
    else {
      openssl([
        'x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', `0x${randomBytes(12).toString('hex')}`,
        '-days', String(opts.days ?? 825), '-sha256', '-extfile', ext, '-out', out.cert,
      ]);
    }
  } finally {
    rmSync(csr, { force: true });
    rmSync(ext, { force: true });
  }
  return out;
}

/** `openssl ca` with a validity 30 to 29 days in the past, in a scratch database under `dir`. */
function signExpired(ca: CaFiles, csr: string, ext: string, cert: string, dir: string, file: string): void {
  const db = join(dir, `.${file}.ca`);
  rmSync(db, { recursive: true, force: true });
  mkdirSync(db, { mode: 0o700 });
  const day = 86_400_000;
  const stamp = (ms: number) => `${new Date(ms).toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`; // YYYYMMDDHHMMSSZ
  writeFileSync(join(db, 'index.txt'), '');
  writeFileSync(join(db, 'serial'), `${randomBytes(12).toString('hex')}\n`);
  const cnf = join(db, 'ca.cnf');
  writeFileSync(cnf, [
    '[ca]', 'default_ca = lab',
    '[lab]', `database = ${join(db, 'index.txt')}`, `new_certs_dir = ${db}`, `serial = ${join(db, 'serial')}`,
    'default_md = sha256', 'policy = any', 'unique_subject = no',
    '[any]', 'commonName = supplied', '',
  ].join('\n'));
  try {
    openssl([
      'ca', '-batch', '-notext', '-config', cnf, '-cert', ca.cert, '-keyfile', ca.key, '-in', csr, '-out', cert,
      '-extfile', ext, '-startdate', stamp(Date.now() - 30 * day), '-enddate', stamp(Date.now() - 29 * day),
    ]);
  } finally {
    rmSync(db, { recursive: true, force: true });
  }
}

/** Where a lab's PKI lives and what it holds (recorded in lab.json). */
export interface LabPki {
  dir: string;
  ca: string;
  /** The store's server certificate (etcd's, or Redis's with --store redis), SAN = its underlay IP and 127.0.0.1. */
  etcd?: CertFiles;
  /** The controller's TCP API. */
  controller: CertFiles;
  /** Client certificates by name: `controller`, each host (`h1`…), and `admin` (the CLI, etcdctl). */
  clients: Record<string, CertFiles>;
}

/**
 * Make a lab's CA and every certificate its daemons and the CLI use. `hosts` are the
 * lab's host names (h1…), `etcdIp` etcd's underlay address (undefined: no etcd).
 */
export function makeLabPki(dir: string, plan: { etcdIps?: string[]; controllerIps: string[]; hosts: string[] }): LabPki {
  // `etcdIps`: the store's addresses (every etcd member's, or Redis's), whichever store runs there
  const ca = makeCa(dir);
  const clients: Record<string, CertFiles> = {};
  for (const name of ['admin', 'controller', ...plan.hosts]) clients[name] = issue(ca, dir, `${name}-client`, { commonName: name });
  return {
    dir,
    ca: ca.cert,
    ...(plan.etcdIps !== undefined ? { etcd: issue(ca, dir, 'etcd', { commonName: 'etcd', serverIps: [...plan.etcdIps, '127.0.0.1'] }) } : {}),
    controller: issue(ca, dir, 'controller', { commonName: 'controller', serverIps: plan.controllerIps }),
    clients,
  };
}
