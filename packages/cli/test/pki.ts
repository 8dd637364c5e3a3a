/**
 * The lab's PKI with the real openssl: what each certificate says (SANs, key usage,
 * dates), key modes, an expired certificate that verifies as expired, and names that
 * could smuggle text into openssl's arguments refused.
 */
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { certificateProblem, issuedBy } from '@vxnet/common';
import { issue, makeCa, makeLabPki } from '../src/lab/pki.js';

const dir = mkdtempSync(join(tmpdir(), 'vxnet-pki-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.test('a lab PKI: one CA, server certificates naming their addresses, client certificates, keys 0600', async (t) => {
  const pki = makeLabPki(join(dir, 'lab'), { etcdIps: ['192.0.2.254'], controllerIps: ['192.0.2.253'], hosts: ['h1', 'h2'] });
  t.equal(statSync(pki.dir).mode & 0o777, 0o700, 'its directory is 0700');
  t.same(Object.keys(pki.clients).sort(), ['admin', 'controller', 'h1', 'h2']);
  const ca = readFileSync(pki.ca, 'utf8');
  const etcd = new X509Certificate(readFileSync(pki.etcd?.cert ?? '', 'utf8'));
  t.equal(etcd.subjectAltName, 'IP Address:192.0.2.254, IP Address:127.0.0.1', 'etcd: its underlay IP and loopback');
  t.ok(etcd.checkIP('192.0.2.254'), 'etcd: valid for its address');
  t.equal(new X509Certificate(readFileSync(pki.controller.cert, 'utf8')).subjectAltName, 'IP Address:192.0.2.253');
  for (const c of [pki.etcd, pki.controller, ...Object.values(pki.clients)]) {
    t.ok(issuedBy(readFileSync(c?.cert ?? '', 'utf8'), ca), `${c?.cert} is signed by the lab's CA`);
    t.equal(statSync(c?.key ?? '').mode & 0o777, 0o600, `${c?.key} is 0600`);
  }
  t.equal(new X509Certificate(readFileSync(pki.clients.h1?.cert ?? '', 'utf8')).subjectAltName, undefined, 'a client certificate names no address');
  t.equal(certificateProblem('h1', readFileSync(pki.clients.h1?.cert ?? '', 'utf8')), undefined, 'and is valid now');
});

t.test('an expired certificate, and another CA', async (t) => {
  const ca = makeCa(join(dir, 'ca2'), 'other CA');
  const old = issue(ca, join(dir, 'ca2'), 'old', { commonName: 'old', expired: true });
  const cert = new X509Certificate(readFileSync(old.cert, 'utf8'));
  t.ok(new Date(cert.validTo) < new Date(), `valid until ${cert.validTo}: in the past`);
  t.match(certificateProblem('old', readFileSync(old.cert, 'utf8')), /^old has expired/);
  t.notOk(issuedBy(readFileSync(old.cert, 'utf8'), readFileSync(join(dir, 'lab', 'ca.crt'), 'utf8')), 'not signed by the first lab\'s CA');
});

t.test('names that are not the lab\'s own are refused before openssl runs', async (t) => {
  const ca = { dir: join(dir, 'lab'), cert: join(dir, 'lab', 'ca.crt'), key: join(dir, 'lab', 'ca.key') };
  t.throws(() => issue(ca, dir, 'x', { commonName: 'a/CN=evil' }), /bad name/);
  t.throws(() => issue(ca, dir, '../x', { commonName: 'x' }), /bad name/);
  t.throws(() => issue(ca, dir, 'x', { commonName: 'x', serverIps: ['1.2.3.4,DNS:evil'] }), /bad IP/);
  t.throws(() => makeCa(join(dir, 'ca3'), 'CA/O=evil'), /bad common name/);
});
