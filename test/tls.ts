/**
 * TLS on every control connection (issue 13), in a lab as `lab up` makes it by default:
 * etcd serves clients over TLS only and wants a client certificate of the lab's CA;
 * the controller's TCP API is HTTPS with client certificates and the token.
 *
 * Checked: the mission works over it; plain text to etcd and to the controller's port
 * is refused; a client certificate from another CA, no client certificate, and an
 * expired one are refused by etcd (in the handshake) and by the controller (403 before
 * any route: see controller/src/app.ts for why), and our clients (the CLI, a daemon's
 * start) say which of the three it was. The servers' own refusals are also seen with
 * etcdctl and bare Node clients, past our clients' own checks (an expired certificate
 * is refused by the CLI and the daemons before they connect).
 *
 * Traffic: only inside the lab's namespaces (commands run in h1's or the controller
 * machine's network namespace, by the keeper's pid).
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeTlsError } from '@vxnet/common';
import { issue, makeCa } from '@vxnet/cli';
import { isRoot, setupFailure, tempHome, uniqueLabName, vxnet, VXNET_BIN } from './helpers/cli.js';
import { labHost, readLab, type ProcessJson } from './helpers/lab.js';

const CONTROLLER_BIN = fileURLToPath(new URL('../../packages/controller/bin/vxnet-controller.js', import.meta.url));

/** Run `args` in the network namespace of a lab machine (by its keeper), with `env` added; never hangs past `timeoutMs`. */
function inMachine(m: { keeper: ProcessJson }, args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 30_000): { code: number; out: string } {
  const r = spawnSync('nsenter', [`--net=/proc/${m.keeper.pid}/ns/net`, '--', ...args], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: timeoutMs });
  return { code: r.status ?? -1, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/** A bare Node HTTPS (or HTTP) GET: prints the status, or ERR and the error's code and message. */
const GET = [
  'const [url, ca, cert, key] = process.argv.slice(1); const fs = require("node:fs");',
  'const mod = require(url.startsWith("https:") ? "node:https" : "node:http");',
  'const tls = url.startsWith("https:") ? { ca: fs.readFileSync(ca), ...(cert ? { cert: fs.readFileSync(cert), key: fs.readFileSync(key) } : {}) } : {};',
  'mod.get(url, { ...tls, timeout: 5000 }, (r) => { let b = ""; r.on("data", (c) => (b += c)); r.on("end", () => { console.log(r.statusCode, b.slice(0, 200)); }); })',
  '.on("timeout", function () { this.destroy(new Error("timeout")); })',
  '.on("error", (e) => { console.log("ERR", e.code, e.message); });',
].join('\n');

/**
 * A bare TLS handshake that sends no data, then reads for a second: prints OK, or ERR
 * and the error (the server's alert). Sending a request first would race the alert
 * against a reset (the server closes with our request unread).
 */
const HANDSHAKE = [
  'const [host, port, ca, cert, key] = process.argv.slice(1); const fs = require("node:fs");',
  'const s = require("node:tls").connect({ host, port: Number(port), ca: fs.readFileSync(ca), ...(cert ? { cert: fs.readFileSync(cert), key: fs.readFileSync(key) } : {}) });',
  's.on("secureConnect", () => { s.resume(); setTimeout(() => { console.log("OK"); process.exit(0); }, 1000); });',
  's.on("error", (e) => { console.log("ERR", e.code, e.message); process.exit(0); });',
].join('\n');

if (!isRoot) {
  t.plan(0, 'skip: the lab needs root (namespaces)');
} else {
  t.test('TLS by default: the lab works over it; plain text, other CAs, no and expired certificates are refused, with a message that says which', async (t) => {
    const { home, cleanup } = tempHome('tls');
    const env = { VXNET_HOME: home };
    const lab = uniqueLabName('tls');
    const scratch = mkdtempSync(join(tmpdir(), 'vxnet-tls-'));
    const up = await vxnet(['lab', 'up', '--name', lab, '--hosts', '2', '--underlay', '192.0.2.0/24'], env, 180_000);
    if (up.code !== 0) await setupFailure(lab, env, () => { cleanup(); rmSync(scratch, { recursive: true, force: true }); })(new Error(`lab up failed: ${up.stderr}`));
    t.teardown(async () => {
      await vxnet(['lab', 'down', '--name', lab], env);
      rmSync(scratch, { recursive: true, force: true });
      cleanup();
    });
    const ok = async (args: string[]) => {
      const r = await vxnet(args, env);
      if (r.code !== 0) throw new Error(`vxnet ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
      return r.stdout;
    };

    const status = JSON.parse(await ok(['lab', 'status', '--json']));
    t.equal(status.store.url, 'etcds://192.0.2.254:2379', 'the daemons are given an etcds:// store');
    t.equal(status.controller.tcpUrl, 'https://192.0.2.253:7070', 'the controller\'s TCP API is HTTPS');
    const pkiDir = join(home, 'labs', lab, 'pki');
    t.equal(statSync(pkiDir).mode & 0o777, 0o700, 'the PKI directory is 0700');
    const keys = readdirSync(pkiDir).filter((f) => f.endsWith('.key'));
    t.ok(keys.includes('ca.key') && keys.includes('h1-client.key') && keys.includes('etcd.key'), `keys made: ${keys.join(', ')}`);
    for (const k of keys) t.equal(statSync(join(pkiDir, k)).mode & 0o777, 0o600, `${k} is 0600`);
    const { ca, cert: adminCert, key: adminKey } = status.tls as { ca: string; cert: string; key: string };

    // the mission, over TLS everywhere
    await ok(['net', 'create', '-d', 'overlay', 'tnet']);
    await ok(['-H', 'h1', 'run', '-d', '--name', 'web', '--net', 'tnet', 'busybox']);
    await ok(['-H', 'h2', 'run', '-d', '--name', 'app', '--net', 'tnet', 'busybox']);
    const ping = await vxnet(['-H', 'h2', 'exec', 'app', 'ping', '-c1', '-W2', 'web'], env);
    t.equal(ping.code, 0, `app on h2 pings web on h1 by name: ${ping.stderr}`);

    const state = readLab(home, lab);
    const h1 = labHost(state, 'h1');
    const ctl = state.controller;
    const etcd = 'https://192.0.2.254:2379';
    const tcp = 'https://192.0.2.253:7070';
    const cli = (args: string[], e: NodeJS.ProcessEnv = env) => inMachine(h1, [process.execPath, VXNET_BIN, ...args], e);
    const etcdctl = (args: string[]) => inMachine(h1, ['etcdctl', '--endpoints', etcd, '--command-timeout=3s', ...args, 'endpoint', 'health'], { ETCDCTL_API: '3' });
    const get = (url: string, files: string[] = []) => inMachine(h1, [process.execPath, '-e', GET, url, ...files]).out.trim();
    const handshake = (hostPort: string, files: string[]) => inMachine(h1, [process.execPath, '-e', HANDSHAKE, ...hostPort.split(':'), ...files]).out.trim();
    /** A second controller in the controller's machine, on a socket of its own, with these store flags: it should not start. */
    const controllerStart = (storeFlags: string[]) => inMachine(ctl, [
      process.execPath, CONTROLLER_BIN, '--store', 'etcds://192.0.2.254:2379', ...storeFlags, '--socket', join(scratch, 'c.sock'), '--log-level', 'silent',
    ], {}, 20_000);

    // over TCP from a host, with the lab's CA, admin certificate and token (the CLI's lab defaults)
    const remote = cli(['--controller', tcp, 'net', 'ls']);
    t.equal(remote.code, 0, `the CLI on h1 reaches the controller over HTTPS with the lab's defaults: ${remote.out}`);
    t.match(remote.out, /tnet/);
    t.equal(etcdctl(['--cacert', ca, '--cert', adminCert, '--key', adminKey]).code, 0, 'etcdctl with the lab\'s admin certificate: healthy');

    // plain text
    const plainEtcd = etcdctl(['--endpoints', 'http://192.0.2.254:2379']);
    t.not(plainEtcd.code, 0, 'etcdctl in plain text to etcd\'s client port: refused');
    t.match(get('http://192.0.2.254:2379/health'), /^ERR /, 'plain HTTP to etcd: no answer, the connection is closed');
    t.match(get('http://192.0.2.253:7070/v1/health'), /^ERR /, 'plain HTTP to the controller\'s port: no answer, the connection is closed');
    const plainCli = cli(['--controller', 'http://192.0.2.253:7070', 'net', 'ls']);
    t.equal(plainCli.code, 1, 'the CLI in plain text to the controller: refused');
    t.match(plainCli.out, /could not reach the controller at http:\/\/192\.0\.2\.253:7070/);

    // a certificate from another CA
    const other = makeCa(join(scratch, 'other'), 'other CA');
    const intruder = issue(other, join(scratch, 'other'), 'intruder', { commonName: 'intruder' });
    const alien = cli(['--controller', tcp, '--cert-file', intruder.cert, '--key-file', intruder.key, 'net', 'ls']);
    t.equal(alien.code, 1, 'controller: a client certificate of another CA is refused');
    t.match(alien.out, /the controller refused the client certificate: it is not signed by a CA this controller trusts \(unknown CA/, alien.out.trim());
    const wrongCa = cli(['--controller', tcp, '--ca-file', other.cert, 'net', 'ls']);
    t.equal(wrongCa.code, 1, 'the CLI trusting another CA refuses the controller');
    t.match(wrongCa.out, /TLS: the server's certificate is not signed by a CA we trust \(unknown CA/, wrongCa.out.trim());
    t.not(etcdctl(['--cacert', ca, '--cert', intruder.cert, '--key', intruder.key]).code, 0, 'etcd refuses a client certificate of another CA');
    t.match(handshake('192.0.2.254:2379', [ca, intruder.cert, intruder.key]), /^ERR .*alert (bad certificate|unknown ca)/, 'etcd\'s alert (Go before 1.21 says "bad certificate")');
    const alienStart = controllerStart(['--store-ca', ca, '--store-cert', intruder.cert, '--store-key', intruder.key]);
    t.equal(alienStart.code, 1, 'a daemon with a client certificate of another CA does not start');
    t.match(alienStart.out, /could not connect to the store at https:\/\/192\.0\.2\.254:2379 over TLS: the server does not trust our client certificate \(unknown CA/, alienStart.out.trim());

    // no client certificate
    const { home: bare, cleanup: cleanBare } = tempHome('tls-bare'); // no lab here: nothing supplies a certificate
    t.teardown(cleanBare);
    const noCert = cli(['--controller', tcp, '--ca-file', ca, '--token-file', state.controller.tokenFile, 'net', 'ls'], { VXNET_HOME: bare });
    t.equal(noCert.code, 1, 'controller: no client certificate, refused');
    t.match(noCert.out, /the controller refused the client certificate: none was sent/, noCert.out.trim());
    t.not(etcdctl(['--cacert', ca]).code, 0, 'etcd refuses a client without a certificate');
    const noCertStart = controllerStart(['--store-ca', ca]);
    t.equal(noCertStart.code, 1, 'a daemon without a client certificate does not start');
    t.match(noCertStart.out, /over TLS: the server requires a client certificate and none was sent/, noCertStart.out.trim());

    // an expired certificate, from the lab's own CA
    const labCa = { dir: pkiDir, cert: ca, key: join(pkiDir, 'ca.key') };
    const old = issue(labCa, scratch, 'old', { commonName: 'old', expired: true });
    const expiredCli = cli(['--controller', tcp, '--cert-file', old.cert, '--key-file', old.key, 'net', 'ls']);
    t.equal(expiredCli.code, 1, 'the CLI with an expired certificate: refused');
    t.match(expiredCli.out, /client certificate .*old\.crt \(--cert-file\) has expired/, expiredCli.out.trim());
    // past the CLI's own check: the controller refuses it too, and says why
    const expiredAtController = get(`${tcp}/v1/health`, [ca, old.cert, old.key]);
    t.match(expiredAtController, /^403 .*the controller refused the client certificate: it has expired/, `the controller itself refuses it: ${expiredAtController}`);
    t.not(etcdctl(['--cacert', ca, '--cert', old.cert, '--key', old.key]).code, 0, 'etcd refuses an expired client certificate');
    const expiredAlert = handshake('192.0.2.254:2379', [ca, old.cert, old.key]);
    t.match(expiredAlert, /^ERR .*alert (bad certificate|certificate expired)/, 'etcd\'s alert');
    t.match(describeTlsError(new Error(expiredAlert)) ?? '', /refused our client certificate/, 'which reads "refused our client certificate"');
    t.match(handshake('192.0.2.254:2379', [ca]), /^ERR .*alert (bad certificate|certificate required)/, 'etcd\'s alert for no certificate');
    t.equal(handshake('192.0.2.254:2379', [ca, adminCert, adminKey]), 'OK', 'and the handshake with the admin certificate passes (etcd)');
    t.equal(handshake('192.0.2.253:7070', [ca, adminCert, adminKey]), 'OK', 'and the handshake with the admin certificate passes (controller)');
    const expiredStart = controllerStart(['--store-ca', ca, '--store-cert', old.cert, '--store-key', old.key]);
    t.equal(expiredStart.code, 1, 'a daemon with an expired client certificate does not start');
    t.match(expiredStart.out, /storeCert .*old\.crt has expired/, expiredStart.out.trim());
  });
}
