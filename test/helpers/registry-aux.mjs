/**
 * The test registry's companions, run inside a lab namespace by test/pull.ts (nsenter
 * --net=…, argv: MODE CONFIG-JSON-FILE):
 *
 *   serve  an HTTPS token server (distribution's token spec: GET /token?service=&scope=
 *          with HTTP basic auth -> {token}, an ES256 JWT whose header carries the signing
 *          certificate in x5c, which the registry checks against its rootcertbundle), and
 *          a TCP proxy to the registry that cuts each connection after `cutAfter` bytes
 *          towards the client (an interrupted pull). Prints "ready" when both listen.
 *   push   uploads an OCI image layout directory (monolithic blob uploads, then the
 *          manifests by tag) with a push token it signs itself; prints "pushed".
 */
import { createHash, createPrivateKey, randomBytes, sign, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { join } from 'node:path';

const [mode, configFile] = process.argv.slice(2);
const cfg = JSON.parse(readFileSync(configFile, 'utf8'));
const certPem = readFileSync(cfg.cert, 'utf8');
const keyPem = readFileSync(cfg.key, 'utf8');
const b64url = (b) => Buffer.from(b).toString('base64url');

function jwt(sub, access) {
  const x5c = [new X509Certificate(certPem).raw.toString('base64')];
  const now = Math.floor(Date.now() / 1000);
  const head = b64url(JSON.stringify({ typ: 'JWT', alg: 'ES256', x5c }));
  const claims = b64url(JSON.stringify({ iss: cfg.issuer, sub, aud: cfg.service, exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access }));
  const sig = sign('sha256', Buffer.from(`${head}.${claims}`), { key: createPrivateKey(keyPem), dsaEncoding: 'ieee-p1363' });
  return `${head}.${claims}.${b64url(sig)}`;
}

if (mode === 'serve') {
  const tokens = https.createServer({ cert: certPem, key: keyPem }, (req, res) => {
    const url = new URL(req.url, 'https://x');
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const [user, ...rest] = basic ? Buffer.from(basic, 'base64').toString().split(':') : [];
    if (url.pathname !== '/token' || user === undefined || cfg.users[user] !== rest.join(':')) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"bad credentials"}');
      return;
    }
    // grant pull on the repository the scope names
    const scope = /^repository:([^:]+):/.exec(url.searchParams.get('scope') ?? '');
    const access = scope ? [{ type: 'repository', name: scope[1], actions: ['pull'] }] : [];
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: jwt(user, access), expires_in: 300 }));
  });
  const proxy = net.createServer((client) => {
    const upstream = net.connect(cfg.registryPort, cfg.ip);
    let sent = 0;
    upstream.on('data', (d) => {
      sent += d.length;
      if (sent > cfg.cutAfter) {
        client.destroy();
        upstream.destroy();
        return;
      }
      client.write(d);
    });
    client.on('data', (d) => upstream.write(d));
    for (const s of [client, upstream]) s.on('error', () => { client.destroy(); upstream.destroy(); });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  let listening = 0;
  const up = () => { if (++listening === 2) console.log('ready'); };
  tokens.listen(cfg.tokenPort, cfg.ip, up);
  proxy.listen(cfg.proxyPort, cfg.ip, up);
  process.on('SIGTERM', () => process.exit(0));
} else if (mode === 'push') {
  const token = jwt('pusher', [{ type: 'repository', name: cfg.repo, actions: ['pull', 'push'] }]);
  const call = (method, path, body, headers = {}) => new Promise((resolve, reject) => {
    const req = https.request(new URL(path, `https://${cfg.ip}:${cfg.registryPort}`), {
      method, ca: certPem, headers: { authorization: `Bearer ${token}`, ...headers, ...(body ? { 'content-length': body.length } : {}) },
    }, (res) => {
      const parts = [];
      res.on('data', (d) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(parts).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
  const blobs = join(cfg.layout, 'blobs', 'sha256');
  const digest = (b) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
  // the registry may still be starting
  for (let i = 0; ; i++) {
    try {
      await call('GET', '/v2/');
      break;
    } catch (err) {
      if (i > 100) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  for (const b of cfg.blobs) {
    const bytes = readFileSync(join(blobs, b.slice(7)));
    const start = await call('POST', `/v2/${cfg.repo}/blobs/uploads/`);
    if (start.status !== 202) throw new Error(`upload start: ${start.status} ${start.body}`);
    const loc = new URL(start.headers.location, `https://${cfg.ip}:${cfg.registryPort}`);
    loc.searchParams.set('digest', digest(bytes));
    const put = await call('PUT', loc.pathname + loc.search, bytes, { 'content-type': 'application/octet-stream' });
    if (put.status !== 201) throw new Error(`blob ${b}: ${put.status} ${put.body}`);
  }
  for (const m of cfg.manifests) {
    const bytes = readFileSync(join(blobs, m.digest.slice(7)));
    const put = await call('PUT', `/v2/${cfg.repo}/manifests/${m.tag}`, bytes, { 'content-type': m.mediaType });
    if (put.status !== 201) throw new Error(`manifest ${m.tag}: ${put.status} ${put.body}`);
  }
  console.log('pushed');
} else {
  throw new Error(`unknown mode ${mode}`);
}
