/**
 * The registry client against a small distribution API served here on loopback (plain
 * HTTP, which loopback registries may use): the token dance, Basic challenges, an index,
 * redirects to a blob host (without the registry's Authorization), and every way a
 * download can be wrong. The real registry (docker-registry 2.8, HTTPS) is test/pull.ts.
 */
import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@vxnet/common';
import { RegistryClient, RegistryError } from '../src/image/registry/registry-client.js';
import { parsePullReference, type PullReference } from '../src/image/registry/reference.js';

const log = createLogger({ name: 'test', level: 'silent' });
const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
const layer = Buffer.alloc(100_000, 7);
const manifest = Buffer.from(JSON.stringify({
  schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
  layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(layer), size: layer.length }],
}));
const index = Buffer.from(JSON.stringify({
  schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json',
  manifests: [
    { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256('other'), size: 5, platform: { os: 'linux', architecture: 'arm64' } },
    { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(manifest), size: manifest.length, platform: { os: 'linux', architecture: 'amd64' } },
  ],
}));

interface Behaviour {
  auth: 'bearer' | 'basic' | 'none';
  /** Bytes to send in place of the layer. */
  layerBody?: Buffer;
  /** Send the layer from the blob server through a redirect. */
  redirect?: boolean;
}

/** A registry and a separate "blob host" (a CDN) on loopback; records the requests. */
async function fakeRegistry(t: Test, b: Behaviour) {
  const seen: Array<{ host: string; url: string; authorization?: string }> = [];
  const blobHost = http.createServer((req, res) => {
    seen.push({ host: 'cdn', url: req.url ?? '', ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
    res.end(b.layerBody ?? layer);
  });
  await new Promise<void>((r) => blobHost.listen(0, '127.0.0.1', r));
  const srv = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const authz = req.headers.authorization;
    seen.push({ host: 'registry', url: req.url ?? '', ...(authz ? { authorization: authz } : {}) });
    const port = (srv.address() as AddressInfo).port;
    if (url.pathname === '/token') {
      if (authz !== `Basic ${Buffer.from('u:p').toString('base64')}`) return void res.writeHead(401).end();
      return void res.end(JSON.stringify({ token: `tok-${url.searchParams.get('scope')}` }));
    }
    const ok = b.auth === 'none' || (b.auth === 'bearer' && authz === 'Bearer tok-repository:vx/demo:pull') || (b.auth === 'basic' && authz === `Basic ${Buffer.from('u:p').toString('base64')}`);
    if (!ok) {
      const challenge = b.auth === 'basic' ? 'Basic realm="r"' : `Bearer realm="http://127.0.0.1:${port}/token",service="fake",scope="repository:vx/demo:pull"`;
      return void res.writeHead(401, { 'www-authenticate': challenge, 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
    }
    const send = (body: Buffer, type: string) => res.writeHead(200, { 'content-type': type, 'docker-content-digest': sha256(body) }).end(body);
    if (url.pathname === '/v2/vx/demo/manifests/1.0') return send(manifest, 'application/vnd.oci.image.manifest.v1+json');
    if (url.pathname === '/v2/vx/demo/manifests/multi') return send(index, 'application/vnd.oci.image.index.v1+json');
    if (url.pathname === `/v2/vx/demo/manifests/${sha256(manifest)}`) return send(manifest, 'application/vnd.oci.image.manifest.v1+json');
    if (url.pathname === `/v2/vx/demo/blobs/${sha256(config)}`) return void res.end(config);
    if (url.pathname === `/v2/vx/demo/blobs/${sha256(layer)}`) {
      if (b.redirect) return void res.writeHead(307, { location: `http://localhost:${(blobHost.address() as AddressInfo).port}/layer` }).end();
      return void res.end(b.layerBody ?? layer);
    }
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    srv.close();
    blobHost.close();
    srv.closeAllConnections();
    blobHost.closeAllConnections();
  });
  const dir = mkdtempSync(join(tmpdir(), 'vxnet-registry-client-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const registry = `127.0.0.1:${(srv.address() as AddressInfo).port}`;
  const ref = (tag: string) => parsePullReference(`${registry}/vx/demo:${tag}`) as PullReference;
  return { seen, dir, registry, ref };
}

t.test('bearer token auth: 401 -> token with basic credentials -> retry; an index -> its linux/amd64 manifest; an OCI layout written', async (t) => {
  const f = await fakeRegistry(t, { auth: 'bearer' });
  const c = new RegistryClient(f.registry, { insecure: true, auth: { username: 'u', password: 'p' }, log });
  const got = await c.pullToLayout(f.ref('multi'), f.dir);
  t.same(got, { digest: sha256(manifest), layers: 1, bytes: config.length + layer.length });
  const idx = JSON.parse(readFileSync(join(f.dir, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string; annotations: Record<string, string> }> };
  t.equal(idx.manifests[0]?.digest, sha256(manifest));
  t.equal(idx.manifests[0]?.annotations['org.opencontainers.image.ref.name'], `${f.registry}/vx/demo:multi`);
  t.same(readdirSync(join(f.dir, 'blobs/sha256')).sort(), [config, layer, manifest].map((b) => sha256(b).slice(7)).sort());
  t.equal(f.seen.filter((r) => r.url.startsWith('/token')).length, 1, 'one token for the whole pull');
});

t.test('a Basic challenge gets the credentials; without credentials the pull is refused naming the registry', async (t) => {
  const f = await fakeRegistry(t, { auth: 'basic' });
  await new RegistryClient(f.registry, { insecure: true, auth: { username: 'u', password: 'p' }, log }).pullToLayout(f.ref('1.0'), f.dir);
  await t.rejects(new RegistryClient(f.registry, { insecure: true, log }).pullToLayout(f.ref('1.0'), f.dir),
    { message: `registry ${f.registry} needs credentials (401); give them with --username and --password-stdin` });
});

t.test('a wrong password: the token server\'s 401, the user named, the password not', async (t) => {
  const f = await fakeRegistry(t, { auth: 'bearer' });
  const err = await new RegistryClient(f.registry, { insecure: true, auth: { username: 'u', password: 'nope' }, log }).pullToLayout(f.ref('1.0'), f.dir).catch((e: unknown) => e);
  t.type(err, RegistryError);
  t.equal((err as Error).message, `the token server of registry ${f.registry} (http://127.0.0.1:${f.registry.split(':')[1]}) refused the credentials of user "u" (401)`);
});

t.test('redirects are followed; the registry\'s Authorization does not go to another host', async (t) => {
  const f = await fakeRegistry(t, { auth: 'bearer', redirect: true });
  await new RegistryClient(f.registry, { insecure: true, auth: { username: 'u', password: 'p' }, log }).pullToLayout(f.ref('1.0'), f.dir);
  const cdn = f.seen.filter((r) => r.host === 'cdn');
  t.equal(cdn.length, 1);
  t.equal(cdn[0]?.authorization, undefined);
});

t.test('blobs that are not what the manifest says are refused', async (t) => {
  const wrong = Buffer.alloc(layer.length, 8);
  const f1 = await fakeRegistry(t, { auth: 'none', layerBody: wrong });
  await t.rejects(new RegistryClient(f1.registry, { insecure: true, log }).pullToLayout(f1.ref('1.0'), f1.dir),
    { message: `blob ${sha256(layer)} from ${f1.registry} has digest ${sha256(wrong)}` });
  const f2 = await fakeRegistry(t, { auth: 'none', layerBody: layer.subarray(0, 10) });
  await t.rejects(new RegistryClient(f2.registry, { insecure: true, log }).pullToLayout(f2.ref('1.0'), f2.dir),
    { message: `the download of blob ${sha256(layer)} from ${f2.registry} ended after 10 of ${layer.length} bytes` });
  const f3 = await fakeRegistry(t, { auth: 'none', layerBody: Buffer.concat([layer, Buffer.from('x')]) });
  await t.rejects(new RegistryClient(f3.registry, { insecure: true, log }).pullToLayout(f3.ref('1.0'), f3.dir),
    { message: `blob ${sha256(layer)} is larger than the ${layer.length} bytes its manifest says` });
});

t.test('a missing tag is a 404 naming it; HTTPS is the default', async (t) => {
  const f = await fakeRegistry(t, { auth: 'none' });
  await t.rejects(new RegistryClient(f.registry, { insecure: true, log }).pullToLayout(f.ref('2.0'), f.dir),
    { message: `registry ${f.registry} has no vx/demo:2.0 (404)` });
  await t.rejects(new RegistryClient(f.registry, { insecure: false, log }).pullToLayout(f.ref('1.0'), f.dir),
    { message: new RegExp(`^could not reach registry ${f.registry} at https://${f.registry} `) }, 'a plain HTTP server fails the TLS handshake');
});
