import t from 'tap';
import { isInsecure } from '../src/image/registry/image-pull.js';
import { parsePullReference } from '../src/image/registry/reference.js';
import { parseChallenge } from '../src/image/registry/registry-client.js';

const D = `sha256:${'ab'.repeat(32)}`;

t.test('references: registry, repository, tag or digest, the stored name', async (t) => {
  t.same(parsePullReference('203.0.113.10:5000/vx/demo:1.0'), { registry: '203.0.113.10:5000', repository: 'vx/demo', ref: '1.0', name: '203.0.113.10:5000/vx/demo:1.0' });
  t.same(parsePullReference('registry.example/demo'), { registry: 'registry.example', repository: 'demo', ref: 'latest', name: 'registry.example/demo:latest' });
  t.same(parsePullReference(`localhost:5000/demo@${D}`), { registry: 'localhost:5000', repository: 'demo', ref: D, name: undefined });
  t.same(parsePullReference(`localhost/demo:2@${D}`), { registry: 'localhost', repository: 'demo', ref: D, name: 'localhost/demo:2' });
});

t.test('bad references say why', async (t) => {
  t.match(parsePullReference('demo:1.0'), /^names no registry: .*no default registry$/);
  t.match(parsePullReference('vx/demo'), /^names no registry/, 'a first component without . or : is no host');
  t.match(parsePullReference('r.example/Demo'), /not a valid image name/);
  t.match(parsePullReference('r.example/demo:-x'), /invalid tag/);
  t.match(parsePullReference('r.example/demo@sha256:12'), /invalid digest/);
  t.match(parsePullReference('r.exa mple:5000/demo'), /invalid registry host/);
});

t.test('a Bearer challenge\'s parameters, quoted or not', async (t) => {
  t.same(parseChallenge('realm="https://a:5001/token",service="reg",scope="repository:vx/demo:pull"'), { realm: 'https://a:5001/token', service: 'reg', scope: 'repository:vx/demo:pull' });
  t.same(parseChallenge('Realm=https://a/t, service=reg'), { realm: 'https://a/t', service: 'reg' });
});

t.test('plain HTTP only to loopback and the registries allowed insecure', async (t) => {
  const s = { insecure: ['10.0.0.1:5000'], caFile: null };
  t.ok(isInsecure('127.0.0.1:5000', s));
  t.ok(isInsecure('localhost:5000', s));
  t.ok(isInsecure('10.0.0.1:5000', s));
  t.notOk(isInsecure('10.0.0.1:5001', s), 'the port is part of the name');
  t.notOk(isInsecure('registry.example', s));
});
